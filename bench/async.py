"""The same training work with train.max_staleness 0 (synchronous) and 1 (the next step generates while the learner
trains), in one process, one after the other: step time and each actor's idle fraction.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/async.py configs/default.yaml [--steps 6] [k=v ...]

Idle fractions per step: learner 1 - train_seconds / step_seconds; rollout worker 1 - G / step_seconds, where G is the
synchronous run's median generation time (the same work: the async run overlaps it with training, so its own
generate phase only shows the wait). Step 0 (start-up, warm-up) is left out of the medians.
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def run(config: str, overrides: list[str], staleness: int, steps: int) -> list[dict]:
    import ray

    from r1zero.config import load_config
    from r1zero.controller import train
    from r1zero.metrics import read_metrics

    out = tempfile.mkdtemp(prefix=f"bench_async{staleness}_")
    atexit.register(shutil.rmtree, out, True)  # a run leaves ~2 GB (final model + learner state)
    cfg = load_config(config, [*overrides, f"train.steps={steps}", f"train.output_dir={out}",
                               f"train.max_staleness={staleness}", "train.checkpoint_every=0",
                               "train.wandb=disabled"])
    train(cfg)
    ray.shutdown()
    return read_metrics(out)[1:]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("overrides", nargs="*")
    ap.add_argument("--steps", type=int, default=6)
    a = ap.parse_args()
    rows = {k: run(a.config, a.overrides, k, a.steps) for k in (0, 1)}
    med = {k: statistics.median(r["step_seconds"] for r in rows[k]) for k in rows}
    gen = statistics.median(r["time/generate"] for r in rows[0])
    print(f"\nasync pipeline: {a.config} {' '.join(a.overrides)}  ({a.steps - 1} timed steps each, median)")
    print(f"{'max_staleness':<15}{'step s':>8}{'ratio':>8}{'learner idle':>14}{'rollout idle':>14}{'staleness':>11}")
    for k in (0, 1):
        learner_idle = statistics.median(1 - r["train_seconds"] / r["step_seconds"] for r in rows[k])
        rollout_idle = statistics.median(max(0.0, 1 - gen / r["step_seconds"]) for r in rows[k])
        lag = statistics.fmean(r["async/staleness_mean"] for r in rows[k])
        print(f"{k:<15}{med[k]:>8.2f}{med[k] / med[0]:>8.2f}{learner_idle:>14.0%}{rollout_idle:>14.0%}{lag:>11.2f}")


if __name__ == "__main__":
    main()
