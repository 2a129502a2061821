"""The rollout workers as one pool: shard prompts, gather rollouts, move weights in, prove they arrived, and replace a
worker that dies or hangs.

Every call into the workers has a deadline (a hung weight sync is how other trainers hang forever: TRL #2923 /
#6796, an NCCL broadcast with no timeout). A worker whose process died (`kill -9`, OOM) or that misses a generation
deadline is killed and replaced by a new actor that loads the learner's current weights and passes the same checks as
the others; then its shard is generated again with the same sampler seed, so the step's samples are the ones it
would have had.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable

from r1zero.types import Rollout, SamplingSpec


class CanaryError(RuntimeError):
    """vLLM's logprobs disagree with the learner's after a weight sync: the rollouts would be off-policy garbage."""


class SyncTimeout(RuntimeError):
    """A weight sync, sync check or canary did not answer within rollout.sync_timeout_s."""


class LearnerDied(RuntimeError):
    """The learner actor is gone (its process died); the run cannot continue without a restart from a checkpoint."""


def shard(items: list[Any], k: int) -> list[list[Any]]:
    """Split a list into k contiguous, near-equal shards (order kept when concatenated back)."""
    q, r = divmod(len(items), k)
    out, i = [], 0
    for j in range(k):
        n = q + (1 if j < r else 0)
        out.append(items[i : i + n])
        i += n
    return out


def _dead(e: BaseException) -> bool:
    import ray

    return isinstance(e, (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError))


class RolloutPool:
    """Ray actor handles of RolloutWorkers, the learner they follow, and the checks every sync must pass.

    Three transports behind one `sync` call (r1zero.rollout.weight_sync): "tensors" (raw arrays through Ray's
    shared-memory object store, read zero-copy on the learner's node; the CPU default), "bytes" (safetensors bytes
    through the object store) and "broadcast" (a process group with the learner as rank 0: NCCL between GPUs, gloo
    on CPU). A replacement worker loads through the object store ("tensors", or "bytes" under "bytes"; a collective
    group cannot take a new member), so replacement works under all three.
    """

    def __init__(self, workers: list, learner: Any, *, make_worker: Callable[[int], Any] | None = None,
                 dtype: str = "float32", canary_ids: list[int] | None = None, tolerance: float = 1e-3,
                 sync_timeout_s: float = 600.0, generate_timeout_s: float = 3600.0, max_restarts: int = 3,
                 transport: str = "tensors") -> None:
        """make_worker(i) starts a fresh worker actor for slot i (None: a dead worker ends the run); transport:
        "tensors" or "bytes" (connect_broadcast switches to "broadcast")."""
        if transport not in ("tensors", "bytes"):
            raise ValueError(f"unknown object-store transport {transport!r}; valid: ['tensors', 'bytes'] "
                             f"('broadcast' is formed by connect_broadcast)")
        self.workers, self.learner, self.make_worker = list(workers), learner, make_worker
        self.dtype, self.canary_ids, self.tolerance = dtype, list(canary_ids or []), tolerance
        self.sync_timeout_s, self.generate_timeout_s, self.max_restarts = sync_timeout_s, generate_timeout_s, max_restarts
        self.transport, self.backend = transport, ""
        self.specs: list | None = None
        self.version = 0
        self.restarts = 0  # workers replaced so far (a metric: faults/worker_restarts)

    # -- calls with deadlines ---------------------------------------------------------------------------------
    def _get(self, refs: list, what: str, timeout_s: float | None = None) -> list:
        """ray.get with a deadline; a dead learner becomes LearnerDied, a missed deadline SyncTimeout."""
        import ray

        timeout_s = self.sync_timeout_s if timeout_s is None else timeout_s
        try:
            return ray.get(refs, timeout=timeout_s)
        except ray.exceptions.GetTimeoutError:
            raise SyncTimeout(f"{what} did not answer within {timeout_s:g}s (rollout.sync_timeout_s): a worker or the "
                              f"learner is hung") from None
        except Exception as e:
            if _dead(e):
                self.check_learner()
            raise

    def check_learner(self) -> None:
        """Raise LearnerDied when the learner does not answer a cheap probe."""
        import ray

        try:
            ray.get(self.learner.info.remote(), timeout=30)
        except Exception as e:  # noqa: BLE001 - any failure of the probe means the learner cannot be used
            raise LearnerDied(f"the learner is gone ({type(e).__name__})") from None

    # -- weights in -------------------------------------------------------------------------------------------
    def connect_broadcast(self, backend: str) -> None:
        """Form the broadcast group: learner rank 0, worker i rank i + 1 (all join at once: it is a rendezvous).

        The group's store lives on the learner's node (its IP, not localhost, so workers on other nodes reach it).
        """
        host, port = self._get([self.learner.rendezvous_address.remote()], "broadcast rendezvous")[0]
        world = len(self.workers) + 1
        refs = [self.learner.init_broadcast_group.remote(host, port, world, backend)]
        refs += [w.init_broadcast_group.remote(host, port, i + 1, world, backend) for i, w in enumerate(self.workers)]
        self.specs = self._get(refs, "forming the weight-broadcast group")[0]
        self.transport, self.backend = "broadcast", backend

    def sync(self, version: int) -> float:
        """Copy the learner's current weights into every worker; returns the slowest worker's seconds."""
        self.version = version
        if self.transport != "broadcast":
            return max(self._each(self._loader(version), "weight sync"))
        send = self.learner.broadcast_weights.remote()
        took = self._get([w.receive_broadcast.remote(self.specs, version) for w in self.workers], "weight broadcast")
        self._get([send], "weight broadcast")
        return max(took)

    def _loader(self, version: int) -> Callable[[Any], Any]:
        """worker -> the call that loads the learner's current weights through the object store. The learner exports
        once (one object for every worker; a worker replaced meanwhile reads the same one)."""
        if self.transport == "bytes":
            blob = self.learner.export_weights.remote("bytes", self.dtype)
            return lambda w: w.load_weights.remote(blob, version)
        msg = self.learner.export_weights.remote("tensors", self.dtype)
        return lambda w: w.load_tensor_weights.remote(msg, version)

    def _each(self, call: Callable[[Any], Any], what: str) -> list:
        """call(worker) on every worker; a worker that died meanwhile is replaced (the replacement is synced and
        checked as part of its start), and its answer is asked again."""
        refs = [call(w) for w in self.workers]
        out = []
        for i, ref in enumerate(refs):
            try:
                out.append(self._get([ref], f"{what} on rollout worker {i}")[0])
            except Exception as e:
                if not _dead(e):
                    raise
                self.replace(i, e)
                out.append(self._get([call(self.workers[i])], f"{what} on rollout worker {i}")[0])
        return out

    def verify_sync(self, rtol: float = 1e-9) -> None:
        """Every worker must report the pool's version and the learner's weights fingerprint (weight_sync.fingerprint):
        a sync that did nothing, or loaded the wrong tensors, fails here even when the change is far below what the
        logprob canary can see (one step at lr 1e-6 moves the canary by ~1e-4)."""
        # asked now, not with the sync: the check is against the learner's weights as they are, whatever ran between
        # (the learner sums while the workers answer: both asked before either is awaited)
        want_ref = self.learner.weights_fingerprint.remote(self.dtype)
        held = self._each(lambda w: w.weights_fingerprint.remote(), "sync check")
        want = self._get([want_ref], "learner fingerprint")[0]
        for i, (got_version, got) in enumerate(held):
            check_fingerprint(i, self.version, got_version, want, got, rtol)

    def canary(self) -> float:
        """Max |vLLM - learner| logprob over the canary tokens across all workers; raises CanaryError above tolerance,
        on NaN or inf, and when a worker returns a different number of logprobs."""
        ref = self.learner.sequence_logprobs.remote(self.canary_ids)  # runs while the workers run theirs
        got = self._each(lambda w: w.sequence_logprobs.remote(self.canary_ids), "canary")
        ref_lp = self._get([ref], "learner canary")[0]
        return max(canary_diff(i, lp, ref_lp, self.tolerance) for i, lp in enumerate(got))

    # -- generation -------------------------------------------------------------------------------------------
    def submit(self, prompts: list[str], group_ids: list[int], problem_ids: list[str], spec: SamplingSpec) -> "Pending":
        """Start generating: prompts sharded over the workers; returns at once (gather() collects). Each worker runs
        its calls in submission order, so a weight sync submitted later waits for this generation to end: weights
        never change inside one generation call."""
        k = len(self.workers)
        parts = [p for p in zip(shard(prompts, k), shard(group_ids, k), shard(problem_ids, k)) if p[0]]
        return Pending(parts, spec, {self.workers[i].generate.remote(*part, spec): i for i, part in enumerate(parts)})

    def gather(self, pending: "Pending") -> list[Rollout]:
        """The rollouts of a submitted generation in prompt order; a shard whose worker died or missed
        rollout.generate_timeout_s is generated again on a replacement."""
        import ray

        results: list[list[Rollout] | None] = [None] * len(pending.parts)
        refs = dict(pending.refs)
        deadline = time.monotonic() + self.generate_timeout_s
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1, timeout=max(0.0, deadline - time.monotonic()))
            if not ready:  # the slowest shard missed its deadline: treat its worker as hung
                ref, i = next(iter(refs.items()))
                self.replace(i, TimeoutError(f"no rollouts within {self.generate_timeout_s:g}s"))
            else:
                ref = ready[0]
                i = refs[ref]
                try:
                    results[i] = ray.get(ref)
                    del refs[ref]
                    continue
                except Exception as e:
                    if not _dead(e):
                        raise
                    self.replace(i, e)
            del refs[ref]
            refs[self.workers[i].generate.remote(*pending.parts[i], pending.spec)] = i
            deadline = time.monotonic() + self.generate_timeout_s
        return [r for chunk in results for r in chunk or []]

    def generate(self, prompts: list[str], group_ids: list[int], problem_ids: list[str], spec: SamplingSpec) -> list[Rollout]:
        """submit() then gather(): generate now."""
        return self.gather(self.submit(prompts, group_ids, problem_ids, spec))

    # -- replacement ------------------------------------------------------------------------------------------
    def replace(self, i: int, cause: BaseException) -> None:
        """Kill worker i, start a new one in its slot, load the learner's current weights and pass the sync checks."""
        import ray

        self.check_learner()  # a dead learner is not a worker fault
        if self.make_worker is None or self.restarts >= self.max_restarts:
            raise RuntimeError(f"rollout worker {i} failed ({type(cause).__name__}: {str(cause)[:200]}) and "
                               f"{'no replacement is configured' if self.make_worker is None else f'the pool already replaced {self.restarts} workers (max)'}")
        ray.kill(self.workers[i], no_restart=True)
        self.restarts += 1
        worker = self.make_worker(i)
        self._get([worker.info.remote()], f"starting a replacement for rollout worker {i}",
                  timeout_s=max(self.sync_timeout_s, 600.0))
        if self.version > 0:
            self._get([self._loader(self.version)(worker)], f"loading weights into the replacement for rollout worker {i}")
        want = self._get([self.learner.weights_fingerprint.remote(self.dtype)], "learner fingerprint")[0]
        got_version, got = self._get([worker.weights_fingerprint.remote()], "replacement sync check")[0]
        check_fingerprint(i, self.version, got_version, want, got, 1e-9)
        if self.canary_ids:
            ref_lp = self._get([self.learner.sequence_logprobs.remote(self.canary_ids)], "learner canary")[0]
            canary_diff(i, self._get([worker.sequence_logprobs.remote(self.canary_ids)], "canary")[0], ref_lp,
                        self.tolerance)
        self.workers[i] = worker
        if self.transport == "broadcast":  # a collective group cannot take a new member: form a new one
            self.connect_broadcast(self.backend)


class Pending:
    """A submitted generation: its shards (prompts, group ids, problem ids), sampling spec and object refs."""

    def __init__(self, parts: list[tuple], spec: SamplingSpec, refs: dict) -> None:
        self.parts, self.spec, self.refs = parts, spec, refs  # refs: ObjectRef -> shard index


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
