"""PPO with a learned value function: GAE, the clipped value loss, advantage whitening. Pure functions.

The baseline R1-Zero's report argues against: DeepSeekMath / R1 use GRPO because "the value model ... is typically
another model of comparable size as the policy model" and "only the last token is assigned a reward score by the
reward model, which may complicate the training of a value function that is accurate at each token" (Shao et al.
2024, sec. 4.1). Here the critic is what PPO (Schulman et al. 2017) pairs with GAE (Schulman et al. 2016).

Shapes (the learner's layout: position t holds token t; the loss mask is 1 on the completion tokens):
    token_rewards, values, old_values, returns, mask: Tensor[B, T]
    values[:, t]: V(s_t), the value of the state *before* token t (tokens < t), on completion positions; 0 elsewhere.
    The outcome reward sits on the last completion token (outcome_token_rewards); after it the episode ends, so the
    value there is 0 (no bootstrap: a completion cut at max_tokens is scored, or zeroed, by reward.truncated).
"""

from __future__ import annotations

import torch
from torch import Tensor

from r1zero.algo.losses import Normaliser, aggregate

# Estimators whose advantages the learner computes with its critic, not the controller from group statistics:
# ADVANTAGES[name] for these returns the outcome rewards unchanged (they travel in TrainBatch.advantages).
CRITIC_ESTIMATORS = frozenset({"gae"})
# Returns whose variance is below this do not vary: with every reward equal, R_t = A_t + V_t still differs from R by
# float32 rounding (~1e-10), and 1 - Var(R - V) / Var(R) would be a ratio of rounding errors (seen: -2e14).
VAR_FLOOR = 1e-8


def outcome_rewards(rewards: Tensor, group_ids: Tensor) -> Tensor:
    """ADVANTAGES entry of 'gae': the shaped outcome rewards [N] themselves (group_ids unused: PPO's baseline is the
    learned V(s_t), not the group). The learner's critic turns them into per-token GAE advantages."""
    if rewards.dim() != 1:
        raise ValueError(f"rewards {tuple(rewards.shape)} must be [N]")
    return rewards.clone()


def outcome_token_rewards(rewards: Tensor, mask: Tensor) -> Tensor:
    """The outcome reward of each row [B] placed on its last completion token: Tensor[B, T], 0 elsewhere (a row
    with no completion token gets nothing)."""
    B, T = mask.shape
    m = mask.bool()
    last = (m.long() * torch.arange(1, T + 1, device=mask.device)).argmax(dim=1)  # [B] index of the last 1
    out = torch.zeros(B, T, dtype=torch.float32, device=mask.device)
    rows = m.any(dim=1)
    out[rows.nonzero()[:, 0], last[rows]] = rewards.to(out.dtype)[rows]
    return out


def gae(token_rewards: Tensor, values: Tensor, mask: Tensor, gamma: float, lam: float) -> tuple[Tensor, Tensor]:
    """Generalised advantage estimation (Schulman et al. 2016, eq. 16) over the completion tokens of each row.

    token_rewards, values, mask: Tensor[B, T]. Returns (advantages, returns), each Tensor[B, T], 0 off the mask:
        delta_t = r_t + gamma * V(s_next) - V(s_t),   A_t = delta_t + gamma * lam * A_next,   R_t = A_t + V(s_t)
    where "next" is the next position on the mask (positions off it are skipped, as in verl's
    compute_gae_advantage_return, so a mask with holes still chains) and V = A = 0 after the last one.
    gamma = lam = 1 with a single reward R on the last token gives A_t = R - V(s_t), R_t = R.
    """
    if not token_rewards.shape == values.shape == mask.shape or values.dim() != 2:
        raise ValueError(f"token_rewards {tuple(token_rewards.shape)}, values {tuple(values.shape)} and mask "
                         f"{tuple(mask.shape)} must all be [B, T]")
    m = mask.to(torch.float32)
    r = token_rewards.to(torch.float32) * m
    v = values.detach().to(torch.float32) * m
    B, T = m.shape
    next_value = torch.zeros(B, device=m.device)
    next_adv = torch.zeros(B, device=m.device)
    adv = torch.zeros(B, T, device=m.device)
    for t in reversed(range(T)):
        delta = r[:, t] + gamma * next_value - v[:, t]
        a_t = delta + gamma * lam * next_adv
        on = m[:, t]
        # off the mask: carry the following position's value and advantage through unchanged
        next_value = v[:, t] * on + next_value * (1 - on)
        next_adv = a_t * on + next_adv * (1 - on)
        adv[:, t] = a_t * on
    return adv, (adv + v) * m


def whiten(x: Tensor, eps: float = 1e-8) -> Tensor:
    """(x - mean) / sqrt(var + eps) over a flat Tensor[N] (the step's completion tokens), unbiased variance as in
    verl's masked_whiten and OpenAI's lm-human-preferences; fewer than 2 entries are only centred."""
    if x.dim() != 1:
        raise ValueError(f"whiten takes a flat [N] tensor, got {tuple(x.shape)}")
    if x.numel() < 2:
        return x - x.mean() if x.numel() else x
    return (x - x.mean()) * torch.rsqrt(x.var(unbiased=True) + eps)


def value_loss(values: Tensor, old_values: Tensor, returns: Tensor, mask: Tensor, *, clip: float,
               agg: str = "token_mean", norm: Normaliser | None = None) -> tuple[Tensor, dict[str, float]]:
    """PPO's clipped value loss (Schulman et al. 2017's baselines code; verl compute_value_loss):
        V_clip = V_old + clip(V - V_old, -clip, clip),   term = 0.5 * max((V - R)^2, (V_clip - R)^2)
    aggregated over the mask like the policy loss (r1zero.algo.losses.aggregate, step-wide `norm`).

    values (with grad), old_values (the critic's before the update, detached), returns, mask: Tensor[B, T].
    Returns (scalar loss, {"vf_clip_frac": fraction of valid tokens where the clipped branch is the max}).
    """
    if not values.shape == old_values.shape == returns.shape == mask.shape:
        raise ValueError(f"values {tuple(values.shape)}, old_values {tuple(old_values.shape)}, returns "
                         f"{tuple(returns.shape)} and mask {tuple(mask.shape)} must all be [B, T]")
    old, ret = old_values.detach(), returns.detach()
    clipped = old + torch.clamp(values - old, -clip, clip)
    unclipped_sq, clipped_sq = (values - ret) ** 2, (clipped - ret) ** 2
    per_token = 0.5 * torch.maximum(unclipped_sq, clipped_sq)
    loss = aggregate(per_token, mask, agg, norm=norm)
    with torch.no_grad():
        m = mask.to(per_token.dtype)
        frac = float(((clipped_sq > unclipped_sq).to(m.dtype) * m).sum() / m.sum().clamp(min=1.0))
    return loss, {"vf_clip_frac": frac}


def explained_variance(values: Tensor, returns: Tensor) -> float:
    """1 - Var(R - V) / Var(R) over flat Tensors[N] (the step's tokens): 1 is a perfect critic, 0 no better than a
    constant, negative worse; 0.0 when the returns do not vary (variance under VAR_FLOOR: nothing to explain, and a
    nan or a ratio of rounding errors would not survive the metrics' JSON lines)."""
    if returns.numel() < 2:
        return 0.0
    var_r = returns.var(unbiased=False)
    if float(var_r) < VAR_FLOOR:
        return 0.0
    return float(1.0 - (returns - values).var(unbiased=False) / var_r)
