"""Policy-gradient losses: clipped surrogate with decoupled clip range, aggregation modes, KL penalties.

Shapes:
    logprobs, old_logprobs, ref_logprobs, mask: Tensor[B, T] (one entry per completion token; mask is 1.0 on the
    tokens that count, 0.0 on prompt and padding)
    advantages: Tensor[B] (one per sequence, broadcast over its tokens) or Tensor[B, T] (one per token: GAE)

One plain dict per registry (AGGREGATIONS, KL_ESTIMATORS, POLICY_LOSSES); the config's Literals derive from them.
Every policy loss takes (logprobs, old_logprobs, advantages, mask, *, clip_low, clip_high, agg, max_tokens, is_weights,
norm, **its own options) and returns (scalar loss, metrics); its own options are keyword-only parameters with
defaults, which `algo.loss_args` may set (the config checks the names against the signature when it loads).
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
    adv, log_ratio = _prepare(logprobs, old_logprobs, advantages, mask)
    ratio = torch.exp(log_ratio)
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high) * adv
    per_token = _weighted(-torch.minimum(unclipped, clipped), is_weights)
    loss = aggregate(per_token, mask, agg, max_tokens, norm)
    return loss, _metrics(clipped < unclipped, log_ratio, mask)


def _prepare(logprobs: Tensor, old_logprobs: Tensor, advantages: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Shape checks; the advantages as [B, 1] (or [B, T]) and the clamped token log-ratio log(pi / pi_old), [B, T]."""
    if logprobs.shape != old_logprobs.shape or logprobs.shape != mask.shape:
        raise ValueError(
            f"logprobs {tuple(logprobs.shape)}, old_logprobs {tuple(old_logprobs.shape)} and mask "
            f"{tuple(mask.shape)} must all be [B, T]"
        )
    log_ratio = (logprobs - old_logprobs.detach()).clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO)
    return _token_advantages(advantages, logprobs), log_ratio


def _token_advantages(advantages: Tensor, logprobs: Tensor) -> Tensor:
    """Advantages [B] (one per sequence, GRPO-style) as [B, 1], or per-token [B, T] (PPO's GAE) as they are."""
    if advantages.shape == logprobs.shape:
        return advantages.to(logprobs.dtype)
    if advantages.shape != logprobs.shape[:1]:
        raise ValueError(f"advantages {tuple(advantages.shape)} must be [B] or [B, T] with [B, T] = "
                         f"{tuple(logprobs.shape)}")
    return advantages.to(logprobs.dtype).unsqueeze(1)  # [B, 1]


def _weighted(per_token: Tensor, is_weights: Tensor | None) -> Tensor:
    return per_token if is_weights is None else per_token * is_weights.detach()


def _metrics(clipped: Tensor, log_ratio: Tensor, mask: Tensor, **extra: Tensor) -> dict[str, float]:
    """clip_frac (fraction of valid tokens where `clipped`), approx_kl (k3 of KL(old || new), see ppo_clip) and
    the fraction of valid tokens of each `extra` [B, T] bool tensor."""
    with torch.no_grad():
        m = mask.to(log_ratio.dtype)
        n = m.sum().clamp(min=1.0)
        out = {"clip_frac": float((clipped.to(m.dtype) * m).sum() / n),
               "approx_kl": float(((torch.expm1(log_ratio) - log_ratio) * m).sum() / n)}
        for k, v in extra.items():
            out[k] = float((v.to(m.dtype) * m).sum() / n)
    return out


policy_loss = ppo_clip  # the name the tests and the docs use for the default surrogate


