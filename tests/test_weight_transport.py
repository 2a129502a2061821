"""The object-store weight transports ("tensors", "bytes") and the blocked fingerprint: pure parts, then on the real
actors (tiny model)."""

from __future__ import annotations

import pickle

import pytest
import torch

from r1zero.rollout import weight_sync
from r1zero.rollout.weight_sync import (
    arrays_to_weights,
    bytes_to_weights,
    fingerprint,
    state_dict_to_arrays,
    state_dict_to_bytes,
)


def _state():
    g = torch.Generator().manual_seed(0)
    emb = torch.randn(10, 4, generator=g)
    return {"embed.weight": emb, "layer.weight": torch.randn(4, 4, generator=g), "step": torch.tensor([3]),
            "lm_head.weight": emb}  # tied to the embedding: sent once


@pytest.mark.parametrize("dtype", [None, torch.bfloat16])
def test_tensors_carry_the_same_weights_as_bytes_and_travel_out_of_band(dtype):
    state = _state()
    msg = state_dict_to_arrays(state, dtype)
    got, want = dict(arrays_to_weights(msg)), dict(bytes_to_weights(state_dict_to_bytes(state, dtype)))
    assert list(got) == ["embed.weight", "layer.weight", "step"] and set(want) == set(got)
    for k in want:
        assert got[k].dtype == want[k].dtype and torch.equal(got[k], want[k])
    assert got["layer.weight"].dtype == (dtype or torch.float32) and got["step"].dtype == torch.int64
    assert msg.nbytes == (10 * 4 + 16) * (2 if dtype else 4) + 8
    # what makes the object store zero-copy: pickle-5 hands every array over as a buffer, not inside the pickle
    buffers: list = []
    head = pickle.dumps(msg, protocol=5, buffer_callback=buffers.append)
    assert len(buffers) == 3 and len(head) < 1000
    back = pickle.loads(head, buffers=buffers)
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(arrays_to_weights(back), got.items()))


def test_fingerprint_in_blocks_equals_the_sums_worked_by_hand(monkeypatch):
    monkeypatch.setattr(weight_sync, "FINGERPRINT_CHUNK", 2)  # 5 + 2 elements in 4 blocks, one block half full
    # sum 1+2+3+4+5 + 0.5-1.5 = 14; squares 1+4+9+16+25 + 0.25+2.25 = 57.5
    assert fingerprint([torch.arange(1.0, 6.0), torch.tensor([[0.5], [-1.5]])]) == [14.0, 57.5]
    # bf16 engines: each element rounded first (1.00390625 -> 1.0 in bf16: 8 significant bits)
    assert fingerprint([torch.tensor([1.00390625, 3.0])], torch.bfloat16) == [4.0, 10.0]
    assert fingerprint([]) == [0.0, 0.0]


@pytest.mark.integration
@pytest.mark.usefixtures("ray_cluster")
def test_both_object_store_transports_deliver_what_training_changed(tiny_path):
    """After a real update the worker holds stale weights (the check fails); a sync by either transport, into an fp32
    and a bf16 engine (bf16 on the wire: half the bytes), makes the fingerprint and the canary agree again."""
    import ray

    from r1zero.batching import to_mini_batches
    from r1zero.build import learner_kwargs
    from r1zero.config import load_config
    from r1zero.learner import Learner
    from r1zero.placement import worker_env
    from r1zero.rollout.pool import CanaryError, RolloutPool
    from r1zero.rollout.worker import RolloutWorker
    from r1zero.types import Rollout, ScoredRollout

    env = {"env_vars": worker_env(1)}
    learner = ray.remote(num_cpus=1, runtime_env=env)(Learner).remote(
        tiny_path, **learner_kwargs(load_config(None, ["model.name=tiny", "learner.lr=1e-3"])))
    rows = [ScoredRollout(Rollout(str(i), 0, [5, 6, 7], [8 + i, 9, 10], "", [-1.0] * 3, "stop", 1), 0.0, {}, "")
            for i in range(4)]
    minis = to_mini_batches(rows, [1.0, -1.0, 0.5, -0.5], pad_id=0, max_tokens_per_micro_batch=4096)
    actors = [learner]
    try:
        for dtype, tol in (("float32", 1e-4), ("bfloat16", 0.5)):
            worker = ray.remote(num_cpus=1, runtime_env=env)(RolloutWorker).remote(
                tiny_path, dtype=dtype, kv_cache_bytes=128 << 20, max_model_len=256)
            actors.append(worker)
            for version, transport in enumerate(("bytes", "tensors"), start=1):
                pool = RolloutPool([worker], learner, dtype=dtype, canary_ids=list(range(3, 40)), tolerance=tol,
                                   sync_timeout_s=120, transport=transport)
                ray.get(learner.train_step.remote(minis))
                pool.version = version - 1
                if version > 1:
                    with pytest.raises(CanaryError, match="differ from the learner's"):
                        pool.verify_sync()  # the update has not reached the worker yet
                pool.sync(version=version)
                pool.verify_sync()
                assert pool.canary() < tol
            size = {f: ray.get(learner.export_weights.remote(f, dtype)) for f in ("bytes", "tensors")}
            assert size["tensors"].nbytes <= len(size["bytes"]) < size["tensors"].nbytes + 65536
    finally:
        for a in actors:
            ray.kill(a)
    with pytest.raises(ValueError, match="unknown object-store transport"):
        RolloutPool([], None, transport="broadcast")
