"""The verifier's slow path, child side: run as `python -P rewards/math/sympy_check.py <parent pid>`.

Started (as a script) and spoken to by `rewards.math.sympy_client` (one JSON request per line on stdin, one JSON
answer per line on stdout, "READY" once sympy is imported). `main()` parses LaTeX with
latex2sympy2_extended (an ANTLR grammar, no eval) and compares: equal rationals exactly; constants
by a 40-digit evaluation (|a-b| <= 1e-25 relative); expressions with free symbols at 6 random
rational points (identity testing), falling back to simplify(a - b) == 0 when too few points
evaluate. Only this module imports sympy, and only inside the child process.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

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
    import latex2sympy2_extended  # noqa: F401
    import sympy  # noqa: F401  heavy imports happen before READY

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


def _sums_done(expr):
    """Sums and products in closed form where sympy finds one (`.doit()`, same value). Evaluating
    an unevaluated Sum at the random points is slow (numeric summation, ~0.3 s a point for
    `\\sum_{k=0}^{n-1} F_k F_{n-k-1}`); a closed form evaluates in microseconds. A runaway doit()
    is bounded like any request: the parent kills the child at the deadline."""
    import sympy

    if not expr.has(sympy.Sum, sympy.Product):
        return expr
    return expr.replace(lambda e: isinstance(e, (sympy.Sum, sympy.Product)), lambda e: e.doit())


def equal_exprs(a, b) -> bool:
    import sympy

    if a == b or sympy.srepr(a) == sympy.srepr(b):
        return True  # srepr: the same tree whose symbols differ only in assumptions (latex2sympy)
    if a.is_Rational and b.is_Rational:
        return False
    a, b = _sums_done(a), _sums_done(b)
    if a == b or sympy.srepr(a) == sympy.srepr(b):
        return True
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
