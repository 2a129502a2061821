"""The exact gradient of a sequence-level objective (r1zero.algo.objectives) inside the token-level learner.

A preference loss L(s_1..s_N) depends on the weights only through each row's sequence logprob s_i = sum_t log
pi(y_t | ...). So grad L = sum_i c_i grad s_i with c_i = dL/ds_i. The learner records the s_i (and the reference's)
with no grad before the update (Learner._prepare), `prepare` below gets every c_i by autograd on the pure loss over
those N numbers, and each micro-batch then backpropagates the surrogate sum_i c_i s_i(theta) (`surrogate`): its
gradient is exactly grad L, micro-batch by micro-batch, with one extra no-grad forward and no graph kept across
micro-batches. It is exact only at the weights the s_i were taken at, hence algo.epochs = algo.mini_batches = 1
(checked when the config loads).
"""

from __future__ import annotations

from dataclasses import fields

import torch

from r1zero.algo.objectives import PREFERENCE_OBJECTIVES
from r1zero.types import MiniBatch, TrainBatch

POLICY_GRADIENT = "policy_gradient"  # algo.objective of the advantage-weighted policy losses (r1zero.algo.losses)


def needs_reference(objective: str) -> bool:
    """Whether algo.objective needs the frozen reference model (besides a KL penalty)."""
    return objective != POLICY_GRADIENT and PREFERENCE_OBJECTIVES[objective].needs_ref


def _seq(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[B, T] per-token values -> [B] sums over the completion tokens."""
    return (values * mask).sum(dim=1)


def prepare(objective: str, options: dict[str, float], minis: list[MiniBatch], *,
            drop_zero: bool) -> dict[str, float]:
    """Set each micro-batch's pref_coef [B] to dL/ds over the step's rows and return the objective's metrics.

    Reads, per row, old_logprobs (the policy before the update), ref_logprobs (objectives that need them), loss_mask,
    rewards and group_ids. drop_zero: rows whose coefficient is exactly 0 (unpaired, unlabelled) leave their
    micro-batch (counted in MiniBatch.skipped): their surrogate gradient is exactly 0. The learner passes it only
    when nothing else (a KL term) needs them.
    """
    batches = [b for mb in minis for b in mb.micro_batches]
    if not batches:
        return {}
    obj = PREFERENCE_OBJECTIVES[objective]
    cpu = lambda t: t.detach().to("cpu", torch.float64)  # noqa: E731 - the pure loss runs on N numbers, on the CPU
    pol = torch.cat([cpu(_seq(b.old_logprobs, b.loss_mask)) for b in batches]).requires_grad_(True)
    ref = torch.cat([cpu(_seq(b.ref_logprobs, b.loss_mask)) for b in batches]) if obj.needs_ref else None
    lengths = torch.cat([cpu(b.loss_mask.sum(dim=1)) for b in batches])
    rewards = torch.cat([cpu(b.rewards) for b in batches])
    groups = torch.cat([b.group_ids.cpu() for b in batches])
    with torch.enable_grad():
        loss, metrics = obj.fn(pol, ref, lengths, rewards, groups, **options)
        (coef,) = torch.autograd.grad(loss, pol)
    start = 0
    for b in batches:
        n = b.input_ids.shape[0]
        b.pref_coef = coef[start : start + n].to(b.loss_mask.device, torch.float32)
        start += n
    if drop_zero:
        for mb in minis:
            kept = [_rows(b, b.pref_coef != 0) for b in mb.micro_batches]
            mb.skipped += sum(b.input_ids.shape[0] for b in mb.micro_batches) - sum(k.input_ids.shape[0] for k in kept)
            mb.micro_batches[:] = [k for k in kept if k.input_ids.shape[0]]
    value = float(loss.detach())
    return {"loss": value, "objective/loss": value, "objective/coef_rows": float((coef != 0).sum()),
            **{f"objective/{k}": v for k, v in metrics.items()}}


def _rows(b: TrainBatch, keep: torch.Tensor) -> TrainBatch:
    """The rows of `b` where keep [B] is True (every tensor field of a TrainBatch is row-first)."""
    if bool(keep.all()):
        return b
    pick = lambda v: v[keep] if isinstance(v, torch.Tensor) else v  # noqa: E731
    return TrainBatch(**{f.name: pick(getattr(b, f.name)) for f in fields(b)})


def surrogate(lp: torch.Tensor, mask: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    """sum_i coef_i * s_i(theta) for lp, mask [B, T] and coef [B]: at the weights coef was taken at, its gradient
    is the objective's (its value is not the loss; prepare reports that)."""
    return (coef.to(lp.dtype) * _seq(lp, mask)).sum()
