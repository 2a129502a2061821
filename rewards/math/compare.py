"""Comparison of two answer trees (step 4 of the `rewards.math` policy) into a `Verdict`.

Scalars go to the exact evaluator (`rewards.math.exact`) first and to the sympy child
(`rewards.math.sympy_client`) only when it cannot decide; everything above them (lists, sets,
tuples, matrices, equations, text) is decided here on the named node types of
`rewards.math.structure`.
"""

from __future__ import annotations

import enum
import functools
import re
import time
from fractions import Fraction

from rewards.math.algebra import Garbage, TooExpensive, Unsupported, equal, proportional, r_add, r_rational
from rewards.math.exact import evaluate
from rewards.math.normalize import compact
from rewards.math.numeric import constant_value
from rewards.math.numeric import decide as numeric_decide
from rewards.math.structure import (
    UNORDERED,
    Bad,
    Equation,
    Matrix,
    Node,
    Relation,
    Scalar,
    Seq,
    Text,
    Words,
    is_named,
    is_symbol,
    structure,
)
from rewards.math.sympy_client import CHILD


class Verdict(enum.Enum):
    EQUAL = "correct"
    DIFFERENT = "wrong"
    HEDGED = "hedged"
    BAD_GOLD = "unparseable_gold"
    TIMEOUT = "timeout"


@functools.lru_cache(maxsize=8192)
def exact_value(s: str):
    """Exact value of a scalar, or the exception instance explaining why there is none."""
    try:
        return evaluate(s)
    except (Unsupported, TooExpensive) as exc:
        return exc


class Ctx:
    """One comparison's budget: the wall-clock deadline, and whether sympy may be asked at all."""

    def __init__(self, timeout_s: float, use_sympy: bool = True):
        self.deadline = time.monotonic() + timeout_s
        self.use_sympy = use_sympy


def gold_problem(node: Node) -> bool:
    """True if the gold tree contains prose, a malformed part or an absurdly large number."""
    if isinstance(node, (Bad, Words)):
        return True
    if isinstance(node, Scalar):
        return isinstance(exact_value(node.text), (Garbage, TooExpensive))
    if isinstance(node, Equation):
        return any(isinstance(exact_value(x), (Garbage, TooExpensive)) for x in (node.lhs, node.rhs))
    if isinstance(node, Seq):
        return any(gold_problem(x) for x in node.items)
    if isinstance(node, Matrix):
        return any(gold_problem(Scalar(c)) for row in node.rows for c in row) or not node.rows
    if isinstance(node, Relation):
        return any(gold_problem(Scalar(t)) for t in node.terms)
    return False


def _combine(verdicts) -> Verdict:
    """All parts must be equal; a definite difference beats a timeout."""
    seen = set()
    for v in verdicts:
        if v in (Verdict.BAD_GOLD, Verdict.DIFFERENT, Verdict.HEDGED):
            return v
        seen.add(v)
    return Verdict.TIMEOUT if Verdict.TIMEOUT in seen else Verdict.EQUAL


_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_LITERAL_RE = re.compile(
    rf"\(?(?:{_NUM}|[-+]?\\frac\{{{_NUM}\}}\{{{_NUM}\}}|{_NUM}/(?:{_NUM}|\({_NUM}\))"
    rf"|[-+]?\(?\d+\+\\frac\{{\d+\}}\{{\d+\}}\)?|(?:{_NUM}\*)?10\^(?:\{{[-+]?\d+\}}|[-+]?\d+))\)?"
)


def _is_literal(s: str) -> bool:
    """A number written out: integer, decimal, fraction, mixed number, scientific notation."""
    return bool(_LITERAL_RE.fullmatch(compact(s)))


