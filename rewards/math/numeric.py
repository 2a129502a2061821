"""Numeric identity test for scalar pairs the exact evaluator cannot decide (step 4 of the policy).

Trig, logarithms, exponentials, nested radicals, fractional powers and finite sums over
uninterpreted sequences (`\\tan^2(y)+1` vs `\\sec^2(y)`, `10^{\\frac{\\sqrt{13}-5}{6}}`,
`\\sum_{k=0}^{n-1} F_k F_{n-k-1}`) are beyond `rewards.math.exact`; before this module every such
pair started the sympy child (~0.5 s CPU of sympy import on the first one). `decide(g, p)`
settles the simple ones in-process and answers one of three things:

  True   equal with certainty: both sides parse in the small grammar of `rewards.math.numeric_parse`
         and agree to 60 digits (relative) at every sample point (>= 3 defined points with free
         symbols or sequences, the constant otherwise), each value stable between 50- and 90-digit
         evaluation and no sum cancelling to rounding noise;
  False  different with certainty: at some point both sides are defined, stable, and differ by
         more than 1e-20 relative (far beyond any rounding);
  None   unsure: anything else (a construct outside the grammar, an unstable or huge value, a long
         decimal, too few defined points, agreement between 1e-60 and 1e-20) -> sympy, as before.

Meaning: the sympy child's (latex2sympy2_extended, principal branches, `e` is Euler's number, `i`
the imaginary unit) and its sample points (random rationals of both signs, same seed), plus every
sign pattern of one more point, so a domain-limited identity (`\\sqrt{xy}` = `\\sqrt{x}\\sqrt{y}`)
is never called equal. Two deliberate departures, both toward the mathematics: a subscripted
name is an uninterpreted sequence (`a_{n+1}` and `a_{1+n}` are one entry; latex2sympy makes two
unrelated symbols), and `\\sum`/`\\prod` are evaluated term by term with the symbols in their
bounds and indices set to integers 1..9 (indices computed exactly). This is Schwartz-Zippel-style
identity testing (random interpretation; the child does the same at 40 digits); the second
precision and the cancellation check guard against rounding. Where LaTeX is ambiguous the grammar
refuses: a function without brackets (`\\sin x`), bare `\\log` (base 10 or e?), `\\sin^{-1}`, a
letter before `(` (`y(2)` is a call to latex2sympy, `x(x+1)` a product), `1/2x`, multi-digit bare
exponents (`x^23`), `a^b^c`, `E`, `I`, `\\gamma`, factorials, integrals, limits. Never eval(): a
recursive-descent parser builds a tuple AST that `_eval` walks with mpmath; magnitudes, indices and
the number of summed terms are bounded, so no input runs long.
"""

from __future__ import annotations

import random
import time
from fractions import Fraction

from rewards.math.numeric_parse import Unsure, parse

MAX_SYMBOLS = 6
MAX_MAG_BITS = 20_000  # |value| < 2^20000, |exponent| bounded: no huge powers, no slow reductions
MAX_TRIG_ARG = 10**6
MAX_INDEX = 10**6
MAX_TERMS = 500  # terms of all sums / products in one evaluation


class _Undefined(ArithmeticError):
    """The expression has no finite value at this point (division by zero, a pole)."""


# ------------------------------------------------------------------------------ the evaluation

def _guard(v):
    import mpmath

    if not mpmath.isfinite(v):
        raise _Undefined("not finite")
    if v != 0 and abs(mpmath.mag(v)) > MAX_MAG_BITS:
        raise Unsure("magnitude")
    return v


def _eval(node: tuple, env: dict):
    import mpmath

    op = node[0]
    if op == "num":
        return mpmath.mpc(mpmath.mpf(node[1].numerator) / node[1].denominator)
    if op == "sym":
        return env[node[1]]
    if op == "pi":
        return mpmath.mpc(mpmath.pi)
    if op == "e":
        return mpmath.mpc(mpmath.e)
    if op == "i":
        return mpmath.mpc(0, 1)
    if op == "neg":
        return -_eval(node[1], env)
    if op == "seq":
        return _sequence_entry(env["__seed__"], node[1], _index(node[2], env["__ints__"]))
    if op in ("sum", "prod"):
        return _big_operator(node, env)
    a = _eval(node[1], env) if op not in ("root", "fn") else None
    if op in ("add", "mul", "div", "pow"):
        b = _eval(node[2], env)
        if op == "add":
            return _guard(_add(a, b))
        if op == "mul":
            return _guard(a * b)
        if op == "div":
            if b == 0:
                raise _Undefined("division by zero")
            return _guard(a / b)
        return _power(a, b)
    if op == "root":
        return _power(_eval(node[2], env), mpmath.mpc(mpmath.mpf(1) / node[1]))
    if op == "log":
        x = _eval(node[2], env)
        if a == 0 or x == 0 or mpmath.log(a) == 0:
            raise _Undefined("log")
        return _guard(mpmath.log(x) / mpmath.log(a))
    return _function(node[1], _eval(node[2], env))


