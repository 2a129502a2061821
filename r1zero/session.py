"""Set-up and tear-down of what a run holds: run directory, actors, tokenizer, tasks, scorer, logger.

Nothing here runs a step (r1zero.controller does) or prints one (r1zero.metrics does); the parts are built by
r1zero.build, the same builders `r1zero eval` and the benchmarks use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1zero import build, checkpoint
from r1zero.config import Config
from r1zero.metrics import MetricsLogger
from r1zero.models import check_context, resolve_model
from r1zero.placement import init_ray, wait_ready
from r1zero.rewarding import RewardScorer
from r1zero.rollout.pool import RolloutPool
from tasks.registry import TaskMixture


@dataclass
class Session:
    cfg: Config
    run_dir: Path
    model_path: str
    mixture: TaskMixture
    render: build.PromptRenderer
    pad_id: int
    rollouts: RolloutPool
    learner: Any
    scorer: RewardScorer
    logger: MetricsLogger
    start_step: int = 0

    @classmethod
    def start(cls, cfg: Config, *, resume: bool = False, console: Any = None) -> "Session":
        import ray

        run_dir = Path(cfg.train.output_dir)
        ckpt = checkpoint.latest(run_dir) if resume else None
        if not resume and (run_dir / "metrics.jsonl").exists():
            raise FileExistsError(f"{run_dir} already holds a run: pass --resume, or set train.output_dir elsewhere")
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(build.config_json(cfg))
        model_path = resolve_model(cfg.model.name, cfg.model.tiny_seed)
        check_context(model_path, cfg.rollout.max_model_len)
        tokenizer = build.load_tokenizer(model_path)
        mixture = build.mixture(cfg)
        init_ray(cfg)
        workers = build.start_rollout_workers(cfg, model_path)
        learner = build.start_learner(cfg, model_path)
        try:
            r = cfg.rollout
            pool = RolloutPool(workers, learner, make_worker=lambda i: build.start_rollout_workers(cfg, model_path, [i])[0],
                               dtype=r.dtype, canary_ids=tokenizer(r.canary_text).input_ids,
                               tolerance=r.canary_tolerance, sync_timeout_s=r.sync_timeout_s,
                               generate_timeout_s=r.generate_timeout_s, max_restarts=r.max_worker_restarts)
            start_step = _connect(cfg, ckpt, pool)
            if ckpt is not None and hasattr(mixture, "load_state"):  # the curriculum's pass-rate history
                mixture.load_state(checkpoint.load_controller_state(ckpt).get("curriculum"))
            pool.verify_sync()  # the initial load must agree too
            pool.canary()
            pad = tokenizer.pad_token_id
            logger = MetricsLogger(run_dir, cfg.model_dump(), cfg.train.wandb, cfg.train.wandb_project,
                                   resume=ckpt is not None, steps=cfg.train.steps, start_step=start_step, console=console)
            return cls(cfg, run_dir, model_path, mixture, build.renderer(cfg, tokenizer, mixture.tasks),
                       pad if pad is not None else tokenizer.eos_token_id, pool, learner, build.scorer(cfg), logger,
                       start_step)
        except BaseException:
            for actor in [*workers, learner]:  # a failed start must not leave actors holding the cluster
                ray.kill(actor)
            raise

    def close(self) -> None:
        """Stop the display, the scoring processes and the actors (the Ray cluster itself stays up)."""
        import ray

        self.logger.close()
        self.scorer.close()
        for actor in [*self.rollouts.workers, self.learner]:
            ray.kill(actor, no_restart=True)


def _connect(cfg: Config, ckpt: Path | None, pool: RolloutPool) -> int:
    """Wait for the actors, restore a checkpoint, open the weight transport; returns the step to start from."""
    import ray

    r = cfg.rollout
    wait_ready([w.info.remote() for w in pool.workers] + [pool.learner.info.remote()], "starting actors")
    start_step = 0
    if ckpt is not None:
        state = checkpoint.load_controller_state(ckpt)
        ray.get(pool.learner.load_state.remote(str(ckpt / "learner")))
        start_step = int(state["step"])
    transport = r.weight_transport
    if transport == "auto":
        transport = "broadcast" if r.gpus_per_worker > 0 else "tensors"
    if transport == "broadcast":
        pool.connect_broadcast(backend="nccl" if r.gpus_per_worker > 0 else "gloo")
    else:
        pool.transport = transport
    if ckpt is not None:
        pool.sync(version=start_step)
    return start_step
