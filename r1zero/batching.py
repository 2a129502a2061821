"""Scored rollouts + advantages -> mini-batches (one per optimizer step) of right-padded micro-batches."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from r1zero.types import MiniBatch, ScoredRollout, TrainBatch

Row = tuple[ScoredRollout, float, float, int]  # (scored rollout, advantage, shaped reward, index in the step's list)


def _pack(rows: Sequence[Row], pad_id: int) -> TrainBatch:
    """Right-pad one group of rows into a TrainBatch.

    Position t holds token t; its logprob (under any model) is that of producing token t from tokens < t, so
    loss_mask and the logprob tensors are aligned with input_ids and position 0 never counts.
    """
    lengths = [len(s.rollout.prompt_ids) + len(s.rollout.completion_ids) for s, *_ in rows]
    T = max(lengths)
    B = len(rows)
    input_ids = torch.full((B, T), pad_id, dtype=torch.long)
    attention = torch.zeros((B, T), dtype=torch.long)
    loss_mask = torch.zeros((B, T), dtype=torch.float32)
    rollout_lp = torch.zeros((B, T), dtype=torch.float32)
    for i, (s, *_) in enumerate(rows):
        p, c = s.rollout.prompt_ids, s.rollout.completion_ids
        if len(s.rollout.logprobs) != len(c):
            raise ValueError(
                f"rollout for {s.rollout.problem_id}: {len(s.rollout.logprobs)} logprobs for {len(c)} tokens"
            )
        n = len(p) + len(c)
        input_ids[i, :n] = torch.tensor(list(p) + list(c), dtype=torch.long)
        attention[i, :n] = 1
        loss_mask[i, len(p) : n] = 1.0
        rollout_lp[i, len(p) : n] = torch.tensor(s.rollout.logprobs, dtype=torch.float32)
    advantages = torch.tensor([a for _, a, _, _ in rows], dtype=torch.float32)
    return TrainBatch(input_ids, attention, loss_mask, advantages, rollout_lp,
                      rewards=torch.tensor([r for _, _, r, _ in rows], dtype=torch.float32),
                      group_ids=torch.tensor([s.rollout.group_id for s, *_ in rows], dtype=torch.long),
                      row_index=torch.tensor([i for *_, i in rows], dtype=torch.long))


def _length(row: Row) -> int:
    return len(row[0].rollout.prompt_ids) + len(row[0].rollout.completion_ids)


def _micro_batches(rows: list[Row], pad_id: int, budget: int) -> list[TrainBatch]:
    """Rows sorted by length (similar lengths share a micro-batch: less padding), cut where B * T would pass the
    budget; a single sequence longer than the budget still gets a micro-batch of its own."""
    batches: list[TrainBatch] = []
    current: list[Row] = []
    longest = 0
    for row in sorted(rows, key=_length):
        n = _length(row)
        if current and max(longest, n) * (len(current) + 1) > budget:
            batches.append(_pack(current, pad_id))
            current, longest = [], 0
        current.append(row)
        longest = max(longest, n)
    if current:
        batches.append(_pack(current, pad_id))
    return batches


def to_mini_batches(
    scored: Sequence[ScoredRollout],
    advantages: Sequence[float] | torch.Tensor,
    *,
    pad_id: int,
    max_tokens_per_micro_batch: int,
    mini_batches: int = 1,
    drop_zero_advantage: bool = False,
    in_loss: Sequence[bool] | None = None,
    rewards: Sequence[float] | torch.Tensor | None = None,
) -> list[MiniBatch]:
    """The step's rows split into `mini_batches` contiguous optimizer steps (whole prompt groups stay together as
    long as the group count divides evenly), each packed into micro-batches.

    in_loss: [N] False for rows kept out of the loss altogether (e.g. truncated completions under DAPO's overlong
    filtering): they neither run nor count. rewards: [N] the rewards the advantages came from (after reward shaping;
    default each rollout's .reward), carried per row for sequence-level objectives. drop_zero_advantage: rows whose advantage is exactly 0 do not run (their
    policy gradient is exactly 0) but still count in their mini-batch's normaliser, so the gradient is unchanged.
    """
    adv = [float(a) for a in (advantages.tolist() if isinstance(advantages, torch.Tensor) else advantages)]
    if len(adv) != len(scored):
        raise ValueError(f"{len(scored)} scored rollouts but {len(adv)} advantages")
    if max_tokens_per_micro_batch <= 0:
        raise ValueError("max_tokens_per_micro_batch must be > 0")
    rew = [s.reward for s in scored] if rewards is None else [float(r) for r in (
        rewards.tolist() if isinstance(rewards, torch.Tensor) else rewards)]
    if len(rew) != len(scored):
        raise ValueError(f"{len(scored)} scored rollouts but {len(rew)} rewards")
    keep = [True] * len(adv) if in_loss is None else [bool(x) for x in in_loss]
    rows = [(s, a, r, i) for i, (s, a, r, k) in enumerate(zip(scored, adv, rew, keep)) if k]
    if not 1 <= mini_batches <= max(len(rows), 1):
        raise ValueError(f"mini_batches={mini_batches} needs 1 <= mini_batches <= {len(rows)} rows in the loss")
    out = []
    q, r = divmod(len(rows), mini_batches)
    start = 0
    for j in range(mini_batches):
        part = rows[start : start + q + (1 if j < r else 0)]
        start += len(part)
        run = [row for row in part if not (drop_zero_advantage and row[1] == 0.0)]
        out.append(MiniBatch(_micro_batches(run, pad_id, max_tokens_per_micro_batch) if run else [],
                             float(sum(len(s.rollout.completion_ids) for s, *_ in part)), len(part),
                             len(part) - len(run)))
    return out


def to_train_batches(
    scored: Sequence[ScoredRollout],
    advantages: Sequence[float] | torch.Tensor,
    *,
    pad_id: int,
    max_tokens_per_micro_batch: int,
) -> list[TrainBatch]:
    """All rows as micro-batches of one optimizer step (tests, benchmarks)."""
    return to_mini_batches(scored, advantages, pad_id=pad_id,
                           max_tokens_per_micro_batch=max_tokens_per_micro_batch)[0].micro_batches
