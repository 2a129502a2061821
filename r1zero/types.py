"""Every type that crosses a process boundary (controller <-> Ray actors <-> reward workers).

Plain dataclasses; tensor-valued fields carry their shape in a comment. Token ids and logprobs travel as Python
lists between actors (small, picklable, no shared-memory surprises); the learner turns them into tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from tasks.base import Problem  # noqa: F401 - defined with the tasks (the scoring processes import no trainer code)


@dataclass
class SamplingSpec:
    """What to sample; crosses the controller -> rollout worker boundary."""

    n: int  # completions per prompt
    temperature: float
    top_p: float
    max_tokens: int
    stop: list[str] = field(default_factory=list)
    seed: int = 0  # the worker reseeds its sampler from this before each call: a step's samples are reproducible
    prefill: str = ""  # what the rendered prompt prefilled into the assistant's turn; copied into every Rollout


@dataclass
class Rollout:
    """One sampled completion for one prompt."""

    problem_id: str  # Problem.id this completion answers
    group_id: int  # completions of the same prompt at the same step share it (GRPO group)
    prompt_ids: list[int]  # [P] prompt token ids as the sampler saw them
    completion_ids: list[int]  # [C] sampled token ids, C <= max_tokens
    text: str  # decoded completion (what the model sampled)
    logprobs: list[float]  # [C] sampler's logprob of each sampled token
    finish_reason: str  # "stop" (EOS / stop string) or "length" (hit max_tokens)
    policy_version: int  # weights version that sampled it (0 = initial weights)
    prefill: str = ""  # text the prompt put in the assistant's turn before the sampled tokens (e.g. "<think>")

    @property
    def response(self) -> str:
        """The full assistant response: what rewards score, traces store and eval votes on."""
        return self.prefill + self.text


@dataclass
class ScoredRollout:
    """A rollout with its verifiable reward."""

    rollout: Rollout
    reward: float  # scalar reward used for the advantage
    parts: dict[str, float]  # reward components, e.g. {"accuracy": 1.0, "format": 0.5}
    reason: str  # why: "correct", "wrong", "no_answer", "timeout", ...
    task: str = ""  # task name, for per-task metrics and traces


@dataclass
class TrainBatch:
    """One micro-batch for the learner, right-padded to its longest sequence T."""

    input_ids: torch.Tensor  # [B, T] long: prompt + completion tokens, right-padded with pad_id
    attention_mask: torch.Tensor  # [B, T] long: 1 on real tokens, 0 on padding
    loss_mask: torch.Tensor  # [B, T] float: 1 on completion tokens only (the ones being trained)
    advantages: torch.Tensor  # [B] float: one advantage per sequence (algo.estimator=gae: the outcome reward)
    rollout_logprobs: torch.Tensor  # [B, T] float: sampler's logprob at each completion position, 0 elsewhere
    old_logprobs: torch.Tensor | None = None  # [B, T] float: learner's logprobs before the update, or None
    ref_logprobs: torch.Tensor | None = None  # [B, T] float: frozen reference's logprobs, or None (kl_coef = 0)
    # PPO's critic (algo.estimator=gae), filled by the learner before the update (r1zero/critic.py); None otherwise:
    old_values: torch.Tensor | None = None  # [B, T] float: V(s_t) before the update on completion positions, else 0
    token_advantages: torch.Tensor | None = None  # [B, T] float: GAE advantages (whitened), 0 off the loss mask
    returns: torch.Tensor | None = None  # [B, T] float: GAE returns A_t + V(s_t), the value targets, 0 off the mask
    rewards: torch.Tensor | None = None  # [B] float: each row's (shaped) reward, for sequence-level objectives
    group_ids: torch.Tensor | None = None  # [B] long: each row's prompt group (rollout.group_id) within the step
    row_index: torch.Tensor | None = None  # [B] long: each row's position in the step's scored list (micro-batches
    #                                        sort rows by length; this maps results such as a critic's advantages back)
    pref_coef: torch.Tensor | None = None  # [B] float: dLoss/d(sequence logprob) of a preference objective, filled
    #                                        by the learner (r1zero.preference), or None (policy gradient)

    @property
    def num_tokens(self) -> int:
        """Number of real (non-padding) tokens."""
        return int(self.attention_mask.sum())


@dataclass
class MiniBatch:
    """The rows of one optimizer step, packed into micro-batches whose gradients accumulate."""

    micro_batches: list[TrainBatch]  # rows that run forward/backward, under the micro-batch token budget
    tokens: float  # loss-mask tokens of every row of this optimizer step (rows skipped for advantage 0 included)
    seqs: int  # rows of this optimizer step that enter the loss (skipped rows included)
    skipped: int = 0  # rows not run because their advantage is 0 (their gradient is exactly 0)
