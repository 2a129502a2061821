"""Group-relative advantage estimators.

Every estimator is a pure function ``fn(rewards, group_ids) -> advantages``:
    rewards:   Tensor[N] float  one scalar reward per completion
    group_ids: Tensor[N] long   completions sampled for the same prompt share a group id
    returns:   Tensor[N] float  one advantage per completion (the learner broadcasts it over tokens)

A group with a single member has no baseline to compare against and gets advantage 0.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from r1zero.algo.gae import outcome_rewards

EPS = 1e-6  # TRL / verl use 1e-4..1e-6; keeps an all-equal group at exactly 0 instead of nan.


def _group_stats(rewards: Tensor, group_ids: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per-element group sum, group count and group sum of squares, each Tensor[N]."""
    if rewards.shape != group_ids.shape or rewards.dim() != 1:
        raise ValueError(f"rewards {tuple(rewards.shape)} and group_ids {tuple(group_ids.shape)} must both be [N]")
    r = rewards.to(torch.float64)  # float64: sums of many rewards without cancellation error
    _, inverse = torch.unique(group_ids, return_inverse=True)
    n_groups = int(inverse.max()) + 1 if inverse.numel() else 0
    zeros = torch.zeros(n_groups, dtype=torch.float64)
    sums = zeros.index_add(0, inverse, r)
    counts = zeros.index_add(0, inverse, torch.ones_like(r))
    sq = zeros.index_add(0, inverse, r * r)
    return sums[inverse], counts[inverse], sq[inverse]


def dr_grpo(rewards: Tensor, group_ids: Tensor) -> Tensor:
    """Dr. GRPO (Liu et al. 2025, "Understanding R1-Zero-Like Training"): r - group mean, no std division."""
    sums, counts, _ = _group_stats(rewards, group_ids)
    adv = rewards.to(torch.float64) - sums / counts
    adv = torch.where(counts > 1, adv, torch.zeros_like(adv))
    return adv.to(rewards.dtype)


def grpo(rewards: Tensor, group_ids: Tensor) -> Tensor:
    """GRPO (Shao et al. 2024, DeepSeekMath): (r - group mean) / (group std + eps).

    std is the unbiased (Bessel-corrected) one, as torch.std in TRL and verl computes it.
    """
    sums, counts, sq = _group_stats(rewards, group_ids)
    r = rewards.to(torch.float64)
    mean = sums / counts
    denom = (counts - 1).clamp(min=1)
    var = ((sq - counts * mean * mean) / denom).clamp(min=0.0)
    adv = (r - mean) / (var.sqrt() + EPS)
    adv = torch.where(counts > 1, adv, torch.zeros_like(adv))
    return adv.to(rewards.dtype)


def rloo(rewards: Tensor, group_ids: Tensor) -> Tensor:
    """RLOO (Ahmadian et al. 2024): r - mean of the *other* members of the group (leave-one-out baseline)."""
    sums, counts, _ = _group_stats(rewards, group_ids)
    r = rewards.to(torch.float64)
    others = (sums - r) / (counts - 1).clamp(min=1)
    adv = torch.where(counts > 1, r - others, torch.zeros_like(r))
    return adv.to(rewards.dtype)


def reinforce_pp(rewards: Tensor, group_ids: Tensor) -> Tensor:
    """REINFORCE++-baseline (Hu et al. 2025, "REINFORCE++: Stabilizing Critic-Free Policy Optimization with Global
    Advantage Normalization", the form for R1-style outcome rewards, OpenRLHF's `reinforce_baseline`): subtract the
    group mean (r - mean of the prompt's group), then whiten by the *global* batch: (a - mean(a)) / (std(a) + eps)
    over all N rows of the step.

    Dividing by the batch std instead of each group's std (GRPO) keeps a group whose rewards barely differ from
    getting advantages as large as a decisive one's; the paper argues the per-prompt std biases the estimate.
    std is the population one over the rows (OpenRLHF whitens with a masked mean of squares, no Bessel correction;
    it weighs each token, this estimator sees one number per row). Groups of one are 0 after centering and stay 0
    (the global mean of group-centred values is 0); an all-zero batch stays 0.
    """
    sums, counts, _ = _group_stats(rewards, group_ids)
    centred = rewards.to(torch.float64) - sums / counts
    centred = centred - centred.mean() if centred.numel() else centred
    std = centred.pow(2).mean().sqrt() if centred.numel() else torch.zeros((), dtype=torch.float64)
    return (centred / (std + EPS)).to(rewards.dtype)


ADVANTAGES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "grpo": grpo,
    "dr_grpo": dr_grpo,
    "rloo": rloo,
    "reinforce_pp": reinforce_pp,
    "gae": outcome_rewards,  # PPO with a critic: the learner turns these outcome rewards into GAE (r1zero/critic.py)
}

# The loss aggregation an estimator's paper pairs it with, used when algo.agg is 'auto' (Dr. GRPO's unbiasedness
# needs its constant normaliser; the others default to DAPO's token mean).
DEFAULT_AGG: dict[str, str] = {"dr_grpo": "seq_sum_norm"}

# ---------------------------------------------------------------------------------------------------------------
# Completions cut off by the token cap (rollout.max_tokens), before the advantage. A cut-off completion has not
# finished its answer, yet a lenient verifier may still find a right number in it (`<think> 3 + 4 = 7 and then 7`
# earns full accuracy). The anchors treat it four ways; each is a pure function of
#     rewards:   Tensor[N] float  the verifier's rewards
#     lengths:   Tensor[N] long   completion tokens
#     truncated: Tensor[N] bool   finish_reason == "length"
# returning (rewards Tensor[N] float, in_loss Tensor[N] bool).


def keep(rewards: Tensor, lengths: Tensor, truncated: Tensor, **_: float) -> tuple[Tensor, Tensor]:
    """Scored as if finished (the behaviour before the audit)."""
    return rewards.clone(), torch.ones_like(truncated, dtype=torch.bool)


def zero(rewards: Tensor, lengths: Tensor, truncated: Tensor, **_: float) -> tuple[Tensor, Tensor]:
    """Reward 0 for a cut-off completion (Dr. GRPO / oat, Liu et al. 2025): an unfinished answer earns nothing."""
    return torch.where(truncated, torch.zeros_like(rewards), rewards), torch.ones_like(truncated, dtype=torch.bool)


def mask(rewards: Tensor, lengths: Tensor, truncated: Tensor, **_: float) -> tuple[Tensor, Tensor]:
    """Overlong filtering (DAPO, Yu et al. 2025, section 3.4): the cut-off completion keeps its reward for the group's
    baseline but is left out of the loss, so truncation is neither rewarded nor punished."""
    return rewards.clone(), ~truncated


def soft(rewards: Tensor, lengths: Tensor, truncated: Tensor, *, max_tokens: int, buffer: int,
         penalty: float = 1.0) -> tuple[Tensor, Tensor]:
    """DAPO's soft overlong punishment (eq. 13): 0 up to max_tokens - buffer, then a linear ramp to -penalty at
    max_tokens, added to the reward of every completion by its length (a truncated one sits at max_tokens)."""
    if not 0 < buffer <= max_tokens:
        raise ValueError(f"overlong buffer {buffer} must be in 1..max_tokens ({max_tokens})")
    free = max_tokens - buffer
    over = (lengths.to(rewards.dtype) - free).clamp(min=0) / buffer
    return rewards - penalty * over.clamp(max=1.0), torch.ones_like(truncated, dtype=torch.bool)


TRUNCATION: dict[str, Callable[..., tuple[Tensor, Tensor]]] = {"keep": keep, "zero": zero, "mask": mask, "soft": soft}
