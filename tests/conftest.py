"""Shared test setup: an isolated model cache per session, quiet, single-threaded torch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# One cache for all tests (tiny + SmolLM2 conversions are reused across test files); CI sets R1ZERO_CACHE.
os.environ.setdefault("R1ZERO_CACHE", str(ROOT / ".cache" / "r1zero"))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture(scope="session")
def tiny_path() -> str:
    from r1zero.models import resolve_model

    return resolve_model("tiny")


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray for one test module (3 logical CPUs: two rollout workers and a learner fit), shut down after it."""
    import ray

    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