def gspo(
    logprobs: Tensor,
    old_logprobs: Tensor,
    advantages: Tensor,
    mask: Tensor,
    *,
    clip_low: float = 3e-4,
    clip_high: float = 4e-4,
    agg: str = "seq_mean_token_mean",
    max_tokens: int | None = None,
    is_weights: Tensor | None = None,
    norm: Normaliser | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """GSPO (Zheng et al. 2025, "Group Sequence Policy Optimization"): one importance ratio per *sequence*,
    s_i = exp(mean over its valid tokens of log(pi / pi_old)), clipped at the sequence level.

    Written in the paper's GSPO-token form (its eq. 13-14): every token carries the ratio sg[s_i] * pi / sg[pi], whose
    value is s_i and whose gradient is s_i * grad log pi of that token. With the sequence-mean aggregation the
    gradient is exactly GSPO's, (1/G) sum_i s_i A_i (1/|y_i|) sum_t grad log pi; a sequence whose s_i leaves
    [1 - clip_low, 1 + clip_high] on the side its advantage pushes has no gradient at all. The defaults are the
    paper's clip range (3e-4, 4e-4): a mean log-ratio moves far less than a token's, so PPO's 0.2 would never clip.
    """
    adv, log_ratio = _prepare(logprobs, old_logprobs, advantages, mask)
    m = mask.to(logprobs.dtype)
    seq_log_ratio = (log_ratio * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)  # [B]
    ratio = torch.exp(logprobs - logprobs.detach() + seq_log_ratio.detach().unsqueeze(1))  # value s_i everywhere
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high) * adv
    per_token = _weighted(-torch.minimum(unclipped, clipped), is_weights)
    loss = aggregate(per_token, mask, agg, max_tokens, norm)
    return loss, _metrics(clipped < unclipped, log_ratio, mask)


def cispo(
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
    """CISPO (MiniMax-M1, MiniMax 2025, eq. 4): term = -sg[clip(ratio, 1 - clip_low, 1 + clip_high)] * A * log pi.

    The importance weight is clipped and detached instead of the update: PPO's clip zeroes the gradient of a clipped
    token, which MiniMax found drops the rare, high-ratio "fork" tokens (However, Wait, ...) that reflection needs;
    here every token keeps a gradient, only its weight is bounded. At ratio 1 the gradient equals PPO's. MiniMax sets
    no lower bound in practice: clip_low >= 1 gives none (the weight is never negative). Token-level mean, as in the
    paper.
    """
    adv, log_ratio = _prepare(logprobs, old_logprobs, advantages, mask)
    ratio = torch.exp(log_ratio)
    low = max(1.0 - clip_low, 0.0)
    weight = torch.clamp(ratio, low, 1.0 + clip_high).detach()
    per_token = _weighted(-weight * adv * logprobs, is_weights)
    loss = aggregate(per_token, mask, agg, max_tokens, norm)
    return loss, _metrics((ratio < low) | (ratio > 1.0 + clip_high), log_ratio, mask)


def _covariance(logprobs: Tensor, advantages: Tensor, mask: Tensor) -> Tensor:
    """Per-token centred product (A - mean A)(log pi - mean log pi) over the valid tokens, [B, T] (Cui et al. 2025,
    eq. 10: the covariance that drives the change of entropy; the means are over this batch's valid tokens)."""
    m = mask.to(logprobs.dtype)
    n = m.sum().clamp(min=1.0)
    a = _token_advantages(advantages, logprobs).expand_as(logprobs)
    lp = logprobs.detach()
    return (a - (a * m).sum() / n) * (lp - (lp * m).sum() / n)


def clip_cov(
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
    clip_cov_ratio: float = 2e-4,
    clip_cov_lb: float = 1.0,
    clip_cov_ub: float = 5.0,
) -> tuple[Tensor, dict[str, float]]:
    """Clip-Cov (Cui et al. 2025, "The Entropy Mechanism of RL for Reasoning LMs", sec. 4.2): the PPO surrogate,
    with the gradient of a few high-covariance tokens cut.

    Entropy falls fastest through tokens where log pi and the advantage co-vary strongly (confident tokens being
    reinforced). Of the valid tokens the PPO clip has not already clipped, those with covariance in (lb, ub) are
    candidates; max(1, int(clip_cov_ratio * valid tokens)) of them, chosen at random (torch's global RNG, as verl and
    the paper's code), are detached. Defaults are the paper's (r = 2e-4, lb = 1, ub = 5); metric cov_frac is the
    fraction of valid tokens detached. Unlike the ratio clip, it acts in a single optimizer step per batch too.
    The covariance is over the tokens passed in (one micro-batch), as verl computes it.
    """
    adv, log_ratio = _prepare(logprobs, old_logprobs, advantages, mask)
    ratio = torch.exp(log_ratio)
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high) * adv
    valid = mask.bool()
    cov = _covariance(logprobs, advantages, mask)
    cand = (valid & ~(clipped < unclipped) & (cov > clip_cov_lb) & (cov < clip_cov_ub)).nonzero()
    detach = torch.zeros_like(valid)
    if len(cand):
        take = max(1, int(clip_cov_ratio * int(valid.sum())))
        pick = cand[torch.randperm(len(cand), device=cand.device)[:take]]
        detach[pick[:, 0], pick[:, 1]] = True
    per_token = -torch.minimum(unclipped, clipped) * (~detach).to(logprobs.dtype)
    loss = aggregate(_weighted(per_token, is_weights), mask, agg, max_tokens, norm)
    return loss, _metrics(clipped < unclipped, log_ratio, mask, cov_frac=detach)


