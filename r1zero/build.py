"""One build path: a Config becomes the parts a run is made of.

Training (r1zero.session), `r1zero eval` (r1zero.evaluation) and the benchmarks (bench/) all build their prompt
renderer, sampling spec, scorer, rollout workers and learner here, so a setting means the same thing in each of them.
Ray and vLLM are imported inside the functions that start actors: importing this module stays cheap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from r1zero.config import Config
from r1zero.curriculum import Curriculum
from r1zero.placement import resources, worker_env
from r1zero.types import Problem, SamplingSpec
from tasks.base import Task, prefill, render_prompt
from tasks.registry import TaskMixture, make_task

# Training samples step k with seed train.seed * TRAIN_SEED_STRIDE + k; evaluation uses train.seed + EVAL_SEED_OFFSET,
# far from every training seed, so evaluating never repeats a training step's samples.
TRAIN_SEED_STRIDE = 100_003
EVAL_SEED_OFFSET = 7_777_777


def task_specs(cfg: Config) -> dict[str, tuple[float, dict[str, Any]]]:
    """task name -> (sampling weight, constructor kwargs), as the config names them."""
    return {name: (spec.weight, spec.args) for name, spec in cfg.data.tasks.items()}


def mixture(cfg: Config) -> TaskMixture | Curriculum:
    """The run's problem stream (deterministic in data.seed, the step and, with data.curriculum, the pass rates of
    the steps before it)."""
    base = TaskMixture(task_specs(cfg), cfg.data.seed)
    d = cfg.data
    if not d.curriculum:
        return base
    return Curriculum(base, pool=d.curriculum_pool, window=d.curriculum_window, floor=d.curriculum_floor,
                      lag=cfg.train.max_staleness)


def tasks(cfg: Config) -> dict[str, Task]:
    """The config's tasks, name -> Task, built exactly as the training mixture builds them."""
    return {name: make_task(name, seed=cfg.data.seed, **args) for name, (_, args) in task_specs(cfg).items()}


@dataclass
class PromptRenderer:
    """Problem -> the prompt text vLLM sees (R1-Zero template, chat or raw, '<think>' prefilled or not)."""

    tokenizer: Any
    tasks: dict[str, Task]
    chat: bool
    prefill_think: bool

    @property
    def prefill(self) -> str:
        return prefill(self.prefill_think)

    def __call__(self, problem: Problem) -> str:
        question = self.tasks[problem.task].question(problem)
        return render_prompt(question, tokenizer=self.tokenizer, chat=self.chat, prefill_think=self.prefill_think)


def renderer(cfg: Config, tokenizer: Any, task_map: dict[str, Task]) -> PromptRenderer:
    return PromptRenderer(tokenizer, task_map, cfg.model.chat_template, cfg.data.prefill_think)


def load_tokenizer(model_path: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_path)


def train_seed(cfg: Config, step: int) -> int:
    return cfg.train.seed * TRAIN_SEED_STRIDE + step


def eval_seed(cfg: Config) -> int:
    return cfg.train.seed + EVAL_SEED_OFFSET


def sampling_spec(cfg: Config, seed: int, n: int | None = None) -> SamplingSpec:
    """The rollout settings of the config; `n` overrides the group size (eval's samples per problem)."""
    r = cfg.rollout
    return SamplingSpec(r.n if n is None else n, r.temperature, r.top_p, r.max_tokens, list(r.stop), seed=seed,
                        prefill=prefill(cfg.data.prefill_think))


def scorer(cfg: Config):
    """The reward scorer: the config's tasks scored in processes with hard timeouts (inline when num_workers=0)."""
    from r1zero.rewarding import RewardScorer

    return RewardScorer({name: args for name, (_, args) in task_specs(cfg).items()}, cfg.data.seed,
                        cfg.reward.num_workers, cfg.reward.timeout_s)


def worker_kwargs(cfg: Config, index: int) -> dict[str, Any]:
    """RolloutWorker constructor arguments of worker `index` (each worker gets its own engine seed)."""
    r = cfg.rollout
    return {"dtype": r.dtype, "seed": cfg.train.seed + index, "max_model_len": r.max_model_len,
            "kv_cache_bytes": int(r.kv_cache_gib * (1 << 30)), "threads": r.threads_per_worker}


def local_worker(cfg: Config, model_path: str):
    """One in-process RolloutWorker (eval and benchmarks: no Ray)."""
    from r1zero.rollout.worker import RolloutWorker

    return RolloutWorker(model_path, **worker_kwargs(cfg, 0))


def _actor(cls: type, res: dict[str, Any]):
    import ray

    # Custom resources (rollout/learner.ray_resources) pin an actor kind to the nodes started with them;
    # passed only when set, so a plain run's actor options stay exactly as before.
    custom = {"resources": res["resources"]} if res.get("resources") else {}
    return ray.remote(num_cpus=res["num_cpus"], num_gpus=res["num_gpus"],
                      runtime_env={"env_vars": worker_env(res["threads"])}, **custom)(cls)


def start_rollout_workers(cfg: Config, model_path: str, slots: list[int] | None = None) -> list:
    """RolloutWorker actors for `slots` (default: all cfg.rollout.num_workers), not yet waited for."""
    from r1zero.rollout.worker import RolloutWorker

    Worker = _actor(RolloutWorker, resources(cfg)["rollout"])
    slots = list(range(cfg.rollout.num_workers)) if slots is None else slots
    return [Worker.remote(model_path, **worker_kwargs(cfg, i)) for i in slots]


def learner_kwargs(cfg: Config) -> dict[str, Any]:
    """Learner constructor arguments: the typed config sections it reads, nothing flattened."""
    return {"learner": cfg.learner, "algo": cfg.algo, "rollout": cfg.rollout, "dtype": cfg.model.dtype,
            "total_steps": cfg.train.steps * cfg.algo.epochs * cfg.algo.mini_batches, "seed": cfg.train.seed}


def start_learner(cfg: Config, model_path: str):
    """The Learner actor (not yet waited for)."""
    from r1zero.learner import Learner

    return _actor(Learner, resources(cfg)["learner"]).remote(model_path, **learner_kwargs(cfg))


def config_json(cfg: Config) -> str:
    return json.dumps(cfg.model_dump(), indent=1)
