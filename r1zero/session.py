"""Everything a run holds while the controller loops: actors, tokenizer, tasks, scorer, logger, run directory."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1zero import checkpoint
from r1zero.config import Config
from r1zero.metrics import MetricsLogger
from r1zero.models import resolve_model
from r1zero.placement import init_ray, wait_ready, worker_env
from r1zero.rewarding import RewardScorer
from r1zero.rollout.pool import RolloutPool
from r1zero.types import Problem
from tasks.base import THINK_PREFILL, render_prompt
from tasks.registry import TaskMixture


def learner_hparams(cfg: Config) -> dict[str, Any]:
    """The flat settings the Learner needs (it never sees the Config object)."""
    return {**cfg.learner.model_dump(), **cfg.algo.model_dump(), "dtype": cfg.model.dtype,
            "temperature": cfg.rollout.temperature or 1.0,
            "max_tokens": cfg.rollout.max_tokens}


@dataclass
class Session:
    cfg: Config
    run_dir: Path
    model_path: str
    tokenizer: Any
    mixture: TaskMixture
    rollouts: RolloutPool
    learner: Any
    scorer: RewardScorer
    logger: MetricsLogger
    canary_ids: list[int]
    start_step: int = 0
    console: Any = None
    progress: Any = None
    progress_task: Any = None  # rich task id of the step bar

    @property
    def prefill(self) -> str:
        return THINK_PREFILL if self.cfg.data.prefill_think else ""

    @property
    def pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return pad if pad is not None else self.tokenizer.eos_token_id

    def prompt(self, problem: Problem) -> str:
        task = self.mixture.tasks[problem.task]
        return render_prompt(task.question(problem), tokenizer=self.tokenizer, chat=self.cfg.model.chat_template,
                             prefill_think=self.cfg.data.prefill_think)

    @classmethod
    def start(cls, cfg: Config, *, resume: bool = False, console: Any = None) -> "Session":
        import ray
        from transformers import AutoTokenizer

        from r1zero.learner import Learner
        from r1zero.rollout.worker import RolloutWorker

        run_dir = Path(cfg.train.output_dir)
        ckpt = checkpoint.latest(run_dir) if resume else None
        if not resume and (run_dir / "metrics.jsonl").exists():
            raise FileExistsError(f"{run_dir} already holds a run: pass --resume, or set train.output_dir elsewhere")
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(cfg.model_dump(), indent=1))
        model_path = resolve_model(cfg.model.name, cfg.model.tiny_seed)
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        mixture = TaskMixture({n: (s.weight, s.args) for n, s in cfg.data.tasks.items()}, cfg.data.seed)
        init_ray(cfg)
        r, lr = cfg.rollout, cfg.learner
        Worker = ray.remote(num_cpus=r.cpus_per_worker, num_gpus=r.gpus_per_worker,
                            runtime_env={"env_vars": worker_env(r.threads_per_worker)})(RolloutWorker)
        workers = [Worker.remote(model_path, dtype=r.dtype, seed=cfg.train.seed + i, max_model_len=r.max_model_len,
                                 kv_cache_bytes=int(r.kv_cache_gib * (1 << 30)), threads=r.threads_per_worker)
                   for i in range(r.num_workers)]
        LearnerActor = ray.remote(num_cpus=lr.num_cpus, num_gpus=lr.num_gpus,
                                  runtime_env={"env_vars": worker_env(lr.threads)})(Learner)
        learner = LearnerActor.remote(model_path, hp=learner_hparams(cfg), total_steps=cfg.train.steps * cfg.algo.epochs,
                                      seed=cfg.train.seed)
        try:
            return cls._connect(cfg, run_dir, ckpt, model_path, tokenizer, mixture, RolloutPool(workers), learner, console)
        except BaseException:
            for actor in [*workers, learner]:  # a failed start must not leave actors holding the cluster
                ray.kill(actor)
            raise

    @classmethod
    def _connect(cls, cfg, run_dir, ckpt, model_path, tokenizer, mixture, pool, learner, console) -> "Session":
        """Wait for the actors, restore a checkpoint, check the weights agree, and open scorer and logger."""
        import ray

        r = cfg.rollout
        wait_ready([w.info.remote() for w in pool.workers] + [learner.info.remote()], "starting actors")
        start_step = 0
        if ckpt is not None:
            state = checkpoint.load_controller_state(ckpt)
            ray.get(learner.load_state.remote(str(ckpt / "learner")))
            start_step = int(state["step"])
        transport = r.weight_transport
        if transport == "auto":
            transport = "broadcast" if r.gpus_per_worker > 0 else "bytes"
        if transport == "broadcast":
            pool.connect_broadcast(learner, backend="nccl" if r.gpus_per_worker > 0 else "gloo")
        if ckpt is not None:
            pool.sync(learner, version=start_step)
        canary_ids = tokenizer(r.canary_text).input_ids
        pool.canary(learner, canary_ids, r.canary_tolerance)  # the initial load must agree too
        scorer = RewardScorer({n: s.args for n, s in cfg.data.tasks.items()}, cfg.data.seed, cfg.reward.num_workers,
                              cfg.reward.timeout_s, prefix=THINK_PREFILL if cfg.data.prefill_think else "")
        logger = MetricsLogger(run_dir, cfg.model_dump(), cfg.train.wandb, cfg.train.wandb_project, resume=ckpt is not None)
        s = cls(cfg, run_dir, model_path, tokenizer, mixture, pool, learner, scorer, logger, canary_ids,
                start_step, console)
        s._start_progress()
        return s

    def _start_progress(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = self.console or Console()
        self.progress = Progress(TextColumn("[bold]r1zero"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 TextColumn("{task.description}"), console=self.console, transient=False)
        self.progress.start()
        self.progress_task = self.progress.add_task("", total=self.cfg.train.steps, completed=self.start_step)

    def log(self, step: int, m: dict[str, Any]) -> None:
        self.logger.log(step, m)
        line = (f"step {step:4d}  reward {m['reward_mean']:.3f}  acc {m['accuracy']:.2f}  fmt {m['format_rate']:.2f}  "
                f"len {m['response_len_mean']:.0f}  eq-groups {m['equal_reward_group_frac']:.2f}  "
                f"ent {m['entropy']:.2f}  canary {m['canary_max_diff']:.1e}  {m['step_seconds']:.1f}s")
        self.progress.console.print(line)
        self.progress.update(self.progress_task, advance=1, description=f"acc {m['accuracy']:.2f}")

    def evaluate(self, step: int) -> dict[str, float]:
        from r1zero.evaluation import periodic_eval

        return periodic_eval(self, step)

    def close(self) -> None:
        """Stop the display, the scoring processes and the actors (the Ray cluster itself stays up)."""
        import ray

        if self.progress is not None:
            self.progress.stop()
        self.scorer.close()
        self.logger.close()
        for actor in [*self.rollouts.workers, self.learner]:
            ray.kill(actor)
