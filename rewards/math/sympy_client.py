"""The verifier's slow path, parent side: a persistent sympy child process with a kill-based timeout.

Stdlib only (imported by `rewards.math`; sympy is imported by the child alone):
`CHILD.request(op, args, timeout_s)` sends one JSON line to a child started with
`python -P rewards/math/sympy_check.py <parent pid>` and waits for the answer with select(); if none
comes in time the child is SIGKILLed and a fresh one is started in the background, so a runaway
sympy computation can never hang the caller (no signal.alarm, so it works in threads and Ray
workers). Child start-up (importing sympy, ~0.5-1 s) is not charged to the timeout; `warmup()`
starts it early. One child per process; a forked copy of the client starts its own. The child
dies with its parent (PR_SET_PDEATHSIG on Linux, a parent watchdog, and EOF on stdin); what it
computes is described in `rewards.math.sympy_check`.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import threading
import time

STARTUP_TIMEOUT_S = 60.0
# the repository root (rewards/math/sympy_client.py -> three levels up), put on the child's PYTHONPATH
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Run as a script, not `-m`: `-m` first imports the `rewards.math` package (the whole verifier,
# ~0.05 s CPU per start) which the child never uses; `-P` keeps rewards/math/ off sys.path so its
# module names cannot shadow anything sympy imports.
CHILD_SCRIPT = os.path.join(_ROOT, "rewards", "math", "sympy_check.py")



class SympyChild:
    """Client for one child process; thread-safe (requests are serialised)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._owner = -1
        self._ready = False
        self._buf = b""
        self._lock = threading.Lock()
        self.requests = 0  # requests asked of this process's child (bench/verifier.py reports it)

    def _spawn(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = _ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.setdefault("OMP_NUM_THREADS", "1")
        self._proc = subprocess.Popen(
            [sys.executable, "-P", CHILD_SCRIPT, str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=env, close_fds=True,
        )
        self._owner, self._ready, self._buf = os.getpid(), False, b""

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or self._owner != os.getpid():
            return
        try:
            proc.kill()
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def _readline(self, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return b""  # EOF: the child died
                self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line

    def _ensure(self) -> bool:
        if self._owner != os.getpid():
            self._proc = None  # inherited through fork: leave the parent's child alone
        if self._proc is None or self._proc.poll() is not None:
            self._kill()
            self._spawn()
        if not self._ready:
            if self._readline(STARTUP_TIMEOUT_S) != b"READY":
                self._kill()
                return False
            self._ready = True
        return True

    def warmup(self, wait: bool = False) -> None:
        """Start the child now (in the background unless `wait`)."""
        with self._lock:
            if self._owner != os.getpid() or self._proc is None or self._proc.poll() is not None:
                self._spawn()
            if wait:
                self._ensure()

    def request(self, op: str, args: list[str], timeout: float) -> dict | None:
        """The child's answer, {"r": "error"} if it failed, or None on timeout (child killed)."""
        with self._lock:
            self.requests += 1
            for _attempt in range(2):
                if not self._ensure():
                    return {"r": "error"}
                try:
                    self._proc.stdin.write(json.dumps({"op": op, "args": args}).encode() + b"\n")
                    self._proc.stdin.flush()
                except (BrokenPipeError, OSError):
                    self._kill()
                    continue
                line = self._readline(max(timeout, 0.0))
                if line is None:
                    self._kill()
                    self._spawn()  # warm up the replacement while the caller moves on
                    return None
                if line == b"":
                    self._kill()
                    return {"r": "error"}
                try:
                    return json.loads(line)
                except ValueError:
                    self._kill()
                    return {"r": "error"}
            return {"r": "error"}

    def close(self) -> None:
        with self._lock:
            self._kill()


CHILD = SympyChild()
atexit.register(CHILD.close)
