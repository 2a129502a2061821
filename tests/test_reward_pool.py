"""Tests for rewards.pool.ScoringPool: order, hard timeouts, crashes, counts, clean shutdown."""

from __future__ import annotations

import collections
import multiprocessing
import os
import signal
import time

import psutil
import pytest

from rewards.base import RewardResult
from rewards.pool import ScoringPool

# --- scoring functions run in the workers (top level, so spawn workers can import them) ----------

def echo(x: int, delay: float = 0.0) -> RewardResult:
    if delay:
        time.sleep(delay)
    return RewardResult(float(x), "correct", {"x": float(x)})


def misbehave(x: int) -> RewardResult:
    if x == 3:
        time.sleep(3600)  # never returns
    if x == 5:
        os._exit(1)  # the worker dies
    if x == 7:
        raise ValueError("bug in a scoring function")
    if x == 9:
        os.kill(os.getpid(), signal.SIGSEGV)  # a "segfault"
    if x == 11:
        return "not a RewardResult"  # type: ignore[return-value]
    return RewardResult(1.0, "correct", {})


def sympy_child_pid(sleep_s: float) -> RewardResult:
    """Starts this worker's sympy helper, reports its pid, then maybe overruns."""
    import rewards.math.sympy_client as ms

    ms.CHILD.warmup(wait=True)
    pid = ms.CHILD._proc.pid
    time.sleep(sleep_s)
    return RewardResult(0.0, "wrong", {"child_pid": float(pid)})


def _descendants() -> list[psutil.Process]:
    """Live descendants, ignoring multiprocessing's shared resource tracker."""
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            if p.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in " ".join(p.cmdline()):
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def _wait_gone(pids: list[int], timeout: float = 5.0) -> list[int]:
    end = time.monotonic() + timeout
    alive = list(pids)
    while alive and time.monotonic() < end:
        alive = [p for p in alive if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        time.sleep(0.05)
    return alive


# ------------------------------------------------------------------------------------------ tests

def test_order_preserved_with_uneven_durations():
    delays = [0.2, 0.0, 0.1, 0.0, 0.3, 0.0, 0.05, 0.0]
    with ScoringPool(num_workers=2, timeout_s=5.0, chunk_size=1) as pool:
        res = pool.map(echo, [(i, d) for i, d in enumerate(delays)])
    assert [r.value for r in res] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert [r.parts["x"] for r in res] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]


def test_misbehaving_items_are_isolated_and_counted():
    with ScoringPool(num_workers=2, timeout_s=1.0, chunk_size=4) as pool:
        t0 = time.monotonic()
        res = pool.map(misbehave, [(i,) for i in range(14)])
        elapsed = time.monotonic() - t0
        reasons = [r.reason for r in res]
        assert reasons == ["correct", "correct", "correct", "timeout", "correct", "error", "correct",
                           "error", "correct", "error", "correct", "error", "correct", "correct"]
        assert [r.value for r in res] == [1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0]
        assert pool.reason_counts == collections.Counter({"correct": 9, "error": 4, "timeout": 1})
        assert pool.last_stats["n"] == 14
        assert pool.replaced_workers == 3  # timeout, os._exit, segfault
        assert elapsed < 1.0 + 8.0  # one timeout plus worker restarts, not a hang
        # the pool keeps working after replacing workers, and counts accumulate
        res2 = pool.map(echo, [(i,) for i in range(50)])
        assert [r.value for r in res2] == [float(i) for i in range(50)]
        assert pool.reason_counts == collections.Counter({"correct": 59, "error": 4, "timeout": 1})


def test_every_item_gets_its_own_timeout():
    # 6 items of 0.4 s each on one worker in one chunk: 2.4 s in total, but each is under 1 s
    with ScoringPool(num_workers=1, timeout_s=1.0, chunk_size=6) as pool:
        res = pool.map(echo, [(i, 0.4) for i in range(6)])
    assert [r.reason for r in res] == ["correct"] * 6


def test_empty_batch():
    with ScoringPool(num_workers=1, timeout_s=1.0) as pool:
        assert pool.map(echo, []) == []


def test_no_processes_left_after_close():
    before = {p.pid for p in _descendants()}
    pool = ScoringPool(num_workers=2, timeout_s=30.0, chunk_size=1)
    pool.map(echo, [(i,) for i in range(10)])
    helpers = [int(r.parts["child_pid"]) for r in pool.map(sympy_child_pid, [(0.2,), (0.2,)])]
    worker_pids = [w.proc.pid for w in pool._workers]
    assert len(worker_pids) == 2 and all(psutil.pid_exists(p) for p in worker_pids + helpers)
    pool.close()
    pool.close()  # idempotent
    assert _wait_gone(worker_pids + helpers) == []
    assert multiprocessing.active_children() == []
    assert {p.pid for p in _descendants()} - before == set()
    with pytest.raises(RuntimeError):
        pool.map(echo, [(1,)])


def test_killed_worker_takes_its_sympy_helper_along():
    before = {p.pid for p in _descendants()}  # e.g. this process's own sympy helper
    with ScoringPool(num_workers=1, timeout_s=20.0) as pool:
        [res] = pool.map(sympy_child_pid, [(0.0,)])
        helper = int(res.parts["child_pid"])
        assert psutil.pid_exists(helper)
        pool.timeout_s = 0.5  # the next item overruns and its worker is SIGKILLed
        [res2] = pool.map(sympy_child_pid, [(3600.0,)])
        assert res2.reason == "timeout"
        assert _wait_gone([helper]) == []
    assert _wait_gone([p.pid for p in _descendants() if p.pid not in before]) == []


def test_math_scoring_through_the_pool():
    from rewards.math import score

    items = [("\\boxed{7,425,000}", "7425000"), ("\\boxed{3}", "4"), ("no answer", "1"),
             ("<think>x</think><answer>1/2</answer>", "\\frac{1}{2}"), ("\\boxed{1 or 2}", "1")]
    with ScoringPool(num_workers=2, timeout_s=30.0) as pool:
        res = pool.map(score, items)
    assert [r.reason for r in res] == ["correct", "wrong", "no_answer", "correct", "hedged"]
    assert pool.reason_counts == collections.Counter({"correct": 2, "wrong": 1, "no_answer": 1, "hedged": 1})
