"""Control arms: rewards that carry no (or only part of the) information about correctness (issue 15).

A curve that rises under RL means little until the same loop with an uninformative reward is shown not to rise as
well: "Spurious Rewards: Rethinking Training Signals in RLVR" (Shao et al. 2025) found random rewards lifting
Qwen2.5-Math on MATH-500 by clipping bias alone. Each control is a pure function
    rewards:   Tensor[N] float  the verifier's rewards
    accuracy:  Tensor[N] float  each rollout's accuracy part (0/1)
    generator: torch.Generator  seeded per step by the controller (reproducible, resumable)
returning the Tensor[N] float rewards the advantages are computed from. The metrics keep the true accuracy, so a
control run's accuracy curve is the one to compare with the real run's.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor


def none(rewards: Tensor, accuracy: Tensor, generator: torch.Generator) -> Tensor:
    """The real reward."""
    return rewards.clone()


def random(rewards: Tensor, accuracy: Tensor, generator: torch.Generator) -> Tensor:
    """A fair coin per rollout, independent of the completion (Shao et al. 2025's "random" reward with gamma = 0.5):
    the groups still have reward variance, so GRPO still takes steps of the real run's size."""
    return torch.bernoulli(torch.full_like(rewards, 0.5), generator=generator)


def format_only(rewards: Tensor, accuracy: Tensor, generator: torch.Generator) -> Tensor:
    """The reward without its accuracy part (the task's format and tag shaping only): does the format alone, which
    the default reward also pays, explain the accuracy the real run reaches?"""
    return rewards - accuracy


CONTROLS: dict[str, Callable[[Tensor, Tensor, torch.Generator], Tensor]] = {
    "none": none,
    "random": random,
    "format_only": format_only,
}