def _index(node: tuple, ints: dict) -> int:
    """An index or a bound, in exact rational arithmetic over the integer symbols (a rounded zero
    is no zero: `n - k - 1` must be computed exactly); must be an integer, else the point is skipped."""
    v = _rational(node, ints)
    if v.denominator != 1:
        raise _Undefined("non-integer index")
    if abs(v) > MAX_INDEX:
        raise Unsure("huge index")
    return int(v)


def _rational(node: tuple, ints: dict) -> Fraction:
    op = node[0]
    if op == "num":
        return node[1]
    if op == "sym":
        if node[1] not in ints:
            raise Unsure("index with a non-integer symbol")
        return Fraction(ints[node[1]])
    if op == "neg":
        return -_rational(node[1], ints)
    if op in ("add", "mul", "div", "pow"):
        a, b = _rational(node[1], ints), _rational(node[2], ints)
        if op == "add":
            return a + b
        if op == "mul":
            return a * b
        if op == "div":
            if b == 0:
                raise _Undefined("division by zero")
            return a / b
        if b.denominator == 1 and 0 <= b <= 64 and abs(a) <= MAX_INDEX:
            return a ** int(b)
    raise Unsure("index expression")


def _sequence_entry(seed: int, name: str, index: int):
    """`a_{index}` of an uninterpreted sequence: a random rational fixed per (point, name, index),
    so that identities must hold for every sequence (random interpretation, as for symbols)."""
    import mpmath

    rng = random.Random(f"{seed}/{name}/{index}")
    return mpmath.mpc(mpmath.mpf(rng.choice([-1, 1]) * rng.randint(13, 347)) / rng.randint(7, 101))


def _big_operator(node: tuple, env: dict):
    """A finite sum / product term by term; at most MAX_TERMS terms per evaluation (`\\sum_{k=1}^{10^7}`
    is left to sympy's closed forms)."""
    import mpmath

    op, var, lo, hi, body = node
    a, b = _index(lo, env["__ints__"]), _index(hi, env["__ints__"])
    if b < a - 1:
        raise _Undefined("reversed range")  # sympy's Karr convention: not guessed here
    env["__budget__"][0] -= b - a + 1
    if env["__budget__"][0] < 0:
        raise Unsure("too many terms")
    total = mpmath.mpc(0 if op == "sum" else 1)
    inner = dict(env)
    inner["__ints__"] = dict(env["__ints__"])
    deadline = env["__deadline__"]
    for k in range(a, b + 1):
        if deadline is not None and time.monotonic() > deadline:
            raise Unsure("deadline")  # a long summand: never run past the caller's timeout
        inner[var], inner["__ints__"][var] = mpmath.mpc(k), k
        term = _eval(body, inner)
        total = _guard(_add(total, term) if op == "sum" else total * term)
    return total


def _add(a, b):
    """a + b, refusing a sum that cancels to within 15 digits of the working precision: its value
    is rounding noise (`(1 + 10^{-100}) - 1` is 0 at 90 digits), or an exact zero a numeric test
    cannot tell from a tiny non-zero value."""
    import mpmath

    total = a + b
    if a != 0 and b != 0 and abs(total) <= max(abs(a), abs(b)) * mpmath.mpf(10) ** (15 - mpmath.mp.dps):
        raise Unsure("cancellation")
    return total


def _power(a, b):
    import mpmath

    if a == 0:
        if b.real > 0:
            return mpmath.mpc(0)
        if b == 0:
            return mpmath.mpc(1)
        raise _Undefined("0 ** non-positive")
    # bound the result's size before computing it: |a^b| <= 2^(|b| * (|log2 |a|| + 2) + 2|b|)
    if abs(b) * (abs(mpmath.log(abs(a), 2)) + 4) > MAX_MAG_BITS:
        raise Unsure("power too large")
    if b.imag == 0 and b.real == int(b.real):
        return _guard(a ** int(b.real))
    return _guard(mpmath.power(a, b))  # principal branch, as sympy's


def _function(fn: str, x):
    import mpmath

    if abs(x) > MAX_TRIG_ARG:
        raise Unsure("huge function argument")
    if fn == "ln":
        if x == 0:
            raise _Undefined("log 0")
        return _guard(mpmath.log(x))
    try:
        return _guard(getattr(mpmath, fn)(x))
    except ZeroDivisionError as exc:
        raise _Undefined(fn) from exc


