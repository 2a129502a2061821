"""Policy-gradient losses: clipped surrogate with decoupled clip range, KL penalties.

Shapes:
    logprobs, old_logprobs, ref_logprobs, mask: Tensor[B, T] (one entry per completion token; mask is 1.0 on the
    tokens that count, 0.0 on prompt and padding)
    advantages: Tensor[B] (one per sequence, broadcast over its tokens)
"""

from __future__ import annotations

import torch
from torch import Tensor

AGG_MODES = ("token_mean", "seq_mean_token_mean", "seq_sum_norm")
KL_ESTIMATORS = ("k1", "k2", "k3")


def aggregate(values: Tensor, mask: Tensor, agg: str, max_tokens: int | None = None) -> Tensor:
    """Reduce a [B, T] per-token quantity to a scalar.

    token_mean:          sum over valid tokens / valid tokens in the batch (DAPO, Yu et al. 2025 - every token
                         weighs the same, so long answers are not down-weighted).
    seq_mean_token_mean: mean over sequences of each sequence's token mean (original GRPO).
    seq_sum_norm:        sum over valid tokens / (B * max_tokens) (Dr. GRPO: a constant normaliser removes the
                         length bias).
    """
    mask = mask.to(values.dtype)
    if agg == "token_mean":
        return (values * mask).sum() / mask.sum().clamp(min=1.0)
    if agg == "seq_mean_token_mean":
        per_seq = (values * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return per_seq.mean()
    if agg == "seq_sum_norm":
        if max_tokens is None or max_tokens <= 0:
            raise ValueError("agg='seq_sum_norm' needs max_tokens > 0 (the constant normaliser of Dr. GRPO)")
        return (values * mask).sum() / (values.shape[0] * max_tokens)
    raise ValueError(f"unknown agg {agg!r}; valid: {list(AGG_MODES)}")


def policy_loss(
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
) -> tuple[Tensor, dict[str, float]]:
    """PPO/GRPO clipped surrogate with decoupled clip range (DAPO's clip-higher when clip_high > clip_low).

    ratio = exp(logprobs - old_logprobs); term = -min(ratio * A, clip(ratio, 1 - clip_low, 1 + clip_high) * A).
    Returns (scalar loss, metrics) with metrics["clip_frac"] (fraction of valid tokens where the clipped branch is
    the one taken) and metrics["approx_kl"] (mean over valid tokens of k3(old || new), Schulman 2020).
    is_weights: optional detached Tensor[B, T] multiplying each token's term (truncated importance sampling when
    old_logprobs come from the learner but the tokens were sampled by vLLM; see truncated_is_weights).
    """
    if logprobs.shape != old_logprobs.shape or logprobs.shape != mask.shape:
        raise ValueError(
            f"logprobs {tuple(logprobs.shape)}, old_logprobs {tuple(old_logprobs.shape)} and mask "
            f"{tuple(mask.shape)} must all be [B, T]"
        )
    if advantages.shape != logprobs.shape[:1]:
        raise ValueError(f"advantages {tuple(advantages.shape)} must be [B] with B = {logprobs.shape[0]}")
    adv = advantages.to(logprobs.dtype).unsqueeze(1)  # [B, 1]
    log_ratio = logprobs - old_logprobs.detach()
    ratio = torch.exp(log_ratio)
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high) * adv
    per_token = -torch.minimum(unclipped, clipped)
    if is_weights is not None:
        per_token = per_token * is_weights.detach()
    loss = aggregate(per_token, mask, agg, max_tokens)
    with torch.no_grad():
        m = mask.to(logprobs.dtype)
        n = m.sum().clamp(min=1.0)
        clip_frac = ((clipped < unclipped).to(m.dtype) * m).sum() / n
        approx_kl = ((torch.exp(-log_ratio) + log_ratio - 1.0) * m).sum() / n
    return loss, {"clip_frac": float(clip_frac), "approx_kl": float(approx_kl)}


def kl_penalty(logprobs: Tensor, ref_logprobs: Tensor, estimator: str) -> Tensor:
    """Per-token KL(policy || reference) estimate, Tensor[B, T] (Schulman, "Approximating KL divergence", 2020).

    k1 = logp - ref; k2 = 0.5 (logp - ref)^2; k3 = exp(ref - logp) - (ref - logp) - 1 (unbiased, always >= 0;
    the estimator GRPO uses).
    """
    diff = logprobs - ref_logprobs
    if estimator == "k1":
        return diff
    if estimator == "k2":
        return 0.5 * diff * diff
    if estimator == "k3":
        return torch.exp(-diff) + diff - 1.0
    raise ValueError(f"unknown KL estimator {estimator!r}; valid: {list(KL_ESTIMATORS)}")


def truncated_is_weights(learner_logprobs: Tensor, rollout_logprobs: Tensor, cap: float) -> Tensor:
    """Truncated importance weights min(pi_learner / pi_rollout, cap), Tensor[B, T], detached.

    Corrects the mismatch between the sampler's (vLLM's) and the learner's probabilities of the same tokens
    (Yao et al. 2025, "Your efficient RL framework secretly brings you off-policy RL training").
    """
    return torch.exp(learner_logprobs.detach() - rollout_logprobs).clamp(max=cap)


def entropy_from_logits(logits: Tensor) -> Tensor:
    """Entropy of the softmax over the last dim: logits [..., V] -> [...]."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(dim=-1)


def micro_batch_weight(agg: str, micro_mask: Tensor, total_tokens: float, total_seqs: int) -> float:
    """Scale of one micro-batch's loss so that accumulated gradients equal those of the whole batch at once.

    token_mean averages over every valid token of the step, so a micro-batch weighs (its tokens / all tokens);
    the sequence-normalised modes weigh (its sequences / all sequences).
    """
    if agg == "token_mean":
        return float(micro_mask.sum()) / max(total_tokens, 1.0)
    if agg in ("seq_mean_token_mean", "seq_sum_norm"):
        return micro_mask.shape[0] / max(total_seqs, 1)
    raise ValueError(f"unknown agg {agg!r}; valid: {list(AGG_MODES)}")
