"""The training loop, top to bottom: sample -> generate -> score -> advantages -> train -> sync -> log -> checkpoint.

Only this file knows the order of a step. What it drives is started by r1zero.session (built by r1zero.build).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any

import torch

from r1zero import build, checkpoint, traces
from r1zero.algo.advantages import ADVANTAGES, TRUNCATION
from r1zero.batching import to_mini_batches
from r1zero.config import Config
from r1zero.evaluation import periodic_eval
from r1zero.metrics import rollout_metrics
from r1zero.session import Session


class Timer(dict):
    """Seconds per phase of one step."""

    @contextmanager
    def __call__(self, phase: str):
        t0 = time.perf_counter()
        yield
        self[f"time/{phase}"] = self.get(f"time/{phase}", 0.0) + time.perf_counter() - t0


def shaped_rewards(cfg: Config, scored: list) -> tuple[torch.Tensor, torch.Tensor]:
    """The rewards advantages are computed from ([N]) and which rows enter the loss ([N] bool), after the
    reward.truncated policy for completions cut off by rollout.max_tokens."""
    rw = cfg.reward
    return TRUNCATION[rw.truncated](
        torch.tensor([x.reward for x in scored], dtype=torch.float32),
        torch.tensor([len(x.rollout.completion_ids) for x in scored], dtype=torch.long),
        torch.tensor([x.rollout.finish_reason == "length" for x in scored], dtype=torch.bool),
        max_tokens=cfg.rollout.max_tokens, buffer=min(rw.overlong_buffer, cfg.rollout.max_tokens),
        penalty=rw.overlong_penalty)


def mini_batches(cfg: Config, scored: list, advantages: torch.Tensor, in_loss: torch.Tensor, pad_id: int) -> list:
    """The step's rows as mini-batches for the learner. Rows with advantage 0 are skipped only while no KL term is
    on: their policy gradient is exactly 0 (they still count in the normaliser), their KL gradient is not."""
    return to_mini_batches(scored, advantages, pad_id=pad_id, in_loss=in_loss.tolist(),
                           max_tokens_per_micro_batch=cfg.learner.micro_batch_tokens, mini_batches=cfg.algo.mini_batches,
                           drop_zero_advantage=cfg.learner.drop_zero_advantage and cfg.algo.kl_coef == 0)


def train(cfg: Config, *, resume: bool = False, console: Any = None) -> dict[str, Any]:
    """Run cfg.train.steps RL steps (continuing from the latest checkpoint when resume=True)."""
    import ray

    s = Session.start(cfg, resume=resume, console=console)
    estimator = ADVANTAGES[cfg.algo.estimator]  # the name was checked when the config loaded
    r = cfg.rollout
    last: dict[str, Any] = {}
    try:
        for step in range(s.start_step, cfg.train.steps):
            t = Timer()
            t0 = time.perf_counter()
            # 1. sample problems (deterministic in (seed, step): a resume continues the same stream)
            problems = s.mixture.batch(step, cfg.data.prompts_per_step)
            by_id = {p.id: p for p in problems}
            prompts = [s.render(p) for p in problems]
            # 2. generate: n completions per prompt on the rollout workers, tagged with the policy version
            spec = build.sampling_spec(cfg, seed=build.train_seed(cfg, step))
            with t("generate"):
                rollouts = s.rollouts.generate(prompts, list(range(len(problems))), [p.id for p in problems], spec)
            # 3. score with the tasks' verifiable rewards (separate processes, hard timeouts)
            with t("score"):
                scored, reasons = s.scorer.score(rollouts, by_id)
            # 4. advantages: pure functions of rewards (cut-off completions handled as reward.truncated says) and groups
            rewards, in_loss = shaped_rewards(cfg, scored)
            groups = torch.tensor([x.rollout.group_id for x in scored], dtype=torch.long)
            advantages = estimator(rewards, groups)
            # 5. train: mini-batches (one optimizer step each) of micro-batches under a token budget, on the learner
            minis = mini_batches(cfg, scored, advantages, in_loss, s.pad_id)
            with t("train"):
                learner_metrics = ray.get(s.learner.train_step.remote(minis))
            # 6. sync: new weights into every vLLM engine in place; every worker proves it holds them (version and
            #    fingerprint), then the canary compares logprobs
            with t("sync"):
                sync_seconds = s.rollouts.sync(s.learner, version=step + 1)
                s.rollouts.verify_sync(s.learner, step + 1, r.dtype)
                canary = s.rollouts.canary(s.learner, s.canary_ids, r.canary_tolerance)
            # 7. log: traces of every rollout, one metrics line
            with t("log"):
                traces.write_step(s.run_dir, step, scored, advantages.tolist(), by_id)
                m = {**rollout_metrics(scored, reasons), "reward_shaped_mean": float(rewards.mean()),
                     "loss_rows": float(in_loss.sum())}
                step_seconds = time.perf_counter() - t0
                last = {**m, **learner_metrics, **t, "weight_load_seconds": sync_seconds, "canary_max_diff": canary,
                        "step_seconds": step_seconds, "tokens_per_second": m["completion_tokens"] / step_seconds,
                        "policy_version": step + 1}
                if cfg.train.eval_every and (step + 1) % cfg.train.eval_every == 0:
                    last.update(periodic_eval(cfg, s.rollouts, s.scorer, s.render, s.mixture, s.logger.print))
                s.logger.log(step, last)
            # 8. checkpoint (atomic) every N steps and at the end
            if (cfg.train.checkpoint_every and (step + 1) % cfg.train.checkpoint_every == 0) or step + 1 == cfg.train.steps:
                checkpoint.save(s.run_dir, step + 1, {"step": step + 1, "seed": cfg.train.seed},
                                lambda d: ray.get(s.learner.save_state.remote(d)), cfg.train.keep_checkpoints)
        final = ray.get(s.learner.save_pretrained.remote(str(s.run_dir / "final")))
        return {"run_dir": str(s.run_dir), "final_model": final, "last": last}
    finally:
        s.close()