# -------------------------------------------------------------------------------- the decision

def _points(symbols: list[str], ints: list[str]) -> list[dict]:
    """The sympy child's 6 points (random rationals of both signs, same seed and order as
    sympy_check._points), then every sign pattern of one more point for up to 3 symbols: an
    identity that holds on part of the domain only (`\\sqrt{xy}` vs `\\sqrt{x}\\sqrt{y}`, false
    when x, y < 0 under principal branches) is caught even where the 6 random signs miss it.
    Symbols used as an index or a bound (`n` in `\\sum_{k=0}^{n-1}`, `F_{n+1}`) take integers 1..9."""
    rng, irng = random.Random(20261125), random.Random(20261201)
    pts = [{s: Fraction(rng.choice([-1, 1]) * rng.randint(13, 347), rng.randint(7, 101)) for s in symbols}
           for _ in range(6)]
    if 0 < len(symbols) <= 3:
        base = [Fraction(rng.randint(13, 347), rng.randint(7, 101)) for _ in symbols]
        for mask in range(2 ** len(symbols)):
            pts.append({s: -v if mask >> k & 1 else v for k, (s, v) in enumerate(zip(symbols, base))})
    for pt in pts:
        pt.update({s: Fraction(irng.randint(1, 9)) for s in ints})
    return pts


def _values(ga: tuple, pa: tuple, point: dict, seed: int, dps: int, ints: frozenset = frozenset(),
            deadline: float | None = None):
    import mpmath

    with mpmath.workdps(dps):
        env = {k: mpmath.mpc(mpmath.mpf(v.numerator) / v.denominator) for k, v in point.items()}
        env.update({"__seed__": seed, "__budget__": [MAX_TERMS], "__deadline__": deadline,
                    "__ints__": {k: int(v) for k, v in point.items() if v.denominator == 1 and k in ints}})
        try:
            return _eval(ga, env), _eval(pa, env)
        except (_Undefined, ZeroDivisionError, ValueError):
            return None


def _close(a, b, rel: str) -> bool:
    """Relative agreement (no absolute floor: 10^{-60} is not 0; exact zeros agree only with 0)."""
    import mpmath

    with mpmath.workdps(100):
        return abs(a - b) <= mpmath.mpf(rel) * max(abs(a), abs(b))


def decide(gold: str, pred: str, deadline: float | None = None) -> bool | None:
    """True: equal with certainty; False: different with certainty; None: unsure (ask sympy, or
    time.monotonic() passed `deadline` between two points)."""
    try:
        ga, gs, gi = parse(gold)
        pa, ps, pi = parse(pred)
    except Unsure:
        return None
    ints = sorted(gi | pi)
    symbols = sorted((gs | ps) - set(ints))
    seqs = _has_sequence(ga) or _has_sequence(pa)
    if len(symbols) + len(ints) > MAX_SYMBOLS:
        return None
    agreed = 0
    try:
        for seed, point in enumerate(_points(symbols, ints) if symbols or ints or seqs else [{}]):
            if deadline is not None and time.monotonic() > deadline:
                return None
            low, high = (_values(ga, pa, point, seed, dps, frozenset(ints), deadline) for dps in (50, 90))
            if low is None or high is None:
                continue
            if not (_close(low[0], high[0], "1e-40") and _close(low[1], high[1], "1e-40")):
                return None  # cancellation: the 50-digit value is not trustworthy
            if _close(high[0], high[1], "1e-60"):
                agreed += 1
            elif not _close(high[0], high[1], "1e-20"):
                return False
            else:
                return None
    except (Unsure, OverflowError):
        return None
    return True if agreed >= (3 if symbols or ints or seqs else 1) else None


def constant_value(s: str):
    """The real value of a constant expression (no symbols, no sequences) as a 90-digit mpmath
    number, or None when it is outside the grammar, complex, undefined or unstable between 50 and
    90 digits. The rounding policy (rewards.math.compare) uses it for `\\sqrt{17}` vs `4.1231056`."""
    import mpmath

    try:
        node, symbols, ints = parse(s)
        if symbols or ints or _has_sequence(node):
            return None
        low, high = (_values(node, node, {}, 0, dps) for dps in (50, 90))
    except (Unsure, OverflowError):
        return None
    if low is None or high is None or not _close(low[0], high[0], "1e-40"):
        return None
    with mpmath.workdps(100):
        v = high[0]
        if v.imag != 0 and abs(v.imag) > mpmath.mpf("1e-80") * abs(v):
            return None
        return mpmath.mpf(v.real)


def _has_sequence(node) -> bool:
    return isinstance(node, tuple) and (node[0] == "seq" or any(_has_sequence(x) for x in node[1:]))
