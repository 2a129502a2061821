"""What a scoring process imports and how long it takes to start and score its first item.

Starts a real ScoringPool (spawned process) with the trainer's scoring function, scores one arithmetic answer, and
reports the wall time to the first result and the modules the scoring process holds (torch? ray? vllm?). Repeats
in fresh pools and prints the median.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/scorer_start.py [--repeats 5] [--fn tasks.registry:score_one]

--fn names the scoring function as module:name (another layout's function can be measured for comparison).
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HEAVY = ("torch", "ray", "vllm", "transformers", "sympy", "numpy")


def loaded_modules() -> tuple[int, list[str]]:
    """Run inside the scoring process (as its initializer's probe): module count and which heavy ones are loaded."""
    return len(sys.modules), [m for m in HEAVY if m in sys.modules]


def probe(*_args) -> object:
    from rewards.base import RewardResult

    n, heavy = loaded_modules()
    return RewardResult(0.0, json.dumps({"modules": n, "heavy": heavy}), {})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--fn", default="tasks.registry:score_one")
    a = ap.parse_args()
    from rewards.pool import ScoringPool

    module, name = a.fn.split(":")
    fn = getattr(importlib.import_module(module), name)
    from tasks.registry import make_task

    task = make_task("arithmetic", seed=0)
    problem = task.problem("train", 0)
    item = ("arithmetic", "{}", 0, f"<think> ok </think> <answer>{problem.answer}</answer>", problem)
    times, info = [], {}
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        with ScoringPool(num_workers=1, timeout_s=30.0) as pool:
            res = pool.map(fn, [item])[0]
            times.append(time.perf_counter() - t0)
            info = json.loads(pool.map(probe, [()])[0].reason)
        assert res.parts.get("accuracy") == 1.0, res
    print(f"scoring function {a.fn}")
    print(f"{'start + first item (s)':<28}{'median':>8}{'min':>8}{'max':>8}")
    print(f"{'':<28}{statistics.median(times):>8.2f}{min(times):>8.2f}{max(times):>8.2f}")
    print(f"modules in the scoring process after one item: {info['modules']}; heavy: {info['heavy'] or 'none'}")


if __name__ == "__main__":
    main()
