"""The rollout workers as one pool: shard prompts, gather rollouts, broadcast weights, run the canary."""

from __future__ import annotations

from typing import Any

from r1zero.types import Rollout
from r1zero.rollout.worker import SamplingSpec


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

    def canary(self, learner, token_ids: list[int], tolerance: float) -> float:
        """Max |vLLM - learner| logprob over the canary tokens across all workers; raises CanaryError above tolerance."""
        import ray

        ref_lp = ray.get(learner.sequence_logprobs.remote(token_ids))
        worst = 0.0
        for i, lp in enumerate(ray.get([w.sequence_logprobs.remote(token_ids) for w in self.workers])):
            diff = max(abs(a - b) for a, b in zip(lp, ref_lp))
            worst = max(worst, diff)
            if diff > tolerance:
                raise CanaryError(
                    f"weight sync canary failed on rollout worker {i}: max |logprob diff| {diff:.3g} > tolerance "
                    f"{tolerance:g} (weights did not arrive intact; see rollout.canary_tolerance)"
                )
        return worst
