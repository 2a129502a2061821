"""The verifier's slow path: sympy in a small persistent child process with a kill-based timeout.

Client side (imported by `rewards.math`, stdlib only): `request(op, args, timeout_s)` sends one
JSON line to a child started with `python -m rewards.math_sympy <parent pid>` and waits for the
answer with select(); if none comes in time the child is SIGKILLed and a fresh one is started in
the background, so a runaway sympy computation can never hang the caller (no signal.alarm, so
it works in threads and Ray workers). Child start-up (importing sympy, ~0.5-1 s) is not charged
to the timeout; `warmup()` starts it early. One child per process; a forked copy of the client
starts its own. The child dies with its parent (PR_SET_PDEATHSIG on Linux, a parent watchdog,
and EOF on stdin).

Child side (`main()`): parses LaTeX with latex2sympy2_extended (an ANTLR grammar, no eval) and
compares: equal rationals exactly; constants by a 40-digit evaluation (|a-b| <= 1e-25 relative);
expressions with free symbols at 6 random rational points (identity testing), falling back to
simplify(a - b) == 0 when too few points evaluate.
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
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class SympyChild:
    """Client for one child process; thread-safe (requests are serialised)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._owner = -1
        self._ready = False
        self._buf = b""
        self._lock = threading.Lock()

    def _spawn(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = _ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.setdefault("OMP_NUM_THREADS", "1")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "rewards.math_sympy", str(os.getpid())],
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


# ----------------------------------------------------------------------------- child process

def _guard_parent(parent: int) -> None:
    """Die with the parent: PR_SET_PDEATHSIG where available, plus a polling watchdog."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(0)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, daemon=True).start()
    try:
        import resource

        limit = 3 * 1024**3
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass


def main() -> None:
    _guard_parent(int(sys.argv[1]))
    import sympy  # noqa: F401  heavy imports happen before READY
    import latex2sympy2_extended  # noqa: F401

    out = os.fdopen(os.dup(1), "wb")  # the protocol channel; stray prints go to stderr (devnull)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    out.write(b"READY\n")
    out.flush()
    for line in sys.stdin.buffer:
        try:
            req = json.loads(line)
            result = handle(req["op"], req["args"])
        except (ValueError, KeyError, TypeError, MemoryError, RecursionError) as exc:
            result = {"r": "error", "msg": type(exc).__name__}
        out.write(json.dumps(result).encode() + b"\n")
        out.flush()

# ------------------------------------------------------------------------- sympy-side comparisons

def _parse(s: str):
    """LaTeX -> sympy expression (scalars only). Raises on anything else."""
    import sympy
    from latex2sympy2_extended import latex2sympy
    from latex2sympy2_extended.latex2sympy2 import ConversionConfig

    expr = latex2sympy(s, normalization_config=None,
                       conversion_config=ConversionConfig(lowercase_symbols=False))
    if not isinstance(expr, sympy.Expr) or isinstance(expr, sympy.Tuple):
        raise ValueError("not a scalar expression")
    repl = {f: sympy.Rational(str(f)) for f in expr.atoms(sympy.Float)}
    repl.update({x: sympy.I for x in expr.free_symbols if getattr(x, "name", "") == "i"})
    return expr.xreplace(repl) if repl else expr


def _value(expr, point):
    """40-digit numeric value at `point`, or None if undefined/infinite/not a number."""
    import sympy

    v = expr.evalf(40, subs=point) if point else expr.evalf(40)
    if not v.is_number or v.is_infinite or v.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        return None
    return v


def _close(va, vb) -> bool:
    import sympy

    scale = max(sympy.Float(1), abs(va), abs(vb))
    return bool(abs(va - vb) <= sympy.Float("1e-25", 40) * scale)


def _points(symbols, n: int = 6) -> list[dict]:
    import random

    import sympy

    rng = random.Random(20261125)
    pts = []
    for _ in range(n):
        pts.append({s: sympy.Rational(rng.choice([-1, 1]) * rng.randint(13, 347), rng.randint(7, 101))
                    for s in symbols})
    return pts


def equal_exprs(a, b) -> bool:
    import sympy

    if a == b:
        return True
    if a.is_Rational and b.is_Rational:
        return False
    for x, y in ((a, b), (b, a)):
        if x.is_Rational and x.q > 10**12 and not y.is_Rational:
            # a long decimal vs an irrational-looking value: only an exact proof counts
            return sympy.simplify(y) == x
    symbols = sorted(a.free_symbols | b.free_symbols, key=str)
    checked = 0
    for pt in (_points(symbols) if symbols else [{}]):
        va, vb = _value(a, pt), _value(b, pt)
        if va is None or vb is None:
            continue
        if not _close(va, vb):
            return False
        checked += 1
    if checked >= (3 if symbols else 1):
        return True
    return sympy.simplify(a - b) == 0


def proportional(l1, r1, l2, r2) -> bool:
    """Equations l1 = r1 and l2 = r2 are equivalent: l1 - r1 = q (l2 - r2), q a non-zero constant."""
    import sympy

    e1, e2 = l1 - r1, l2 - r2
    symbols = sorted(e1.free_symbols | e2.free_symbols, key=str)
    if not symbols:
        return equal_exprs(e1, 0) == equal_exprs(e2, 0)
    ratio = None
    checked = 0
    for pt in _points(symbols, 8):
        v1, v2 = _value(e1, pt), _value(e2, pt)
        if v1 is None or v2 is None or abs(v2) < sympy.Float("1e-30", 40):
            continue
        q = v1 / v2
        if ratio is None:
            ratio = q
        elif not _close(q, ratio):
            return False
        checked += 1
    if checked >= 3:
        return abs(ratio) > sympy.Float("1e-30", 40)
    q = sympy.simplify(e1 / e2)
    return bool(q.is_number and q != 0)


def handle(op: str, args: list[str]) -> dict:
    """op "eq": [gold, pred]; op "eqn": [gold_lhs, gold_rhs, pred_lhs, pred_rhs]; op "ping"."""
    if op == "ping":
        return {"r": "ok"}
    half = len(args) // 2
    try:
        gold = [_parse(s) for s in args[:half]]
    except Exception:  # noqa: BLE001 - latex2sympy/ANTLR raise bare Exception on bad input
        return {"r": "bad_gold"}
    try:
        pred = [_parse(s) for s in args[half:]]
    except Exception:  # noqa: BLE001 - same as above, for the model's answer
        return {"r": "different"}
    try:
        same = equal_exprs(gold[0], pred[0]) if op == "eq" else proportional(*gold, *pred)
    except Exception as exc:  # noqa: BLE001 - sympy evaluation raises many unrelated types
        return {"r": "error", "msg": type(exc).__name__}
    return {"r": "equal" if same else "different"}


if __name__ == "__main__":
    main()
