"""Scored rollouts + advantages -> right-padded TrainBatch micro-batches under a token budget."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from r1zero.types import ScoredRollout, TrainBatch


def _pack(rows: Sequence[tuple[ScoredRollout, float]], pad_id: int) -> TrainBatch:
    """Right-pad one group of rows into a TrainBatch.

    Position t holds token t; its logprob (under any model) is that of producing token t from tokens < t, so
    loss_mask and the logprob tensors are aligned with input_ids and position 0 never counts.
    """
    lengths = [len(s.rollout.prompt_ids) + len(s.rollout.completion_ids) for s, _ in rows]
    T = max(lengths)
    B = len(rows)
    input_ids = torch.full((B, T), pad_id, dtype=torch.long)
    attention = torch.zeros((B, T), dtype=torch.long)
    loss_mask = torch.zeros((B, T), dtype=torch.float32)
    rollout_lp = torch.zeros((B, T), dtype=torch.float32)
    for i, (s, _) in enumerate(rows):
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
    advantages = torch.tensor([a for _, a in rows], dtype=torch.float32)
    return TrainBatch(input_ids, attention, loss_mask, advantages, rollout_lp)


def to_train_batches(
    scored: Sequence[ScoredRollout],
    advantages: Sequence[float] | torch.Tensor,
    *,
    pad_id: int,
    max_tokens_per_micro_batch: int,
    drop_zero_advantage: bool = False,
) -> list[TrainBatch]:
    """Split the step's rollouts into micro-batches whose padded size B * T stays within the token budget.

    Rows are sorted by length first so that similar lengths share a micro-batch (less padding, fewer FLOPs).
    drop_zero_advantage: rows whose advantage is exactly 0 contribute no policy gradient (only KL, when on);
    dropping them saves the forward/backward, but changes the token_mean denominator, so it is opt-in.
    A single sequence longer than the budget still gets a micro-batch of its own.
    """
    adv = [float(a) for a in (advantages.tolist() if isinstance(advantages, torch.Tensor) else advantages)]
    if len(adv) != len(scored):
        raise ValueError(f"{len(scored)} scored rollouts but {len(adv)} advantages")
    if max_tokens_per_micro_batch <= 0:
        raise ValueError("max_tokens_per_micro_batch must be > 0")
    rows = [(s, a) for s, a in zip(scored, adv) if not (drop_zero_advantage and a == 0.0)]
    rows.sort(key=lambda r: len(r[0].rollout.prompt_ids) + len(r[0].rollout.completion_ids))
    batches: list[TrainBatch] = []
    current: list[tuple[ScoredRollout, float]] = []
    longest = 0
    for row in rows:
        n = len(row[0].rollout.prompt_ids) + len(row[0].rollout.completion_ids)
        if current and max(longest, n) * (len(current) + 1) > max_tokens_per_micro_batch:
            batches.append(_pack(current, pad_id))
            current, longest = [], 0
        current.append(row)
        longest = max(longest, n)
    if current:
        batches.append(_pack(current, pad_id))
    return batches
