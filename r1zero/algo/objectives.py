"""Online preference objectives from verifier labels: DPO, IPO, KTO, ORPO, SimPO on the loop's own samples.

Each step samples a group of completions per prompt and the verifier scores them; instead of a policy gradient on
advantages, these objectives compare completions of the same prompt. Every objective is a pure function

    fn(policy_logp, ref_logp, lengths, rewards, group_ids, *, options) -> (loss scalar, metrics dict of floats)
        policy_logp: Tensor[N] float  sum of the completion tokens' logprobs under the policy (differentiable)
        ref_logp:    Tensor[N] float  the same under the frozen reference model, or None for objectives without one
        lengths:     Tensor[N] float  completion tokens of each row (ORPO and SimPO normalise by length)
        rewards:     Tensor[N] float  the verifier's (shaped) reward of each row
        group_ids:   Tensor[N] long   rows sampled for the same prompt share a group id

The paired objectives (DPO, IPO, ORPO, SimPO) form pairs inside each group with `form_pairs` (higher reward chosen,
lower reward rejected) and average over the step's pairs; KTO labels rows on their own (unpaired). A step with no
pair (every group's rewards equal) has loss 0 with a zero gradient. The learner turns the loss into an exact
gradient through r1zero.preference (docs/objectives.md).
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from r1zero.algo.advantages import EPS, _group_stats


def form_pairs(rewards: Tensor, group_ids: Tensor, pairs_per_group: int) -> tuple[Tensor, Tensor]:
    """(chosen[P], rejected[P]) long row indices: up to `pairs_per_group` disjoint pairs per group.

    Deterministic: a group's rows are ordered by reward, highest first (ties: lower row index first); pair k joins
    the k-th row from the top with the k-th from the bottom while the top one's reward is strictly higher. So the
    best meets the worst first, no row is in two pairs, and a group of equal rewards gives none. Groups are visited
    in order of their first row.
    """
    if rewards.shape != group_ids.shape or rewards.dim() != 1:
        raise ValueError(f"rewards {tuple(rewards.shape)} and group_ids {tuple(group_ids.shape)} must both be [N]")
    if pairs_per_group < 1:
        raise ValueError(f"pairs_per_group must be >= 1, got {pairs_per_group}")
    r = rewards.tolist()
    members: dict[int, list[int]] = {}
    for i, g in enumerate(group_ids.tolist()):
        members.setdefault(g, []).append(i)
    chosen, rejected = [], []
    for rows in members.values():
        order = sorted(rows, key=lambda i: (-r[i], i))
        for k in range(min(int(pairs_per_group), len(order) // 2)):
            hi, lo = order[k], order[-1 - k]
            if not r[hi] > r[lo]:
                break
            chosen.append(hi)
            rejected.append(lo)
    dev = rewards.device
    return torch.tensor(chosen, dtype=torch.long, device=dev), torch.tensor(rejected, dtype=torch.long, device=dev)


def _no_pairs(policy_logp: Tensor) -> tuple[Tensor, dict[str, float]]:
    """Loss 0 that still depends on policy_logp (so autograd gives an all-zero gradient instead of failing)."""
    return (policy_logp * 0.0).sum(), {"pairs": 0.0}


def _pair_metrics(policy_logp: Tensor, rewards: Tensor, c: Tensor, r: Tensor, margin: Tensor) -> dict[str, float]:
    """pairs; pref_acc: fraction of pairs the objective's own margin already ranks right; implicit_margin: its mean;
    logp_margin: mean chosen - rejected sequence logprob; reward_margin: mean verifier reward difference."""
    lp = policy_logp.detach()
    return {"pairs": float(c.numel()), "pref_acc": float((margin.detach() > 0).double().mean()),
            "implicit_margin": float(margin.detach().mean()), "logp_margin": float((lp[c] - lp[r]).mean()),
            "reward_margin": float((rewards[c] - rewards[r]).double().mean())}


def _need_ref(ref_logp: Tensor | None, name: str) -> Tensor:
    if ref_logp is None:
        raise ValueError(f"objective {name!r} needs the reference model's logprobs (ref_logp)")
    return ref_logp


def dpo(policy_logp: Tensor, ref_logp: Tensor | None, lengths: Tensor, rewards: Tensor, group_ids: Tensor, *,
        beta: float = 0.1, pairs_per_group: float = 4) -> tuple[Tensor, dict[str, float]]:
    """DPO (Rafailov et al. 2023, eq. 7): -log sigmoid(beta * [(pi_c - ref_c) - (pi_r - ref_r)]), mean over pairs."""
    ref = _need_ref(ref_logp, "dpo")
    c, r = form_pairs(rewards, group_ids, int(pairs_per_group))
    if not c.numel():
        return _no_pairs(policy_logp)
    margin = beta * ((policy_logp[c] - ref[c]) - (policy_logp[r] - ref[r]))
    return -F.logsigmoid(margin).mean(), _pair_metrics(policy_logp, rewards, c, r, margin)


def ipo(policy_logp: Tensor, ref_logp: Tensor | None, lengths: Tensor, rewards: Tensor, group_ids: Tensor, *,
        tau: float = 0.1, pairs_per_group: float = 4) -> tuple[Tensor, dict[str, float]]:
    """IPO (Azar et al. 2023, "A General Theoretical Paradigm to Understand Learning from Human Preferences"): (h - 1 / (2 tau))^2 with h = (pi_c - ref_c) - (pi_r - ref_r), mean over
    pairs. A squared loss toward a fixed margin: unlike DPO it does not push a deterministic preference to infinity.
    Sequence sums as in the paper (TRL's ipo averages per token instead)."""
    ref = _need_ref(ref_logp, "ipo")
    c, r = form_pairs(rewards, group_ids, int(pairs_per_group))
    if not c.numel():
        return _no_pairs(policy_logp)
    h = (policy_logp[c] - ref[c]) - (policy_logp[r] - ref[r])
    return (h - 1.0 / (2.0 * tau)).pow(2).mean(), _pair_metrics(policy_logp, rewards, c, r, h)


def kto_labels(rewards: Tensor, group_ids: Tensor) -> tuple[Tensor, Tensor]:
    """(desirable[N], undesirable[N]) bool: a row's reward above / below its group's mean (rows at the mean, all of
    an all-equal group and groups of one are neither). Relative to the prompt's group, like the advantage, so partial
    credit (a format reward) and prompts of different difficulty label the same way."""
    sums, counts, _ = _group_stats(rewards, group_ids)
    centred = rewards.to(torch.float64) - sums / counts
    return centred > EPS, centred < -EPS  # EPS: a float group mean of equal rewards is not exactly each reward


def kto(policy_logp: Tensor, ref_logp: Tensor | None, lengths: Tensor, rewards: Tensor, group_ids: Tensor, *,
        beta: float = 0.1, lambda_d: float = 1.0, lambda_u: float = 1.0) -> tuple[Tensor, dict[str, float]]:
    """KTO (Ethayarajh et al. 2024), unpaired: with the implicit reward rho = pi - ref and the reference
    point z0 = max(0, mean of rho over the step's rows), detached,
        v = lambda_d * sigmoid(beta * (rho - z0))  on desirable rows,  lambda_u * sigmoid(beta * (z0 - rho))  on
        undesirable rows (kto_labels);  loss = mean over labelled rows of (lambda_y - v).
    z0 estimates KL(pi || ref) and carries no gradient, as in the paper. The paper estimates it on mismatched
    (prompt, completion) pairs because its data are not sampled from pi; here every row is an on-policy sample, so
    the batch mean of rho is the plain Monte-Carlo estimate of that KL (clamped at 0 like the paper and TRL)."""
    ref = _need_ref(ref_logp, "kto")
    want, unwanted = kto_labels(rewards, group_ids)
    labelled = want | unwanted
    if not bool(labelled.any()):
        return _no_pairs(policy_logp)
    rho = policy_logp - ref
    z0 = rho.detach().mean().clamp(min=0.0)
    v = torch.where(want, lambda_d * torch.sigmoid(beta * (rho - z0)), lambda_u * torch.sigmoid(beta * (z0 - rho)))
    lam = torch.where(want, torch.full_like(rho, lambda_d), torch.full_like(rho, lambda_u))
    loss = (lam - v)[labelled].mean()
    right = torch.where(want, rho.detach() > z0, rho.detach() < z0)[labelled]
    implicit = beta * (rho.detach()[want].mean() - rho.detach()[unwanted].mean()) if want.any() and unwanted.any() \
        else torch.zeros(())
    return loss, {"desirable": float(want.sum()), "undesirable": float(unwanted.sum()), "kl_z0": float(z0),
                  "pref_acc": float(right.double().mean()), "implicit_margin": float(implicit)}


def _log1mexp(x: Tensor) -> Tensor:
    """log(1 - exp(x)) for x < 0, stable on both sides of -log 2 (Maechler 2012)."""
    x = x.clamp(max=-1e-6)  # a length-normalised logprob of exactly 0 would make the odds infinite
    return torch.where(x > -math.log(2.0), torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def orpo(policy_logp: Tensor, ref_logp: Tensor | None, lengths: Tensor, rewards: Tensor, group_ids: Tensor, *,
         lam: float = 0.1, pairs_per_group: float = 4) -> tuple[Tensor, dict[str, float]]:
    """ORPO (Hong et al. 2024), no reference model: with the length-normalised logprob
    a = pi / |y| and log odds(y) = a - log(1 - exp(a)),
        loss = mean over pairs of [ -a_c  +  lam * -log sigmoid(log odds(y_c) - log odds(y_r)) ]
    (the NLL of the chosen completion per token plus the odds-ratio term)."""
    c, r = form_pairs(rewards, group_ids, int(pairs_per_group))
    if not c.numel():
        return _no_pairs(policy_logp)
    avg = policy_logp / lengths.clamp(min=1)
    log_odds = avg - _log1mexp(avg)
    ratio = log_odds[c] - log_odds[r]
    nll = -avg[c]
    loss = (nll - lam * F.logsigmoid(ratio)).mean()
    return loss, {**_pair_metrics(policy_logp, rewards, c, r, ratio), "nll": float(nll.detach().mean())}


def simpo(policy_logp: Tensor, ref_logp: Tensor | None, lengths: Tensor, rewards: Tensor, group_ids: Tensor, *,
          beta: float = 2.0, gamma: float = 1.0, pairs_per_group: float = 4) -> tuple[Tensor, dict[str, float]]:
    """SimPO (Meng et al. 2024), no reference model:
        -log sigmoid(beta * pi_c / |y_c| - beta * pi_r / |y_r| - gamma), mean over pairs
    (defaults in the paper's range: beta 2 to 2.5, gamma / beta about 0.5)."""
    c, r = form_pairs(rewards, group_ids, int(pairs_per_group))
    if not c.numel():
        return _no_pairs(policy_logp)
    s = beta * policy_logp / lengths.clamp(min=1)
    margin = s[c] - s[r]
    return -F.logsigmoid(margin - gamma).mean(), _pair_metrics(policy_logp, rewards, c, r, margin)


@dataclass(frozen=True)
class Objective:
    """A registered objective and what it needs from the learner."""

    fn: Callable[..., tuple[Tensor, dict[str, float]]]
    needs_ref: bool  # the frozen reference model's sequence logprobs
    paired: bool  # forms pairs inside groups (form_pairs); False: labels rows on their own (KTO)


PREFERENCE_OBJECTIVES: dict[str, Objective] = {
    "dpo": Objective(dpo, needs_ref=True, paired=True),
    "ipo": Objective(ipo, needs_ref=True, paired=True),
    "kto": Objective(kto, needs_ref=True, paired=False),
    "orpo": Objective(orpo, needs_ref=False, paired=True),
    "simpo": Objective(simpo, needs_ref=False, paired=True),
}


def objective_options(name: str) -> dict[str, float]:
    """The options `algo.objective_args` may set for PREFERENCE_OBJECTIVES[name], with their defaults."""
    params = inspect.signature(PREFERENCE_OBJECTIVES[name].fn).parameters.values()
    return {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY}
