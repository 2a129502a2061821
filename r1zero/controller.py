"""The training loop, top to bottom: sample -> generate -> score -> advantages -> train -> sync -> log -> checkpoint.

Only this file knows the order of a step. The actors and helpers it drives are built in r1zero.session.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any

import torch

from r1zero import checkpoint, traces
from r1zero.algo.advantages import get_estimator
from r1zero.batching import to_train_batches
from r1zero.config import Config
from r1zero.metrics import rollout_metrics
from r1zero.rollout.worker import SamplingSpec
from r1zero.session import Session


class Timer(dict):
    """Seconds per phase of one step."""

    @contextmanager
    def __call__(self, phase: str):
        t0 = time.perf_counter()
        yield
        self[f"time/{phase}"] = self.get(f"time/{phase}", 0.0) + time.perf_counter() - t0


def train(cfg: Config, *, resume: bool = False, console: Any = None) -> dict[str, Any]:
    """Run cfg.train.steps RL steps (continuing from the latest checkpoint when resume=True)."""
    import ray

    s = Session.start(cfg, resume=resume, console=console)
    estimator = get_estimator(cfg.algo.estimator)
    r = cfg.rollout
    last: dict[str, Any] = {}
    try:
        for step in range(s.start_step, cfg.train.steps):
            t = Timer()
            t0 = time.perf_counter()
            # 1. sample problems (deterministic in (seed, step): a resume continues the same stream)
            problems = s.mixture.batch(step, cfg.data.prompts_per_step)
            by_id = {p.id: p for p in problems}
            prompts = [s.prompt(p) for p in problems]
            # 2. generate: n completions per prompt on the rollout workers, tagged with the policy version
            spec = SamplingSpec(r.n, r.temperature, r.top_p, r.max_tokens, list(r.stop), seed=cfg.train.seed * 100_003 + step)
            with t("generate"):
                rollouts = s.rollouts.generate(prompts, list(range(len(problems))), [p.id for p in problems], spec)
            # 3. score with the tasks' verifiable rewards (separate processes, hard timeouts)
            with t("score"):
                scored, reasons = s.scorer.score(rollouts, by_id)
            # 4. advantages: pure function of rewards and groups
            rewards = torch.tensor([x.reward for x in scored], dtype=torch.float32)
            groups = torch.tensor([x.rollout.group_id for x in scored], dtype=torch.long)
            advantages = estimator(rewards, groups)
            # 5. train: micro-batches under a token budget, one optimizer step on the learner
            batches = to_train_batches(scored, advantages, pad_id=s.pad_id, max_tokens_per_micro_batch=cfg.learner.micro_batch_tokens,
                                       drop_zero_advantage=cfg.learner.drop_zero_advantage)
            with t("train"):
                learner_metrics = ray.get(s.learner.train_step.remote(batches))
            # 6. sync: new weights into every vLLM engine in place, then the canary compares logprobs
            with t("sync"):
                sync_seconds = s.rollouts.sync(s.learner, version=step + 1)
                canary = s.rollouts.canary(s.learner, s.canary_ids, r.canary_tolerance)
            # 7. log: traces of every rollout, one metrics line
            with t("log"):
                traces.write_step(s.run_dir, step, scored, advantages.tolist(), by_id, prefix=s.prefill)
                m = rollout_metrics(scored, reasons)
                step_seconds = time.perf_counter() - t0
                last = {**m, **learner_metrics, **t, "weight_load_seconds": sync_seconds, "canary_max_diff": canary,
                        "step_seconds": step_seconds, "tokens_per_second": m["completion_tokens"] / step_seconds,
                        "policy_version": step + 1}
                if cfg.train.eval_every and (step + 1) % cfg.train.eval_every == 0:
                    last.update(s.evaluate(step + 1))
                s.log(step, last)
            # 8. checkpoint (atomic) every N steps and at the end
            if (cfg.train.checkpoint_every and (step + 1) % cfg.train.checkpoint_every == 0) or step + 1 == cfg.train.steps:
                checkpoint.save(s.run_dir, step + 1, {"step": step + 1, "seed": cfg.train.seed},
                                lambda d: ray.get(s.learner.save_state.remote(d)), cfg.train.keep_checkpoints)
        final = ray.get(s.learner.save_pretrained.remote(str(s.run_dir / "final")))
        return {"run_dir": str(s.run_dir), "final_model": final, "last": last}
    finally:
        s.close()
