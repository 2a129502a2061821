"""Rollout corrections: per-token weights for the mismatch between the sampler (vLLM) and the learner.

The sampler and the learner compute different probabilities for the same tokens (other kernels, other precision,
bf16 weights in vLLM): the rollouts are slightly off-policy even before any update (Yao et al. 2025, "Your efficient
RL framework secretly brings you off-policy RL training"). With algo.old_logprobs='learner' the learner's pre-update
logprobs are the old policy, and one of these weights multiplies each token's loss term.

Every mode is a pure function
    fn(old_logprobs, rollout_logprobs, mask, *, cap, low, high) -> Tensor[B, T], detached, 0 off the mask
with old_logprobs (learner, before this step's first update), rollout_logprobs (the sampler's) and mask all [B, T].
A weight of 0 takes the token out of the gradient (it still counts in the loss normaliser, like a clipped token).

One plain dict, ROLLOUT_CORRECTIONS; algo.rollout_correction's Literal derives from it.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from r1zero.algo.losses import MAX_LOG_RATIO, truncated_is_weights


def _log_ratio(old_logprobs: Tensor, rollout_logprobs: Tensor) -> Tensor:
    """log(pi_old / pi_rollout) per token, clamped so exp() stays finite."""
    return (old_logprobs.detach() - rollout_logprobs).clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO)


def no_correction(old_logprobs: Tensor, rollout_logprobs: Tensor, mask: Tensor, **_: float) -> Tensor:
    """Weight 1 on every valid token: the mismatch is ignored (what most trainers did before 2025)."""
    return mask.to(old_logprobs.dtype).clone()


def tis(old_logprobs: Tensor, rollout_logprobs: Tensor, mask: Tensor, *, cap: float, **_: float) -> Tensor:
    """Token-level truncated IS, min(pi_old / pi_rollout, cap) (Yao et al. 2025; the trainer's behaviour before the
    registry): every token stays in, its weight is bounded above."""
    return truncated_is_weights(old_logprobs, rollout_logprobs, cap) * mask.to(old_logprobs.dtype)


def icepop(old_logprobs: Tensor, rollout_logprobs: Tensor, mask: Tensor, *, low: float, high: float,
           **_: float) -> Tensor:
    """IcePop (inclusionAI, Ring-1T report 2025): masked IS. A token whose ratio pi_old / pi_rollout leaves
    [low, high] is dropped from the gradient; inside the band it keeps the ratio as its IS weight. Truncation would
    keep a badly mismatched token at weight `cap`; masking says such a token's gradient cannot be trusted at all."""
    ratio = torch.exp(_log_ratio(old_logprobs, rollout_logprobs))
    keep = (ratio >= low) & (ratio <= high) & mask.bool()
    return torch.where(keep, ratio, torch.zeros_like(ratio))


def seq_mask(old_logprobs: Tensor, rollout_logprobs: Tensor, mask: Tensor, *, low: float, high: float,
             **_: float) -> Tensor:
    """Sequence-level geometric-mean masking (verl's rollout rejection sampling at the 'geometric' level): a whole
    sequence is dropped when exp(mean over its valid tokens of log(pi_old / pi_rollout)) leaves [low, high]; the kept
    ones have weight 1. The mean is length-independent, so one band serves short and long answers; it moves far less
    than a single token's ratio, so its band should be much narrower than icepop's (docs/recipes.md)."""
    m = mask.to(old_logprobs.dtype)
    geo = torch.exp((_log_ratio(old_logprobs, rollout_logprobs) * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0))
    keep = ((geo >= low) & (geo <= high)).to(m.dtype)  # [B]
    return keep.unsqueeze(1) * m


ROLLOUT_CORRECTIONS: dict[str, Callable[..., Tensor]] = {
    "none": no_correction,
    "tis": tis,
    "icepop": icepop,
    "seq_mask": seq_mask,
}


def rollout_weights(mode: str, old_logprobs: Tensor, rollout_logprobs: Tensor, mask: Tensor, *, cap: float,
                    low: float, high: float) -> Tensor:
    """The ROLLOUT_CORRECTIONS[mode] weights, [B, T], detached."""
    fn = ROLLOUT_CORRECTIONS.get(mode)
    if fn is None:
        raise ValueError(f"unknown rollout correction {mode!r}; valid: {list(ROLLOUT_CORRECTIONS)}")
    with torch.no_grad():
        return fn(old_logprobs.detach(), rollout_logprobs, mask, cap=cap, low=low, high=high)


def mismatch_kl(old_logprobs: Tensor, rollout_logprobs: Tensor, mask: Tensor) -> float:
    """Mean over valid tokens of k3 for KL(pi_rollout || pi_old) from the sampled tokens (Schulman 2020): with
    r = pi_old / pi_rollout on tokens drawn by the sampler, (r - 1) - log r >= 0, 0 exactly when the two agree.
    How far the learner's distribution is from the one that sampled the batch, in nats/token."""
    with torch.no_grad():
        m = mask.to(old_logprobs.dtype)
        d = _log_ratio(old_logprobs, rollout_logprobs)
        return float(((torch.expm1(d) - d) * m).sum() / m.sum().clamp(min=1.0))