# Rounding policy: a decimal with >= 4 significant digits stands for an exact value that it is the
# rounding (half away from zero) or the truncation of, at the decimal's own last place: 4.1231 and
# 4.123105625617661 for \sqrt{17}, 2.6667 and 2.6666 for 8/3, 3.142 for \pi; not 3.14 (3 digits: too
# coarse to tell \pi from 22/7) and never 6.99 for 7 (7 is a decimal at that place, so exact rules: a
# number the decimal can write exactly must be written exactly). Two decimals compare exactly (0.33 is
# not 0.333). Why: datasets and graders state answers "to 4 decimal places" and golds like
# 4.123105625617661; checkers differ (math-verify: 6 decimal places, Qwen2.5-Math / NeMo-Skills: 1e-4
# relative) and this reads the precision from the answer itself, so no fixed tolerance lets 5.001
# pass for 5.
APPROX_MIN_DIGITS = 4
# A gold decimal this long is a float dump (4.123105625617661), not a "give 4 decimal places" answer: its exact closed
# form (\sqrt{17}) matches it. Shorter decimal golds need a number literal (the anti-hacking rule of _cmp_scalar).
APPROX_GOLD_DUMP_DIGITS = 12
# a decimal, optionally in scientific notation (normalize writes \\times as *): 2.3148*10^{-3}
_DECIMAL_RE = re.compile(r"([-+]?)(\d*)\.(\d+)(?:\*10\^(?:\{([-+]?\d{1,3})\}|([-+]?\d)))?")


def _decimal(s: str) -> tuple[Fraction, int, int] | None:
    """(value, places, significant digits) of a decimal literal; places may be negative (1.2*10^5: -4)."""
    m = _DECIMAL_RE.fullmatch(compact(s))
    if not m:
        return None
    sign, whole, frac, k1, k2 = m.groups()
    k = int(k1 or k2 or 0)
    digits = int(whole + frac) * (-1 if sign == "-" else 1)
    return Fraction(digits, 10 ** len(frac)) * Fraction(10) ** k, len(frac) - k, len((whole + frac).lstrip("0"))


def _rounds_to(stated: Fraction, places: int, exact, truncate: bool = True) -> bool | None:
    """Is `stated` the rounding (half away from zero) or truncation of `exact` at `places`? None when `exact`
    is itself a decimal at that place (then it is no approximation case). `exact`: a Fraction or an mpf."""
    scale = Fraction(10) ** places
    target = stated * scale  # an integer
    if isinstance(exact, Fraction):
        scaled = exact * scale
        if scaled.denominator == 1:
            return None
        trunc = int(scaled)  # toward zero
        nearest = trunc + (1 if scaled - trunc >= Fraction(1, 2) else -1 if trunc - scaled >= Fraction(1, 2) else 0)
        return target == nearest or (truncate and target == trunc)
    import mpmath

    with mpmath.workdps(100):
        scaled = exact * mpmath.mpf(scale.numerator) / scale.denominator
        if abs(scaled - mpmath.nint(scaled)) < mpmath.mpf("1e-50"):
            return None  # (numerically) a terminating decimal at this place
        trunc = int(mpmath.floor(scaled) if scaled >= 0 else mpmath.ceil(scaled))
        return target == int(mpmath.nint(scaled)) or (truncate and target == trunc)


def _approximation(g: str, p: str, gv, pv) -> Verdict | None:
    """EQUAL / DIFFERENT when one side is a decimal approximating the other, else None."""
    gd, pd = _decimal(g), _decimal(p)
    if gd and pd:
        # two decimals: equal when the coarser one (>= 4 digits) is the rounding of the finer (3.1416, 3.14159);
        # a coarser prediction may also truncate; a coarser gold is matched only by what rounds to it (3.14169
        # is not 3.1416); never at or above the units digit (1.234*10^4 is not 12345)
        (cv, cp, cs), (fv, fp, _) = sorted((gd, pd), key=lambda d: d[1])
        if 0 < cp < fp and cs >= APPROX_MIN_DIGITS and _rounds_to(cv, cp, fv, truncate=cv == pd[0] and cp == pd[1]):
            return Verdict.EQUAL
        return None
    if not (gd or pd):
        return None
    (value, places, sig), other, ov = (gd, p, pv) if gd else (pd, g, gv)
    if sig < APPROX_MIN_DIGITS or places > 40:
        return None
    if gd and not _is_literal(p) and sig < APPROX_GOLD_DUMP_DIGITS:
        return None  # "to 4 places" golds: \sqrt{17} or 1.1^{10} restates the computation (anti-hacking, below)
    q = r_rational(ov) if not isinstance(ov, Exception) else None
    if q is not None and places <= 0:
        return None  # 1.234*10^4 for 12345: an integer (or a fraction) must be written to a decimal place at least
    exact = q if q is not None else constant_value(other)
    if exact is None:
        return None
    ok = _rounds_to(value, places, exact)
    return None if ok is None else Verdict.EQUAL if ok else Verdict.DIFFERENT


