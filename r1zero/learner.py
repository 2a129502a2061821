"""Learner: the policy (and a frozen reference when kl_coef > 0 or a preference objective needs one), AdamW, and the
gradient step.

Algorithm-blind: it receives advantages as numbers in TrainBatches and calls the pure loss functions in r1zero.algo.
The one exception is PPO's critic (algo.estimator=gae): a value head it trains alongside the policy, which turns each
row's outcome reward into per-token GAE advantages before the update (r1zero/critic.py).
A plain class, wrapped as a Ray actor by r1zero.placement.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path
from typing import Any

import torch

from r1zero import preference
from r1zero.algo.corrections import mismatch_kl, rollout_weights
from r1zero.algo.gae import CRITIC_ESTIMATORS
from r1zero.algo.losses import POLICY_LOSSES, Normaliser, aggregate, entropy_from_logits, kl_penalty
from r1zero.config import AlgoConfig, LearnerConfig, RolloutConfig
from r1zero.critic import ROW_ADVANTAGES, Critic
from r1zero.types import MiniBatch, TrainBatch


def lr_factor(step: int, warmup: int, total: int, schedule: str, min_ratio: float) -> float:
    """Multiplier of the peak lr at optimizer step `step` (0-based): linear warmup, then constant or cosine."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def shared_prefix_len(batch: TrainBatch) -> int:
    """Length of the token prefix that every row shares and that lies before any row's first trained token.

    With a chat template the R1-Zero system prompt (~100 tokens) is the same for all 64 sequences of a step and is
    most of each sequence's tokens; computing it once instead of once per row is the learner's largest saving.
    """
    ids = batch.input_ids
    if ids.shape[0] < 2:
        return 0
    same = (ids == ids[:1]).all(dim=0)  # [T]
    first_diff = int((~same).nonzero()[0]) if (~same).any() else ids.shape[1]
    first_loss = int(batch.loss_mask.bool().any(dim=0).nonzero()[0]) if batch.loss_mask.any() else ids.shape[1]
    return min(first_diff, first_loss, ids.shape[1] - 1)


def _hidden_states(model: torch.nn.Module, batch: TrainBatch, min_prefix: int = 16) -> torch.Tensor:
    """Last hidden states [B, T, H], running a shared prefix once and reusing its K/V for every row (exact)."""
    decoder = model.get_decoder()
    L = shared_prefix_len(batch)
    if L < min_prefix or getattr(model, "is_gradient_checkpointing", False):
        return decoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
    B, T = batch.input_ids.shape
    pre = decoder(input_ids=batch.input_ids[:1, :L], use_cache=True)
    cache = pre.past_key_values
    cache.batch_repeat_interleave(B)  # differentiable: the prefix's gradient is the sum over rows
    positions = torch.arange(L, T, device=batch.input_ids.device).unsqueeze(0).expand(B, -1)
    rest = decoder(input_ids=batch.input_ids[:, L:], attention_mask=batch.attention_mask, past_key_values=cache,
                   position_ids=positions, use_cache=True).last_hidden_state
    return torch.cat([pre.last_hidden_state.expand(B, -1, -1), rest], dim=1)


