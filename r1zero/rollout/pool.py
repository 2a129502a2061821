"""The rollout workers as one pool: shard prompts, gather rollouts, broadcast weights, run the canary."""

from __future__ import annotations

import math
from typing import Any

from r1zero.types import Rollout, SamplingSpec


class CanaryError(RuntimeError):
    """vLLM's logprobs disagree with the learner's after a weight sync: the rollouts would be off-policy garbage."""


def shard(items: list[Any], k: int) -> list[list[Any]]:
    """Split a list into k contiguous, near-equal shards (order kept when concatenated back)."""
    q, r = divmod(len(items), k)
    out, i = [], 0
    for j in range(k):
        n = q + (1 if j < r else 0)
        out.append(items[i : i + n])
        i += n
    return out


class RolloutPool:
    """Holds Ray actor handles of RolloutWorkers and moves the learner's weights into them.

    Two transports behind one `sync` call: "bytes" (safetensors bytes through Ray's object store; CPU default) and
    "broadcast" (a process group with the learner as rank 0: NCCL between GPUs, gloo on CPU).
    """

    def __init__(self, workers: list, transport: str = "bytes") -> None:
        self.workers = workers
        self.transport = transport
        self.specs: list | None = None

    def connect_broadcast(self, learner, backend: str) -> None:
        """Form the broadcast group: learner rank 0, worker i rank i + 1 (all join at once: it is a rendezvous).

        The group's store lives on the learner's node (its IP, not localhost, so workers on other nodes reach it).
        """
        import ray

        host, port = ray.get(learner.rendezvous_address.remote())
        world = len(self.workers) + 1
        refs = [learner.init_broadcast_group.remote(host, port, world, backend)]
        refs += [w.init_broadcast_group.remote(host, port, i + 1, world, backend) for i, w in enumerate(self.workers)]
        self.specs = ray.get(refs)[0]
        self.transport = "broadcast"

    def sync(self, learner, version: int) -> float:
        """Copy the learner's current weights into every worker; returns the slowest worker's seconds."""
        import ray

        if self.transport == "bytes":
            return self.load_weights(learner.export_weights.remote(), version)
        send = learner.broadcast_weights.remote()
        took = ray.get([w.receive_broadcast.remote(self.specs, version) for w in self.workers])
        ray.get(send)
        return max(took)

    def generate(self, prompts: list[str], group_ids: list[int], problem_ids: list[str], spec: SamplingSpec) -> list[Rollout]:
        import ray

        k = len(self.workers)
        parts = zip(shard(prompts, k), shard(group_ids, k), shard(problem_ids, k))
        refs = [w.generate.remote(p, g, i, spec) for w, (p, g, i) in zip(self.workers, parts) if p]
        return [r for chunk in ray.get(refs) for r in chunk]

    def load_weights(self, blob_ref, version: int) -> float:
        """Every worker reloads from the same object-store copy of the bytes; returns the slowest worker's seconds."""
        import ray

        return max(ray.get([w.load_weights.remote(blob_ref, version) for w in self.workers]))

    def verify_sync(self, learner, version: int, dtype: str, rtol: float = 1e-9) -> None:
        """Every worker must report `version` and the learner's weights fingerprint (see weight_sync.fingerprint):
        a sync that did nothing, or loaded the wrong tensors, fails here even when the change is far below what the
        logprob canary can see (one step at lr 1e-6 moves the canary by ~1e-4)."""
        import ray

        want = ray.get(learner.weights_fingerprint.remote(dtype))
        for i, (got_version, got) in enumerate(ray.get([w.weights_fingerprint.remote() for w in self.workers])):
            check_fingerprint(i, version, got_version, want, got, rtol)

    def canary(self, learner, token_ids: list[int], tolerance: float) -> float:
        """Max |vLLM - learner| logprob over the canary tokens across all workers; raises CanaryError above tolerance,
        on NaN or inf, and when a worker returns a different number of logprobs."""
        import ray

        ref_lp = ray.get(learner.sequence_logprobs.remote(token_ids))
        worst = 0.0
        for i, lp in enumerate(ray.get([w.sequence_logprobs.remote(token_ids) for w in self.workers])):
            worst = max(worst, canary_diff(i, lp, ref_lp, tolerance))
        return worst


def canary_diff(worker: int, got: list[float], want: list[float], tolerance: float) -> float:
    """Max |got - want| of one worker's canary logprobs; CanaryError when it is above `tolerance` or not finite
    (a NaN must fail: Python's max() would skip it, and NaN > tol is False), or the lengths differ."""
    if len(got) != len(want) or not want:
        raise CanaryError(f"weight sync canary: rollout worker {worker} returned {len(got)} logprobs, the learner "
                          f"{len(want)}")
    diff = max(abs(a - b) for a, b in zip(got, want)) if all(map(math.isfinite, [*got, *want])) else math.inf
    if not diff <= tolerance:
        raise CanaryError(
            f"weight sync canary failed on rollout worker {worker}: max |logprob diff| {diff:.3g} > tolerance "
            f"{tolerance:g} (weights did not arrive intact; see rollout.canary_tolerance)"
        )
    return diff


def check_fingerprint(worker: int, version: int, got_version: int, want: list[float], got: list[float] | None,
                      rtol: float) -> None:
    """CanaryError unless a worker holds weights `version` with the learner's fingerprint (relative tolerance).
    got is None before the first sync (the engine loaded the same model folder as the learner)."""
    if got_version != version:
        raise CanaryError(f"weight sync: rollout worker {worker} holds weights version {got_version}, expected {version}")
    if got is None:
        if version == 0:
            return
        raise CanaryError(f"weight sync: rollout worker {worker} has loaded no synced weights for version {version}")
    for name, a, b in zip(("sum", "sum of squares"), got, want):
        if not (math.isfinite(a) and abs(a - b) <= rtol * max(abs(b), 1.0)):
            raise CanaryError(f"weight sync: rollout worker {worker}'s weights differ from the learner's after "
                              f"version {version} (parameter {name} {a!r} vs {b!r}): the sync did not arrive")