_BASE_RE = re.compile(r"(\d[0-9A-Za-z]{0,63})_\{?\(?(\d{1,2})\)?\}?")


def _in_base(m: re.Match) -> int | None:
    """The value of `digits_base` (`2012_3`, `1F_{16}`), or None for a digit the base does not have."""
    base = int(m.group(2))
    if not 2 <= base <= 36:
        return None
    try:
        return int(m.group(1), base)
    except ValueError:
        return None


def _cmp_scalar(g: str, p: str, ctx: Ctx) -> Verdict:
    gv = exact_value(g)
    if isinstance(gv, (Garbage, TooExpensive)):
        return Verdict.BAD_GOLD
    if compact(g) == compact(p) and not (isinstance(gv, Unsupported) and not gv.known):
        return Verdict.EQUAL
    pv = exact_value(p)
    if isinstance(pv, TooExpensive):
        return Verdict.TIMEOUT
    gb, pb = _BASE_RE.fullmatch(compact(g)), _BASE_RE.fullmatch(compact(p))
    if gb and pb:  # `1112112_3` vs `1112122_3`: numbers written in a base, compared by value
        gn, pn = _in_base(gb), _in_base(pb)
        if gn is not None and pn is not None:
            return Verdict.EQUAL if gn == pn else Verdict.DIFFERENT
    if not isinstance(pv, Garbage):
        approx = _approximation(g, p, gv, pv)
        if approx is not None:
            return approx
    if _is_literal(g) and not _is_literal(p):
        return Verdict.DIFFERENT  # gold is a number: "123*456" or "2^{10}" is not an answer
    if isinstance(pv, Garbage):
        return Verdict.DIFFERENT
    if not isinstance(gv, Exception) and not isinstance(pv, Exception):
        return Verdict.EQUAL if equal(gv, pv) else Verdict.DIFFERENT
    sure = numeric_decide(g, p, ctx.deadline)  # trig, logs, nested radicals: in-process, or None (unsure)
    if sure is not None:
        return Verdict.EQUAL if sure else Verdict.DIFFERENT
    return _ask_sympy("eq", [g, p], ctx)


def _ask_sympy(op: str, args: list[str], ctx: Ctx) -> Verdict:
    if not ctx.use_sympy:
        return Verdict.DIFFERENT
    left = ctx.deadline - time.monotonic()
    if left <= 0:
        return Verdict.TIMEOUT
    reply = CHILD.request(op, args, left)
    if reply is None or reply.get("r") == "error":
        return Verdict.TIMEOUT
    return {"equal": Verdict.EQUAL, "bad_gold": Verdict.BAD_GOLD}.get(reply.get("r"), Verdict.DIFFERENT)


def _cmp_equations(g: Equation, p: Equation, ctx: Ctx) -> Verdict:
    both_symbols = is_symbol(g.lhs) and is_symbol(p.lhs)
    if is_named(g.lhs) and is_named(p.lhs) and (not both_symbols or compact(g.lhs) == compact(p.lhs)):
        try:  # `D = (0, 1)`: the named value may be a tuple, a set, an interval
            return compare(structure(g.rhs), structure(p.rhs), ctx)
        except TooExpensive:
            return Verdict.TIMEOUT
    vals = [exact_value(x) for x in (g.lhs, g.rhs, p.lhs, p.rhs)]
    if any(isinstance(v, (Garbage, TooExpensive)) for v in vals[:2]):
        return Verdict.BAD_GOLD
    if not any(isinstance(v, Exception) for v in vals):
        same = proportional(r_add(vals[0], vals[1], -1), r_add(vals[2], vals[3], -1))
        return Verdict.EQUAL if same else Verdict.DIFFERENT
    return _ask_sympy("eqn", [g.lhs, g.rhs, p.lhs, p.rhs], ctx)