def project_logits(model: torch.nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """lm_head plus the logit post-processing the model's own forward applies (projecting with lm_head alone would
    skip it, and the canary, which runs the full forward, would not see the difference on the trained tokens):
    Granite's logits_scaling, Cohere's logit_scale, Gemma-2's final soft-capping, in the order their forwards apply
    them."""
    logits = model.get_output_embeddings()(hidden)
    c = model.config
    if getattr(c, "logits_scaling", None):  # Granite: logits / scaling
        logits = logits / c.logits_scaling
    if getattr(c, "logit_scale", None) and c.model_type.startswith("cohere"):  # Cohere: logits * scale
        logits = logits * c.logit_scale
    cap = getattr(c, "final_logit_softcapping", None)
    if cap:  # Gemma-2/3: cap * tanh(logits / cap)
        logits = torch.tanh(logits / cap) * cap
    return logits


def token_logprobs(model: torch.nn.Module, batch: TrainBatch, temperature: float,
                   hidden: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-position logprob of input_ids[t] given < t, and the entropy there; both [B, T], position 0 is 0.

    Only positions on the loss mask are projected to the vocabulary: the lm_head over a 49k vocabulary dominates
    memory otherwise. hidden: the model's last hidden states [B, T, H] when the caller has them (the critic shares
    the forward), else computed here.
    """
    hidden = (_hidden_states(model, batch) if hidden is None else hidden)[:, :-1]  # [B, T-1, H]: t predicts t+1
    sel = batch.loss_mask[:, 1:].bool()  # [B, T-1]
    logits = project_logits(model, hidden[sel]).float() / temperature  # [N, V]
    logp_all = torch.log_softmax(logits, dim=-1)
    targets = batch.input_ids[:, 1:][sel]
    picked = logp_all.gather(1, targets[:, None])[:, 0]
    with torch.no_grad():
        ent = entropy_from_logits(logits)
    B, T = batch.input_ids.shape
    lp = torch.zeros(B, T, dtype=torch.float32, device=hidden.device)
    en = torch.zeros(B, T, dtype=torch.float32, device=hidden.device)
    lp[:, 1:][sel] = picked
    en[:, 1:][sel] = ent
    return lp, en


class Learner:
    """Owns the policy and its optimizer. Methods take and return plain data or TrainBatches."""

    def __init__(self, model_path: str, *, learner: LearnerConfig, algo: AlgoConfig, rollout: RolloutConfig,
                 dtype: str = "float32", total_steps: int, seed: int = 0) -> None:
        """The typed config sections it reads: learner (optimizer, precision, threads), algo (loss), rollout (the
        sampling temperature and token cap the loss must match); dtype: parameter dtype."""
        from transformers import AutoModelForCausalLM

        torch.set_num_threads(learner.threads)
        torch.manual_seed(seed)
        self.lcfg, self.algo, self.temperature = learner, algo, rollout.temperature or 1.0
        self.max_tokens = rollout.max_tokens
        self.device = torch.device("cuda" if torch.cuda.is_available() and learner.num_gpus > 0 else "cpu")
        torch_dtype = getattr(torch, dtype)
        self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch_dtype).to(self.device)
        if learner.gradient_checkpointing:
            self.model.gradient_checkpointing_enable()
        self.model.train()
        self.ref = None
        if algo.kl_coef > 0 or preference.needs_reference(algo.objective):
            self.ref = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch_dtype).to(self.device).eval()
            self.ref.requires_grad_(False)
        # PPO's value head (algo.estimator=gae, r1zero/critic.py): its own param group at algo.critic_lr
        self.critic = None
        groups = [{"params": list(self.model.parameters()), "peak_lr": learner.lr}]
        if algo.estimator in CRITIC_ESTIMATORS:
            self.critic = Critic(self.model.config.hidden_size, algo).to(self.device)
            groups.append({"params": list(self.critic.parameters()), "peak_lr": algo.critic_lr})
        self.opt = torch.optim.AdamW(groups, lr=learner.lr, betas=tuple(learner.betas),
                                     weight_decay=learner.weight_decay)
        self.total_steps = total_steps
        self.opt_steps = 0
        self.model_path = model_path

    # -- the update -------------------------------------------------------------------------------------------
    def _autocast(self):
        enabled = self.lcfg.autocast_bf16
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=enabled)

    def _set_lr(self) -> float:
        c = self.lcfg
        factor = lr_factor(self.opt_steps, c.warmup_steps, self.total_steps, c.schedule, c.min_lr_ratio)
        for g in self.opt.param_groups:
            g["lr"] = g.get("peak_lr", c.lr) * factor
        return c.lr * factor

    def _prepare(self, minis: list[MiniBatch]) -> dict[str, float]:
        """Fill old (and ref) logprobs that need a separate no-grad pass, before any weight changes.

        With one optimizer step per batch the learner's logprobs in that step *are* the pre-update ones (no extra
        pass); with several (epochs or mini_batches > 1) they are recorded here, before the first update, and serve
        as the old policy of the ratio and of the truncated IS weight in every later step. With a critic: the values
        before the update (one forward shared with the old logprobs), then the step's GAE advantages and returns;
        returns the critic's metrics. With a preference objective (algo.objective): the coefficients of its exact
        gradient from the pre-update sequence logprobs (r1zero.preference); returns its loss and metrics."""
        a = self.algo
        need_old = a.old_logprobs == "learner" and a.epochs * a.mini_batches > 1
        need_old = need_old or a.objective != preference.POLICY_GRADIENT  # its sequence logprobs, before the update
        batches = [b for mb in minis for b in mb.micro_batches]
        for b in batches:
            if need_old or self.ref is not None or self.critic is not None:
                with torch.no_grad(), self._autocast():
                    hidden = _hidden_states(self.model, b) if need_old or self.critic is not None else None
                    if need_old:
                        b.old_logprobs = token_logprobs(self.model, b, self.temperature, hidden)[0]
                    if self.critic is not None:
                        b.old_values = self.critic.values(hidden, b.loss_mask)
                    if self.ref is not None:
                        b.ref_logprobs = token_logprobs(self.ref, b, self.temperature)[0]
        if a.objective != preference.POLICY_GRADIENT:  # coefficients of the objective's exact gradient
            return preference.prepare(a.objective, a.objective_args, minis,
                                      drop_zero=self.lcfg.drop_zero_advantage and a.kl_coef == 0)
        if self.critic is None:
            return {}
        if any(mb.skipped for mb in minis):  # the config refuses drop_zero_advantage with a critic estimator
            raise ValueError("rows were skipped for advantage 0, but a critic's token advantages are not 0")
        return self.critic.prepare(batches)

    def _micro_step(self, b: TrainBatch, norm: Normaliser, sums: dict[str, float]) -> None:
        a = self.algo
        with self._autocast():
            hidden = _hidden_states(self.model, b)
            lp, ent = token_logprobs(self.model, b, self.temperature, hidden)
        mask = b.loss_mask
        # The learner's pre-update logprobs (in a single optimizer step: the current ones, ratio 1).
        learner_old = b.old_logprobs if b.old_logprobs is not None else lp.detach()
        is_w = None
        if a.old_logprobs == "rollout":
            old = b.rollout_logprobs
        else:
            # The pre-update logprobs are the old policy; the vLLM/learner mismatch is corrected by the configured
            # rollout correction against them (r1zero.algo.corrections: truncated IS, IcePop, sequence masking).
            old = learner_old
            is_w = rollout_weights(a.rollout_correction, old, b.rollout_logprobs, mask, cap=a.tis_cap,
                                   low=a.correction_low, high=a.correction_high)
        adv = b.token_advantages if b.token_advantages is not None else b.advantages  # [B, T] (critic) or [B]
        if b.pref_coef is not None:  # a preference objective: exactly its gradient (r1zero.preference)
            loss, m = preference.surrogate(lp, mask, b.pref_coef), {}
        else:
            loss, m = POLICY_LOSSES[a.loss](lp, old, adv, mask, clip_low=a.clip_low, clip_high=a.clip_high,
                                            agg=a.aggregation, is_weights=is_w, norm=norm, **a.loss_args)
        if self.critic is not None:  # PPO: + vf_coef * clipped value loss (the policy loss above is unchanged)
            vloss, vm = self.critic.loss(hidden, b, norm)
            loss = loss + a.vf_coef * vloss
            sums["value_loss"] = sums.get("value_loss", 0.0) + vloss.item()
            m = {**m, **vm}
        kl = torch.zeros(())
        if a.kl_coef > 0:
            kl = aggregate(kl_penalty(lp, b.ref_logprobs, a.kl_estimator), mask, a.aggregation, norm=norm)
            loss = loss + a.kl_coef * kl
        loss.backward()
        n_tok = float(mask.sum())
        diff = ((lp.detach() - b.rollout_logprobs).abs() * mask).sum()
        token_sums = {k: v * n_tok for k, v in m.items()}  # the loss's own metrics are per-token fractions/means
        token_sums["mismatch_kl"] = mismatch_kl(learner_old, b.rollout_logprobs, mask) * n_tok
        if is_w is not None:  # tokens the rollout correction took out of the gradient
            token_sums["correction_masked_frac"] = float(((is_w == 0) & mask.bool()).sum())
        for k, v in (("loss", loss.item()), ("kl", kl.item()), ("entropy", float((ent * mask).sum())),
                     ("vllm_diff", float(diff)), ("tokens", n_tok), *token_sums.items()):
            sums[k] = sums.get(k, 0.0) + v

    def train_step(self, minis: list[MiniBatch]) -> dict[str, Any]:
        """One RL step: `epochs` passes over the step's mini-batches, one optimizer step per mini-batch; returns
        metrics (loss and kl are per optimizer step, the token metrics are means over every trained token;
        mismatch_kl: k3 of KL(vLLM || learner before the update) on the sampled tokens). With a critic, also
        result[ROW_ADVANTAGES]: {row_index: the row's mean token advantage} (not a metric: for the traces)."""
        t0 = time.perf_counter()
        a = self.algo
        minis = [MiniBatch([self._to_device(b) for b in mb.micro_batches], mb.tokens, mb.seqs, mb.skipped)
                 for mb in minis]
        prepared = self._prepare(minis)  # the critic's or a preference objective's metrics (else empty)
        rows = {} if self.critic is None else {  # fixed for the whole step: prepare ran before any update
            ROW_ADVANTAGES: Critic.row_advantages([b for mb in minis for b in mb.micro_batches])}
        sums: dict[str, float] = {}
        grad_norm = lr = 0.0
        steps = 0
        for _ in range(a.epochs):
            for mb in minis:
                lr = self._set_lr()
                self.opt.zero_grad(set_to_none=True)
                norm = Normaliser(mb.tokens, mb.seqs, self.max_tokens)  # every row of this step, skipped ones too
                for b in mb.micro_batches:
                    self._micro_step(b, norm, sums)
                grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.lcfg.grad_clip))
                if self.critic is not None:  # clipped on its own: a large early value error must not shrink the
                    torch.nn.utils.clip_grad_norm_(self.critic.parameters(), self.lcfg.grad_clip)  # policy's step
                self.opt.step()
                self.opt_steps += 1
                steps += 1
        n = max(sums.get("tokens", 0.0), 1.0)
        per_step = {"loss", "kl", "vllm_diff", "tokens", "value_loss"}
        return {
            "loss": sums.get("loss", 0.0) / steps, "kl": sums.get("kl", 0.0) / steps,
            **({"value_loss": sums.get("value_loss", 0.0) / steps} if self.critic is not None else {}), **prepared,
            "clip_frac": 0.0, "approx_kl": 0.0, "mismatch_kl": 0.0, "entropy": 0.0,
            **{k: v / n for k, v in sums.items() if k not in per_step},  # token means: entropy, clip_frac, ...
            "grad_norm": grad_norm, "lr": lr, "optimizer_steps": steps,
            "learner_vllm_logprob_diff": sums.get("vllm_diff", 0.0) / n,
            "train_tokens": sum(float(b.loss_mask.sum()) for mb in minis for b in mb.micro_batches),
            "skipped_rows": float(sum(mb.skipped for mb in minis)),
            "micro_batches": sum(len(mb.micro_batches) for mb in minis), "train_seconds": time.perf_counter() - t0,
            **rows,
        }

    def _to_device(self, b: TrainBatch) -> TrainBatch:
        if self.device.type == "cpu":
            return b
        return dataclasses.replace(b, **{f.name: getattr(b, f.name).to(self.device) for f in dataclasses.fields(b)
                                         if isinstance(getattr(b, f.name), torch.Tensor)})

    # -- weights out --------------------------------------------------------------------------------------------
    @torch.no_grad()
    def export_weights(self, form: str = "bytes", dtype: str | None = None):
        """All weights for the rollout workers: safetensors bytes (form "bytes") or TensorWeights (form "tensors":
        numpy views of the live parameters that Ray copies once into its object store as this method returns), cast
        to `dtype` (the engine's; None keeps the learner's)."""
        from r1zero.rollout.weight_sync import state_dict_to_arrays, state_dict_to_bytes

        cast = getattr(torch, dtype) if dtype else None
        if form == "tensors":
            return state_dict_to_arrays(self.model.state_dict(), cast)
        if form != "bytes":
            raise ValueError(f"unknown weights form {form!r}; valid: ['bytes', 'tensors']")
        return state_dict_to_bytes(self.model.state_dict(), cast)

    def rendezvous_address(self) -> tuple[str, int]:
        """This node's IP and a free port, for the weight-broadcast group's store (rank 0 hosts it)."""
        import socket

        import ray

        with socket.socket() as s:
            s.bind(("", 0))
            port = s.getsockname()[1]
        return ray.util.get_node_ip_address(), port

    def init_broadcast_group(self, host: str, port: int, world_size: int, backend: str) -> list:
        """Open the weight-broadcast group as rank 0; returns the (name, dtype, shape) specs workers receive."""
        from r1zero.rollout.weight_sync import BroadcastGroup, weight_specs

        self._bcast = BroadcastGroup(host, port, 0, world_size, backend, self.device)
        return weight_specs(self.model.state_dict())

    @torch.no_grad()
    def broadcast_weights(self) -> float:
        """Send every weight over the broadcast group (workers call receive_broadcast at the same time)."""
        from r1zero.rollout.weight_sync import weight_specs

        t0 = time.perf_counter()
        state = self.model.state_dict()
        for name, _, _ in weight_specs(state):
            self._bcast.send(state[name])
        return time.perf_counter() - t0

    @torch.no_grad()
    def weights_fingerprint(self, dtype: str) -> list[float]:
        """fingerprint() of the weights after casting to the rollout engine's dtype (tied weights counted once)."""
        from r1zero.rollout.weight_sync import fingerprint

        unique = {t.data_ptr(): t for t in self.model.state_dict().values()}
        return fingerprint(unique.values(), getattr(torch, dtype))

    @torch.no_grad()
    def sequence_logprobs(self, token_ids: list[int]) -> list[float]:
        """Logprob of each token given the ones before it, [len - 1] (the canary's learner side)."""
        self.model.eval()
        ids = torch.tensor([token_ids], device=self.device)
        logits = self.model(input_ids=ids).logits[0, :-1].float()  # the full forward, post-processing included
        self.model.train()
        lp = torch.log_softmax(logits, dim=-1).gather(1, ids[0, 1:, None])[:, 0]
        return lp.cpu().tolist()

    # -- checkpoints --------------------------------------------------------------------------------------------
    def save_state(self, folder: str) -> None:
        """Model (safetensors) + optimizer + counters into `folder` (the controller makes it atomic)."""
        from safetensors.torch import save_model

        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        save_model(self.model, str(path / "model.safetensors"))
        torch.save({"opt": self.opt.state_dict(), "opt_steps": self.opt_steps, "torch_rng": torch.get_rng_state(),
                    "critic": None if self.critic is None else self.critic.state_dict()}, path / "learner_state.pt")

    def load_state(self, folder: str) -> None:
        from safetensors.torch import load_model

        path = Path(folder)
        load_model(self.model, str(path / "model.safetensors"), device=str(self.device))
        state = torch.load(path / "learner_state.pt", weights_only=False)
        if (self.critic is None) != (state.get("critic") is None):
            raise ValueError(f"checkpoint {folder} was saved {'without' if state.get('critic') is None else 'with'} "
                             f"a value head (algo.estimator=gae) and this run is configured the other way")
        if self.critic is not None:
            self.critic.load_state_dict(state["critic"])
        self.opt.load_state_dict(state["opt"])
        self.opt_steps = state["opt_steps"]
        torch.set_rng_state(state["torch_rng"])

    def save_pretrained(self, folder: str) -> str:
        """Final HF export (model + tokenizer), loadable by transformers and vLLM."""
        from transformers import AutoTokenizer

        self.model.save_pretrained(folder, safe_serialization=True)
        AutoTokenizer.from_pretrained(self.model_path).save_pretrained(folder)
        return os.path.abspath(folder)

    def info(self) -> dict[str, Any]:
        """Cheap readiness probe (the constructor has loaded the model once this answers)."""
        return {"pid": os.getpid(), "device": str(self.device), "opt_steps": self.opt_steps}

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """CPU copies of all parameters (tests compare runs within float tolerance)."""
        return {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
