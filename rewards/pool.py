"""A process pool for reward scoring with hard, kill-based per-item timeouts.

    with ScoringPool(num_workers=4, timeout_s=10.0) as pool:
        results = pool.map(rewards.math.score, [(completion, gold), ...])
        pool.reason_counts  # Counter over every item scored so far, e.g. {"correct": 3, "timeout": 1}

`fn` is any picklable top-level function returning a RewardResult. Items go to warm worker
processes (spawn context: safe with threads, Ray and CUDA in the parent) in small chunks; each
result comes back as soon as it is ready and starts the next item's clock, so every item gets
`timeout_s`. A worker that overruns is SIGKILLed and replaced; its item scores 0.0 with reason
`timeout`. A worker that dies (os._exit, segfault, OOM kill) is replaced and its item scores 0.0
with reason `error`; an exception raised by `fn` also gives `error` (the worker survives). The
batch always finishes; results are in input order. No signal.alarm anywhere.

Worker start-up (interpreter + imports, and `initializer`, e.g. `rewards.math.warmup`) is bounded
by `start_timeout_s` but not charged to any item. `close()` (or leaving the `with` block) stops
every worker; workers kill their own helper processes on exit, and those also die with them.
"""

from __future__ import annotations

import collections
import multiprocessing as mp
import os
import pickle
import sys
import time
import traceback
import weakref
from multiprocessing.connection import wait as mp_wait
from typing import Any, Callable, Iterable

from rewards.base import RewardResult


def _worker_main(conn, initializer: Callable[[], Any] | None) -> None:
    if initializer is not None:
        try:
            initializer()
        except Exception:  # noqa: BLE001 - a failing warm-up must not kill the worker
            traceback.print_exc(file=sys.stderr)
    conn.send(("ready", os.getpid(), None))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        fn, chunk = msg
        conn.send(("begin", None, None))
        for idx, args in chunk:
            try:
                res = fn(*args)
                if not isinstance(res, RewardResult):
                    raise TypeError(f"{getattr(fn, '__name__', fn)!r} returned {type(res).__name__}")
            except Exception:  # noqa: BLE001 - any failure of a scoring fn is scored as `error`
                traceback.print_exc(file=sys.stderr)
                res = RewardResult(0.0, "error", {})
            conn.send(("res", idx, res))


class _Worker:
    def __init__(self, ctx, initializer, start_timeout_s: float):
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_worker_main, args=(child_conn, initializer), daemon=False)
        self.proc.start()
        child_conn.close()
        self.conn = parent_conn
        self.ready = False
        self.items: collections.deque = collections.deque()  # (idx, args) not yet answered
        self.begun = False
        self.deadline = time.monotonic() + start_timeout_s

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(timeout=5)
        self.conn.close()


def _shutdown(workers: list) -> None:
    for w in workers:
        try:
            w.conn.send(None)
        except (OSError, ValueError):
            pass
    end = time.monotonic() + 3.0
    for w in workers:
        w.proc.join(timeout=max(0.0, end - time.monotonic()))
        if w.proc.is_alive():
            w.proc.kill()
            w.proc.join(timeout=5)
        w.conn.close()
    workers.clear()


