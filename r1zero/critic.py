"""The critic of PPO (algo.estimator=gae): a value head on the policy's last hidden states, and each step's GAE.

Why a head on the policy and not a separate critic model: PPO for LLMs usually trains a separate value network of the
policy's size (Stiennon et al. 2020 and Ouyang et al. 2022 initialise it from the reward model and keep it apart from
the policy so that value updates cannot disturb the pretrained policy; verl and OpenRLHF run it as its own worker;
Open-Reasoner-Zero, Hu et al. 2025, initialises it from the base model). That doubles the learner's memory and its
forward/backward compute, and on this project's CPUs the learner is already the slow part. A Linear(hidden, 1) on the
hidden states the policy's forward computes anyway costs one dot product per token, plus one no-grad forward per
step for the values before the update (the ones GAE and the value clip use).

Trunk gradient (algo.value_trunk_grad): off by default. The value loss then trains the head alone, so the policy's
gradient is exactly the policy loss's (the comparison with GRPO is about the baseline, not about a different policy
update), and a large early value error cannot move the policy. The price: the critic is a linear probe of features
learned for next-token prediction. On, vf_coef * value loss also flows into the shared trunk, as in TRL's former
AutoModelForCausalLMWithValueHead (vf_coef 0.1).
"""

from __future__ import annotations

import torch

from r1zero.algo.gae import explained_variance, gae, outcome_token_rewards, value_loss, whiten
from r1zero.algo.losses import Normaliser
from r1zero.config import AlgoConfig
from r1zero.types import TrainBatch

# Key of Learner.train_step's result under a critic estimator: {row_index: advantage} (not a metric; the controller
# takes it out before logging and writes it into the traces' advantage column instead of the outcome rewards).
ROW_ADVANTAGES = "row_advantages"


class Critic(torch.nn.Module):
    """The value head and the per-step GAE. Holds float32 parameters whatever the policy's dtype."""

    def __init__(self, hidden_size: int, algo: AlgoConfig) -> None:
        super().__init__()
        self.algo = algo
        self.head = torch.nn.Linear(hidden_size, 1)
        # Small init: V starts near 0, so the first advantages are about the rewards themselves, not a random
        # per-token baseline (lm-human-preferences and TRL initialise their value heads small or at 0 too).
        torch.nn.init.normal_(self.head.weight, std=1e-3)
        torch.nn.init.zeros_(self.head.bias)

    def values(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """V(s_t) [B, T] from last hidden states [B, T, H]: position t's state is tokens < t, whose last hidden
        state is hidden[t - 1] (the same shift as token_logprobs); only positions on the mask [B, T] are computed."""
        sel = mask[:, 1:].bool()  # [B, T-1]
        B, T = mask.shape
        with torch.autocast(device_type=hidden.device.type, enabled=False):
            v = self.head(hidden[:, :-1][sel].float())[:, 0]  # [N]
        out = torch.zeros(B, T, dtype=torch.float32, device=hidden.device)
        out[:, 1:][sel] = v
        return out

    @torch.no_grad()
    def prepare(self, batches: list[TrainBatch]) -> dict[str, float]:
        """Per-token advantages and returns of every row of the step, from its outcome reward (TrainBatch.advantages
        under a critic estimator) and old_values (filled before any update): GAE, then, with
        algo.whiten_advantages, whitened over all the step's completion tokens (PPO implementations: OpenAI's
        baselines and lm-human-preferences, verl, OpenRLHF). Fills token_advantages and returns in place; returns
        the step's critic metrics."""
        a = self.algo
        adv_parts, v_parts, r_parts = [], [], []
        for b in batches:
            if b.old_values is None:
                raise ValueError("Critic.prepare needs old_values on every batch (the learner's _prepare fills them)")
            rewards = outcome_token_rewards(b.advantages, b.loss_mask)
            b.token_advantages, b.returns = gae(rewards, b.old_values, b.loss_mask, a.gamma, a.lam)
            sel = b.loss_mask.bool()
            adv_parts.append(b.token_advantages[sel])
            v_parts.append(b.old_values[sel])
            r_parts.append(b.returns[sel])
        if not batches:
            return {}
        v, r = torch.cat(v_parts), torch.cat(r_parts)
        if a.whiten_advantages:
            flat = whiten(torch.cat(adv_parts))
            for b, part in zip(batches, flat.split([len(p) for p in adv_parts])):
                b.token_advantages = torch.zeros_like(b.token_advantages)
                b.token_advantages[b.loss_mask.bool()] = part
        n = max(len(v), 1)
        return {"explained_variance": explained_variance(v, r), "value_mean": float(v.sum()) / n,
                "returns_mean": float(r.sum()) / n}

    @staticmethod
    def row_advantages(batches: list[TrainBatch]) -> dict[int, float]:
        """Each row's advantage as the update uses it, after prepare: the mean of its (whitened) token advantages
        over its completion tokens, keyed by TrainBatch.row_index (its position in the step's scored list)."""
        out: dict[int, float] = {}
        for b in batches:
            if b.token_advantages is None or b.row_index is None:
                raise ValueError("row_advantages needs token_advantages (Critic.prepare) and row_index (batching)")
            n = b.loss_mask.sum(dim=1).clamp(min=1.0)  # [B]; a row without completion tokens gets 0
            means = (b.token_advantages * b.loss_mask).sum(dim=1) / n  # [B]
            out.update(zip(b.row_index.tolist(), means.tolist()))
        return out

    def loss(self, hidden: torch.Tensor, b: TrainBatch, norm: Normaliser) -> tuple[torch.Tensor, dict[str, float]]:
        """The clipped value loss of one micro-batch (unweighted: the learner adds vf_coef * it) and its metrics."""
        h = hidden if self.algo.value_trunk_grad else hidden.detach()
        v = self.values(h, b.loss_mask)
        return value_loss(v, b.old_values, b.returns, b.loss_mask, clip=self.algo.value_clip,
                          agg=self.algo.aggregation, norm=norm)