def _cmp_multiset(gi: list, pi: list, ctx: Ctx) -> Verdict:
    if len(pi) > len(gi):
        return Verdict.HEDGED
    if len(pi) < len(gi):
        return Verdict.DIFFERENT
    unused = list(range(len(pi)))
    timed_out = False
    for g in gi:
        for j in unused:
            v = compare(g, pi[j], ctx)
            if v is Verdict.BAD_GOLD:
                return v
            if v is Verdict.EQUAL:
                unused.remove(j)
                break
            timed_out |= v is Verdict.TIMEOUT
        else:
            return Verdict.TIMEOUT if timed_out else Verdict.DIFFERENT
    return Verdict.EQUAL


def _dedupe(items: tuple) -> list:
    out, keys = [], set()
    for it in items:
        if it not in keys:
            keys.add(it)
            out.append(it)
    return out


def _unwrap(node: Node) -> Node:
    """A one-item list / set / union is its item (a one-item tuple stays a tuple)."""
    if isinstance(node, Seq) and node.kind != "tuple" and len(node.items) == 1:
        return node.items[0]
    return node


def _is_unordered(node: Node) -> bool:
    return isinstance(node, Seq) and node.kind in UNORDERED


def _cmp_seqs(g: Seq, p: Seq, ctx: Ctx) -> Verdict:
    if g.kind in UNORDERED and p.kind in UNORDERED:
        gi = _dedupe(g.items) if g.kind == "set" else list(g.items)
        pi = _dedupe(p.items) if p.kind == "set" else list(p.items)
        if len(pi) > len(gi):
            # the same item written twice (`(3,17,3,7)` and `(3, 17, 3, 7)`) is no second answer
            pi = _dedupe(pi)
        return _cmp_multiset(gi, pi, ctx)
    if g.kind == p.kind == "tuple" and (g.opening, g.closing) == (p.opening, p.closing) \
            and len(g.items) == len(p.items):
        return _combine(compare(a, b, ctx) for a, b in zip(g.items, p.items))
    return Verdict.DIFFERENT


def _cmp_matrices(g: Matrix, p: Matrix, ctx: Ctx) -> Verdict:
    if [len(r) for r in g.rows] != [len(r) for r in p.rows]:
        return Verdict.DIFFERENT
    return _combine(_cmp_scalar(a, b, ctx) for ra, rb in zip(g.rows, p.rows) for a, b in zip(ra, rb))


def _true_statement(lhs: str, rhs: str, ctx: Ctx) -> bool:
    """`\\sqrt{4} = 2`, `\\binom{5}{2} = 10`, `\\sin(\\pi/2) = 1`: a computation written out with its result.
    True only when the two sides are provably equal constants (exact evaluator or the numeric path, no
    sympy): then the right side is the stated value. `3 = 2` (provably false) and anything unsure are not."""
    try:
        lhs, rhs = (x.text if isinstance(x, Scalar) else None for x in (structure(lhs), structure(rhs)))
    except TooExpensive:
        return False
    if lhs is None or rhs is None:
        return False
    lv, rv = exact_value(lhs), exact_value(rhs)
    if not isinstance(lv, Exception) and not isinstance(rv, Exception):
        return equal(lv, rv)
    if isinstance(lv, (Garbage, TooExpensive)) or isinstance(rv, (Garbage, TooExpensive)):
        return False
    return constant_value(lhs) is not None and numeric_decide(lhs, rhs, ctx.deadline) is True


_CHOICE_RE = re.compile(r"[A-E]")
_CHOICE_ANSWER_RE = re.compile(r"\(([A-Ea-e])\)\s*[:.]?\s*(?![-+*/^(\\])\S")
_CHOICE_MARK_RE = re.compile(r"\([A-Ea-e]\)")


