"""Every type that crosses a process boundary (controller <-> Ray actors <-> reward workers).

Plain dataclasses; tensor-valued fields carry their shape in a comment. Token ids and logprobs travel as Python
lists between actors (small, picklable, no shared-memory surprises); the learner turns them into tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass(frozen=True)
class Problem:
    """One verifiable question drawn from a task."""

    id: str  # unique within a run, e.g. "arithmetic/train/1234"
    task: str  # registry name of the task that made it (scores it, too)
    prompt: str  # the question text, before any template is applied
    answer: str  # gold answer as text; the task's verifier decides what matches it
    meta: dict[str, Any] = field(default_factory=dict)  # task-specific extras (reasoning-gym entry, test cases, ...)


@dataclass
class Rollout:
    """One sampled completion for one prompt."""

    problem_id: str  # Problem.id this completion answers
    group_id: int  # completions of the same prompt at the same step share it (GRPO group)
    prompt_ids: list[int]  # [P] prompt token ids as the sampler saw them
    completion_ids: list[int]  # [C] sampled token ids, C <= max_tokens
    text: str  # decoded completion
    logprobs: list[float]  # [C] sampler's logprob of each sampled token
    finish_reason: str  # "stop" (EOS / stop string) or "length" (hit max_tokens)
    policy_version: int  # weights version that sampled it (0 = initial weights)


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
    advantages: torch.Tensor  # [B] float: one advantage per sequence
    rollout_logprobs: torch.Tensor  # [B, T] float: sampler's logprob at each completion position, 0 elsewhere
    old_logprobs: torch.Tensor | None = None  # [B, T] float: learner's logprobs before the update, or None
    ref_logprobs: torch.Tensor | None = None  # [B, T] float: frozen reference's logprobs, or None (kl_coef = 0)

    @property
    def num_tokens(self) -> int:
        """Number of real (non-padding) tokens."""
        return int(self.attention_mask.sum())