class ScoringPool:
    """Warm worker processes scoring (fn, args) items with hard per-item timeouts."""

    def __init__(self, num_workers: int = 2, timeout_s: float = 10.0, *, chunk_size: int = 16,
                 initializer: Callable[[], Any] | None = None, start_timeout_s: float = 120.0,
                 mp_context: str = "spawn"):
        if num_workers < 1 or timeout_s <= 0:
            raise ValueError("num_workers must be >= 1 and timeout_s > 0")
        self.num_workers, self.timeout_s, self.chunk_size = num_workers, timeout_s, chunk_size
        self.start_timeout_s = start_timeout_s
        self._ctx = mp.get_context(mp_context)
        self._initializer = initializer
        self.reason_counts: collections.Counter = collections.Counter()
        self.last_stats: dict = {}
        self.replaced_workers = 0
        self._workers: list[_Worker] = [self._new_worker() for _ in range(num_workers)]
        self._finalizer = weakref.finalize(self, _shutdown, self._workers)

    def _new_worker(self) -> _Worker:
        return _Worker(self._ctx, self._initializer, self.start_timeout_s)

    def __enter__(self) -> "ScoringPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop all workers (gracefully, then by SIGKILL). Idempotent."""
        self._finalizer()

    def map(self, fn: Callable[..., RewardResult], arg_tuples: Iterable[tuple]) -> list[RewardResult]:
        """Score every args tuple with fn(*args); results in input order, never raises for a bad
        item, never hangs."""
        if not self._finalizer.alive:
            raise RuntimeError("ScoringPool is closed")
        pickle.dumps(fn)  # an unpicklable fn (lambda, closure) is the caller's bug: raise here
        items = list(enumerate(tuple(a) for a in arg_tuples))
        results: list[RewardResult | None] = [None] * len(items)
        pending = collections.deque(items)
        start, remaining = time.monotonic(), len(items)
        failures = 0
        while remaining:
            self._dispatch(fn, pending, results)
            remaining = sum(r is None for r in results)
            if not remaining:
                break
            busy = [w for w in self._workers if w.items or not w.ready]
            timeout = max(0.0, min(w.deadline for w in busy) - time.monotonic()) if busy else 0.05
            ready = set(mp_wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout))
            for w in list(self._workers):
                if w.conn in ready or w.proc.sentinel in ready or not w.proc.is_alive():
                    self._drain(w, results)
                if not w.proc.is_alive():
                    failures += 0 if w.ready else 1
                    self._replace(w, pending, results, "error")
                elif (w.items or not w.ready) and time.monotonic() > w.deadline:
                    failures += 0 if w.ready else 1
                    self._replace(w, pending, results, "timeout" if w.begun else "error")
            if failures > 3 * self.num_workers:
                raise RuntimeError("scoring workers keep failing to start")
            remaining = sum(r is None for r in results)
        out = [r if r is not None else RewardResult(0.0, "error", {}) for r in results]
        counts = collections.Counter(r.reason for r in out)
        self.reason_counts.update(counts)
        self.last_stats = {"n": len(out), "seconds": time.monotonic() - start, "reasons": counts}
        return out

    def _dispatch(self, fn, pending: collections.deque, results: list) -> None:
        idle = [w for w in self._workers if w.ready and not w.items]
        for w in idle:
            if not pending:
                return
            size = max(1, min(self.chunk_size, -(-len(pending) // self.num_workers)))
            chunk = [pending.popleft() for _ in range(min(size, len(pending)))]
            try:
                w.conn.send((fn, chunk))
            except (OSError, ValueError, TypeError, AttributeError, pickle.PicklingError) as exc:
                print(f"ScoringPool: cannot send items: {exc!r}", file=sys.stderr)
                for idx, _ in chunk:
                    results[idx] = RewardResult(0.0, "error", {})
                continue
            w.items.extend(chunk)
            w.begun = False
            w.deadline = time.monotonic() + self.start_timeout_s

    def _drain(self, w: _Worker, results: list) -> None:
        try:
            while w.conn.poll():
                kind, idx, res = w.conn.recv()
                if kind == "ready":
                    w.ready = True
                elif kind == "begin":
                    w.begun = True
                elif kind == "res" and w.items and w.items[0][0] == idx:
                    results[idx] = res
                    w.items.popleft()
                if kind in ("ready", "begin", "res"):
                    w.deadline = time.monotonic() + (self.timeout_s if w.items else self.start_timeout_s)
        except (EOFError, OSError):
            pass  # died; handled by the caller through is_alive()

    def _replace(self, w: _Worker, pending: collections.deque, results: list, reason: str) -> None:
        w.kill()
        if w.items:
            idx, _ = w.items.popleft()
            results[idx] = RewardResult(0.0, reason, {})
            pending.extendleft(reversed(w.items))
        i = self._workers.index(w)
        self._workers[i] = self._new_worker()
        self.replaced_workers += 1