def _assignments(tup: Node, eqs: Seq, ctx: Ctx, flip: bool = False) -> Verdict | None:
    """`x = 3, y = 4` against the ordered pair `(3, 4)`: the values in written order, one distinct
    symbol each (None when the list is not such assignments; `flip`: the tuple is the prediction)."""
    if not (isinstance(tup, Seq) and tup.kind == "tuple" and tup.opening == "(" and len(tup.items) == len(eqs.items)):
        return None
    names = [compact(e.lhs) for e in eqs.items] if all(isinstance(e, Equation) for e in eqs.items) else []
    # the pair's order is the symbols' own order (x before y, a before b): `y = 3, x = 4` is no `(3, 4)`;
    # an "or" between them offers alternatives, not a pair
    if not names or not all(is_symbol(n) for n in names) or names != sorted(set(names)) or eqs.opening == "or":
        return None
    try:
        values = [structure(e.rhs) for e in eqs.items]
    except TooExpensive:
        return Verdict.TIMEOUT
    pairs = zip(values, tup.items) if flip else zip(tup.items, values)  # (gold side, predicted side)
    return _combine(compare(g, p, ctx) for g, p in pairs)


def compare(g: Node, p: Node, ctx: Ctx) -> Verdict:
    """Verdict for gold tree `g` against predicted tree `p`."""
    g, p = _unwrap(g), _unwrap(p)
    if isinstance(g, Bad):
        return Verdict.BAD_GOLD
    if isinstance(p, Bad):
        return Verdict.DIFFERENT
    if _is_unordered(p) and len(p.items) > 1 and not _is_unordered(g):
        items = _dedupe(p.items)  # `x = 4 \text{ or } x = 4` says one thing
        if len(items) > 1:
            return _assignments(g, p, ctx) or Verdict.HEDGED
        p = items[0]
    if _is_unordered(g) and len(g.items) > 1 and isinstance(p, Seq) and p.kind == "tuple":
        return _assignments(p, g, ctx, flip=True) or Verdict.DIFFERENT
    if isinstance(g, Scalar) and isinstance(p, Scalar) and _CHOICE_RE.fullmatch(g.text):
        # `(C) 5`, `c`: the letter (a lone `e` stays Euler's number)
        m = (_CHOICE_ANSWER_RE.match(p.text) if len(_CHOICE_MARK_RE.findall(p.text)) == 1 else None) \
            or re.fullmatch(r"([a-d])", p.text)  # one letter only: `(C)(D)` or an options list is no answer
        if m:
            return Verdict.EQUAL if m.group(1).upper() == g.text.upper() else Verdict.DIFFERENT
    if isinstance(g, Text) or isinstance(p, (Text, Words)):
        same = isinstance(g, Text) and isinstance(p, (Text, Words)) and g.value == p.value
        return Verdict.EQUAL if same else Verdict.DIFFERENT
    if isinstance(g, Seq) and isinstance(p, Seq):
        return _cmp_seqs(g, p, ctx)
    if isinstance(g, Matrix) and isinstance(p, Matrix):
        return _cmp_matrices(g, p, ctx)
    if isinstance(g, Equation) and isinstance(p, Equation):
        return _cmp_equations(g, p, ctx)
    if isinstance(g, Relation) and isinstance(p, Relation):
        if g.ops != p.ops:
            return Verdict.DIFFERENT
        return _combine(_cmp_scalar(a, b, ctx) for a, b in zip(g.terms, p.terms))
    if isinstance(g, Equation) != isinstance(p, Equation):
        # `x = 5` against `5`, `(p,q) = (3,2)` against `(3,2)`: the named side's value is the answer
        eq, other = (g, p) if isinstance(g, Equation) else (p, g)
        if not is_named(eq.lhs) and not _true_statement(eq.lhs, eq.rhs, ctx):
            return Verdict.DIFFERENT  # `3 = 2`, `x + 1 = 2`: no value stated (`\\sqrt{4} = 2` states 2)
        try:
            value = structure(eq.rhs)
        except TooExpensive:
            return Verdict.TIMEOUT
        if isinstance(value, Equation):
            return Verdict.DIFFERENT
        return compare(value, other, ctx) if eq is g else compare(other, value, ctx)
    if isinstance(g, Scalar) and isinstance(p, Scalar):
        return _cmp_scalar(g.text, p.text, ctx)
    return Verdict.DIFFERENT