def kl_cov(
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
    kl_cov_ratio: float = 2e-3,
    kl_cov_coef: float = 1.0,
) -> tuple[Tensor, dict[str, float]]:
    """KL-Cov (Cui et al. 2025, sec. 4.2, eq. 12): the unclipped surrogate -ratio * A, plus kl_cov_coef * |log ratio|
    on the top max(1, int(kl_cov_ratio * valid tokens)) tokens by covariance (see clip_cov): those tokens are held
    near the old policy instead of having their gradient cut. The clip range is not used (the paper's KL-Cov has no
    ratio clip). Defaults: the paper's k = 2e-3 (its 7B setting) and beta = 1. The penalty is 0 at ratio 1, so it
    acts only with several optimizer steps per batch (algo.mini_batches > 1 or epochs > 1). Metric cov_frac: the
    fraction of valid tokens penalised.
    """
    adv, log_ratio = _prepare(logprobs, old_logprobs, advantages, mask)
    per_token = -torch.exp(log_ratio) * adv
    valid = mask.bool()
    penalised = torch.zeros_like(valid)
    n_valid = int(valid.sum())
    if n_valid:
        cov = _covariance(logprobs, advantages, mask)[valid]
        top = torch.topk(cov, min(n_valid, max(1, int(kl_cov_ratio * n_valid)))).indices
        rows, cols = valid.nonzero(as_tuple=True)
        penalised[rows[top], cols[top]] = True
    per_token = per_token + kl_cov_coef * log_ratio.abs() * penalised.to(per_token.dtype)
    loss = aggregate(_weighted(per_token, is_weights), mask, agg, max_tokens, norm)
    return loss, _metrics(torch.zeros_like(valid), log_ratio, mask, cov_frac=penalised)


POLICY_LOSSES: dict[str, Callable[..., tuple[Tensor, dict[str, float]]]] = {
    "ppo_clip": ppo_clip,
    "gspo": gspo,
    "cispo": cispo,
    "clip_cov": clip_cov,
    "kl_cov": kl_cov,
}

# The aggregation a loss's paper defines it with, used when algo.agg is 'auto' (before the estimator's own): GSPO's
# objective is a mean over sequences of sequence-level terms.
LOSS_DEFAULT_AGG: dict[str, str] = {"gspo": "seq_mean_token_mean"}
# Parameters every policy loss takes from the learner; the rest of a loss's keyword-only parameters are its options.
COMMON_LOSS_ARGS = frozenset({"clip_low", "clip_high", "agg", "max_tokens", "is_weights", "norm"})


def loss_options(name: str) -> dict[str, float]:
    """The options `algo.loss_args` may set for POLICY_LOSSES[name], with their defaults."""
    import inspect

    params = inspect.signature(POLICY_LOSSES[name]).parameters.values()
    return {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY and p.name not in COMMON_LOSS_ARGS}


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
