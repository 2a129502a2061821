"""Policy-gradient losses: clipped surrogate with decoupled clip range, aggregation modes, KL penalties.

Shapes:
    logprobs, old_logprobs, ref_logprobs, mask: Tensor[B, T] (one entry per completion token; mask is 1.0 on the
    tokens that count, 0.0 on prompt and padding)
    advantages: Tensor[B] (one per sequence, broadcast over its tokens)

One plain dict per registry (AGGREGATIONS, KL_ESTIMATORS, POLICY_LOSSES); the config's Literals derive from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

# exp() of a log-ratio above this overflows float32 or dominates a batch; verl and oat clamp the exponent too.
MAX_LOG_RATIO = 20.0


@dataclass(frozen=True)
class Normaliser:
    """The counts a loss is divided by, taken over every row of one optimizer step.

    Passing the step-wide counts to every micro-batch makes accumulation exact, and makes skipping rows whose
    advantage is 0 an optimisation only: a skipped row still counts here (audit item: dividing by the kept rows
    rescaled the gradient by N_all / N_kept).
    """

    tokens: float  # loss-mask tokens of the step's rows
    seqs: int  # rows of the step
    max_tokens: int | None = None  # completion token cap: Dr. GRPO's constant normaliser

    @staticmethod
    def of(mask: Tensor, max_tokens: int | None = None) -> "Normaliser":
        """The counts of one [B, T] mask on its own (a whole batch at once)."""
        return Normaliser(float(mask.sum()), int(mask.shape[0]), max_tokens)


def token_mean(values: Tensor, mask: Tensor, norm: Normaliser) -> Tensor:
    """Sum over valid tokens / valid tokens of the step (DAPO, Yu et al. 2025: every token weighs the same, so long
    answers are not down-weighted)."""
    return (values * mask).sum() / max(norm.tokens, 1.0)


def seq_mean_token_mean(values: Tensor, mask: Tensor, norm: Normaliser) -> Tensor:
    """Mean over the step's sequences of each sequence's token mean (original GRPO, Shao et al. 2024)."""
    per_seq = (values * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
    return per_seq.sum() / max(norm.seqs, 1)


def seq_sum_norm(values: Tensor, mask: Tensor, norm: Normaliser) -> Tensor:
    """Sum over valid tokens / (sequences * max_tokens) (Dr. GRPO, Liu et al. 2025: a constant normaliser removes
    the length bias)."""
    if norm.max_tokens is None or norm.max_tokens <= 0:
        raise ValueError("agg='seq_sum_norm' needs max_tokens > 0 (the constant normaliser of Dr. GRPO)")
    return (values * mask).sum() / (max(norm.seqs, 1) * norm.max_tokens)


AGGREGATIONS: dict[str, Callable[[Tensor, Tensor, Normaliser], Tensor]] = {
    "token_mean": token_mean,
    "seq_mean_token_mean": seq_mean_token_mean,
    "seq_sum_norm": seq_sum_norm,
}


def aggregate(values: Tensor, mask: Tensor, agg: str, max_tokens: int | None = None,
              norm: Normaliser | None = None) -> Tensor:
    """Reduce a [B, T] per-token quantity to a scalar with an AGGREGATIONS mode; `norm` defaults to the batch's own
    counts (pass the step-wide ones when the batch is one micro-batch of a larger step)."""
    fn = AGGREGATIONS.get(agg)
    if fn is None:
        raise ValueError(f"unknown agg {agg!r}; valid: {list(AGGREGATIONS)}")
    mask = mask.to(values.dtype)
    return fn(values, mask, norm if norm is not None else Normaliser.of(mask, max_tokens))


def ppo_clip(
    logprobs: Tensor,
    old_logprobs: Tensor,
    advantages: Tensor,
    mask: Tensor,
    *,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
    agg: str = "token_mean",
    max_tokens: int | None = None,
    is_weights: Tensor | None = None,
    norm: Normaliser | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """PPO/GRPO clipped surrogate with decoupled clip range (DAPO's clip-higher when clip_high > clip_low).

    ratio = exp(logprobs - old_logprobs); term = -min(ratio * A, clip(ratio, 1 - clip_low, 1 + clip_high) * A).
    Returns (scalar loss, metrics): metrics["clip_frac"] is the fraction of valid tokens where the clipped branch is
    taken, metrics["approx_kl"] the mean over valid tokens of k3 for KL(old || new) with tokens sampled from old:
    (r - 1) - log r, r = new / old (Schulman 2020).
    is_weights: optional detached Tensor[B, T] multiplying each token's term (truncated importance sampling of the
    sampler/learner mismatch; see truncated_is_weights). norm: step-wide counts (see Normaliser).
    """
    if logprobs.shape != old_logprobs.shape or logprobs.shape != mask.shape:
        raise ValueError(
            f"logprobs {tuple(logprobs.shape)}, old_logprobs {tuple(old_logprobs.shape)} and mask "
            f"{tuple(mask.shape)} must all be [B, T]"
        )
    if advantages.shape != logprobs.shape[:1]:
        raise ValueError(f"advantages {tuple(advantages.shape)} must be [B] with B = {logprobs.shape[0]}")
    adv = advantages.to(logprobs.dtype).unsqueeze(1)  # [B, 1]
    log_ratio = (logprobs - old_logprobs.detach()).clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO)
    ratio = torch.exp(log_ratio)
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high) * adv
    per_token = -torch.minimum(unclipped, clipped)
    if is_weights is not None:
        per_token = per_token * is_weights.detach()
    loss = aggregate(per_token, mask, agg, max_tokens, norm)
    with torch.no_grad():
        m = mask.to(logprobs.dtype)
        n = m.sum().clamp(min=1.0)
        clip_frac = ((clipped < unclipped).to(m.dtype) * m).sum() / n
        approx_kl = ((torch.expm1(log_ratio) - log_ratio) * m).sum() / n
    return loss, {"clip_frac": float(clip_frac), "approx_kl": float(approx_kl)}


policy_loss = ppo_clip  # the name the tests and the docs use for the default surrogate

POLICY_LOSSES: dict[str, Callable[..., tuple[Tensor, dict[str, float]]]] = {
    "ppo_clip": ppo_clip,
}


def _k1(diff: Tensor) -> Tensor:
    return diff


def _k2(diff: Tensor) -> Tensor:
    return 0.5 * diff * diff


def _k3(diff: Tensor) -> Tensor:
    d = diff.clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO)
    return torch.expm1(-d) + d


# Per-token estimators of KL(policy || reference) from tokens sampled by the policy (Schulman, "Approximating KL
# divergence", 2020), diff = logp - ref:
#   k1 = diff                 unbiased value; as a *loss* its expected gradient is 0 (E_pi[grad log pi] = 0), so it
#                             pulls nothing toward the reference: the config refuses it as a penalty.
#   k2 = diff^2 / 2           biased value; its gradient is exactly grad KL(pi || ref) in expectation.
#   k3 = exp(-diff) + diff - 1  unbiased, always >= 0 value (GRPO's choice); its expected gradient is that of
#                             KL(ref || pi), the *forward* KL, not of the KL it estimates.
# The exponent is clamped (as verl and oat do) so a token far from the reference cannot overflow.
KL_ESTIMATORS: dict[str, Callable[[Tensor], Tensor]] = {"k1": _k1, "k2": _k2, "k3": _k3}


def kl_penalty(logprobs: Tensor, ref_logprobs: Tensor, estimator: str) -> Tensor:
    """Per-token KL estimate Tensor[B, T] with a KL_ESTIMATORS entry (see the table above)."""
    fn = KL_ESTIMATORS.get(estimator)
    if fn is None:
        raise ValueError(f"unknown KL estimator {estimator!r}; valid: {list(KL_ESTIMATORS)}")
    return fn(logprobs - ref_logprobs)


def truncated_is_weights(old_logprobs: Tensor, rollout_logprobs: Tensor, cap: float) -> Tensor:
    """Truncated importance weights min(pi_old / pi_rollout, cap), Tensor[B, T], detached.

    Corrects the mismatch between the sampler's (vLLM's) and the learner's probabilities of the same tokens
    (Yao et al. 2025, "Your efficient RL framework secretly brings you off-policy RL training"). pi_old is the
    learner's policy *before* this step's first update: with several optimizer steps per batch the current policy
    would fold the update itself into the weight (verl PR #2953: exp(old_log_prob - rollout_log_probs)).
    """
    log_w = (old_logprobs.detach() - rollout_logprobs).clamp(max=MAX_LOG_RATIO)
    return torch.exp(log_w).clamp(max=cap)


def entropy_from_logits(logits: Tensor) -> Tensor:
    """Entropy of the softmax over the last dim: logits [..., V] -> [...]."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(dim=-1)
