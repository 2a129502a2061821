"""Comparison trees: a normalised answer parsed into named nodes (step 3 of the `rewards.math` policy).

`structure(s)` turns the output of `rewards.math.normalize.normalize` into one of the node types
below; `rewards.math.compare` walks two such trees. Nodes are frozen dataclasses, so equal nodes
of the same type compare and hash equal (sets use that to dedupe), and nodes of different types
never compare equal even when their fields do (`Text("x") != Scalar("x")`).
"""

from __future__ import annotations

import dataclasses
import functools
import re

from rewards.math.algebra import TooExpensive, Unsupported, equal, r_rational
from rewards.math.exact import KNOWN_FUNCTIONS, evaluate
from rewards.math.normalize import compact, split_top, top_level_span

# ------------------------------------------------------------------------------------ node types


@dataclasses.dataclass(frozen=True)
class Scalar:
    """One expression, compared by value (exact evaluator, then sympy)."""

    text: str  # the normalised expression, e.g. "\\frac{1}{2}" or "3x-2"


@dataclasses.dataclass(frozen=True)
class Text:
    """A text answer (a word of 3+ letters, yes/no, a `\\text{}` phrase); compared case-insensitively."""

    value: str  # lower-cased, runs of whitespace collapsed to one space


@dataclasses.dataclass(frozen=True)
class Words:
    """Several plain words: prose. A text answer when predicted; a data error as a gold."""

    value: str  # lower-cased, runs of whitespace collapsed to one space


@dataclasses.dataclass(frozen=True)
class Matrix:
    """A `\\begin{pmatrix}`-like environment: compared by shape and then cell by cell."""

    rows: tuple[tuple[str, ...], ...]  # the cells of each non-empty row, stripped, unevaluated


@dataclasses.dataclass(frozen=True)
class Seq:
    """Several items: an unordered list / set / union, or an ordered tuple / interval."""

    kind: str  # "list" (top-level , ; or and, and \\pm), "set" (\\{..\\}), "union" (\\cup), "tuple"
    items: tuple  # the child nodes, in written order
    opening: str = ""  # "tuple" only: "(", "[" or "<" (\\langle); must match exactly
    closing: str = ""  # "tuple" only: ")", "]" or ">" (\\rangle); must match exactly


@dataclasses.dataclass(frozen=True)
class Equation:
    """`lhs = rhs` (for `a = b = c`, the last two sides; the earlier ones are symbols)."""

    lhs: str  # left side, normalised text
    rhs: str  # right side, normalised text


@dataclasses.dataclass(frozen=True)
class Relation:
    """A chain of relations that is no interval of one variable (`f(2) < f(1) < f(4)`), written
    ascending: a `>` chain is reversed, so `c > b > a` and `a < b < c` are one node."""

    terms: tuple[str, ...]  # the sides, normalised text, smallest first
    ops: tuple[str, ...]  # "<" or "\\le" between consecutive terms (len(terms) - 1 of them)


@dataclasses.dataclass(frozen=True)
class Bad:
    """Malformed: an unreadable inequality or equation, several \\pm. Never equal to anything."""


Node = Scalar | Text | Words | Matrix | Seq | Equation | Relation | Bad
UNORDERED = ("list", "set", "union")  # Seq kinds compared as multisets

# --------------------------------------------------------------------------------------- symbols

_SYMBOL = r"(?:[a-zA-Z]|\\[a-zA-Z]+)(?:_\{?[a-zA-Z0-9]+\}?)?"
_SYMBOL_RE = re.compile(_SYMBOL)
_REL_RE = re.compile(r"(\\le |\\ge |\\le$|\\ge$|<|>)")
_MATRIX_RE = re.compile(r"\\begin\{([pbBvV]?matrix|smallmatrix|array)\}(\{[^{}]*\})?(.*)\\end\{\1\}", re.S)
_TEXT_WORDS = frozenset({"yes", "no"})
_SET_BUILDER_RE = re.compile(r"\\\{\s*(" + _SYMBOL + r")\s*(?:\\in\s*([^|:]+?))?\s*(?:\\mid|\||:)\s*(.+?)\s*\\\}")


def is_symbol(s: str) -> bool:
    return bool(_SYMBOL_RE.fullmatch(s.strip())) and s.strip() not in ("\\pi", "\\infty")


_NAMED_LHS_RE = re.compile(r"[a-zA-Z](?:\^\{?-1\}?)?\s*\(\s*[a-zA-Z]\s*\)")
# Geometric names: `AB`, `|AB|`, `\\frac{NO}{BO}`, `S_{MBCN}:S` (no digits outside subscripts).
_NAME = r"(?:[A-Za-z]{1,4}|\\[a-zA-Z]+)(?:_\{?[a-zA-Z0-9]+\}?)?"
_GEOM_LHS_RE = re.compile(
    rf"{_NAME}|\|{_NAME}\||\\frac\{{{_NAME}\}}\{{{_NAME}\}}|{_NAME}\s*:\s*{_NAME}|"
    rf"(?:m\s*)?\\(?:angle|measuredangle)\s*{_NAME}|\\overline\{{{_NAME}\}}|"
    rf"\(\s*{_SYMBOL}(?:\s*,\s*{_SYMBOL})+\s*\)"
)


def is_named(s: str) -> bool:
    """Left side that names the answer: `x`, `a_1`, `\\theta`, `f(x)`, `f^{-1}(x)`, `AB`, `|AB|`,
    `\\frac{NO}{BO}`, `V_1:V_2`, `(p,q)`."""
    s = s.strip()
    return (is_symbol(s) or bool(_NAMED_LHS_RE.fullmatch(s)) or bool(_GEOM_LHS_RE.fullmatch(s))) \
        and s not in ("\\pi", "\\infty", "e", "i")


def _interval(lo: str, hi: str, opening: str, closing: str) -> Seq:
    return Seq("tuple", (Scalar(lo), Scalar(hi)), opening, closing)


# ------------------------------------------------------------------------------------- structure

@functools.lru_cache(maxsize=4096)
def structure(s: str, depth: int = 0) -> Node:
    """Parse a normalised answer into a comparison tree (see the `rewards.math` docstring)."""
    s = s.strip()
    if depth > 6:
        raise TooExpensive("nested too deep")
    m = re.fullmatch(r"\\text\{([A-Za-z ]+)\}", s)
    if m or (re.fullmatch(r"[A-Za-z]{3,}", s) and s.lower() not in KNOWN_FUNCTIONS) \
            or s.lower() in _TEXT_WORDS:
        return Text(" ".join((m.group(1) if m else s).lower().split()))
    if re.fullmatch(r"[A-Za-z]+(?: [A-Za-z]+){1,7}", s) and re.search(r"[A-Za-z]{3}", s):
        return Words(" ".join(s.lower().split()))  # prose: a text answer only for a pred
    m = _MATRIX_RE.fullmatch(s)
    if m:
        rows = [r for r in re.split(r"\\\\", m.group(3)) if r.strip() or False]
        return Matrix(tuple(tuple(c.strip() for c in r.split("&")) for r in rows))
    parts = [p for p in split_top(s, (",", ";", " or ", " and ")) if p]
    if len(parts) > 1:
        # opening "or": the items were offered as alternatives (compared like any list; never read as a pair)
        joiner = "or" if len(split_top(s, (" or ",))) > 1 else ""
        return Seq("list", _flat(structure(p, depth + 1) for p in parts), joiner)
    parts = split_top(s, ("\\cup",))
    if len(parts) > 1:
        return Seq("union", tuple(structure(p, depth + 1) for p in parts))
    return _structure_single(s, depth)


def _structure_single(s: str, depth: int) -> Node:
    if s in ("\\emptyset", "\\{\\}"):
        return Seq("set", ())
    if s.startswith("\\{") and s.endswith("\\}"):
        m = _SET_BUILDER_RE.fullmatch(s)
        if m:  # `\{x \mid x > 2\}`, `\{x : x \ne 3\}`: the set its condition describes
            domain, cond = m.group(2), m.group(3)
            if (domain and compact(domain) != "(-\\infty,\\infty)") or not re.search(
                    r"(?<![A-Za-z\\])" + re.escape(m.group(1)) + r"(?![A-Za-z])", cond):
                return Bad()  # a domain (`x \in \mathbb{Z}`) changes the set; a condition must be about x
            return structure(cond, depth + 1)
        items = [p for p in split_top(s[2:-2], (",", ";")) if p]
        return Seq("set", tuple(structure(p, depth + 1) for p in items))
    if s.startswith("{") and s.endswith("}") and top_level_span(s) and len(split_top(s[1:-1], (",",))) == 1:
        return structure(s[1:-1], depth + 1)  # `{5}`: a LaTeX group around the whole answer
    if s.startswith("{") and s.endswith("}") and top_level_span(s) and len(split_top(s[1:-1], (",",))) > 1:
        # `{1,2,3}`: a set whose braces lost their backslash (`$${1,2,3}$$` in datasets)
        items = [p for p in split_top(s[1:-1], (",", ";")) if p]
        return Seq("set", tuple(structure(p, depth + 1) for p in items))
    if s[:1] in "([" and s[-1:] in ")]" and top_level_span(s):
        if _MATRIX_RE.fullmatch(s[1:-1].strip()):
            return structure(s[1:-1].strip(), depth + 1)  # `\\left[\\begin{array}..\\right]`
        items = split_top(s[1:-1], (",",))
        if len(items) == 1:  # `(0;-2;6)`: semicolons separate the coordinates where commas are decimal marks
            items = split_top(s[1:-1], (";",))
        if len(items) == 1:  # `(5)`, `[45]`: one bracketed item is that item (`[1, 2)` has two)
            return structure(s[1:-1], depth + 1) if (s[0], s[-1]) in (("(", ")"), ("[", "]")) else Scalar(s)
        return Seq("tuple", tuple(structure(p, depth + 1) for p in items), s[0], s[-1])
    if s.startswith("\\langle") and s.endswith("\\rangle"):
        items = split_top(s[len("\\langle"):-len("\\rangle")], (",",))
        return Seq("tuple", tuple(structure(p, depth + 1) for p in items), "<", ">")
    m = re.match(r"^" + _SYMBOL + r"\s*\\in\s+(.+)$", s)
    if m:
        return structure(m.group(1), depth + 1)
    if "\\pm" in s:
        # `x = \frac{-1 \pm \sqrt{13}}{4}`, `\pm 3` (normalize writes `\mp` as `\pm`): both values, a
        # two-item list (one gold value against it is a hedge, both are the answer), inside an equation too
        if s.count("\\pm") > 1:
            return Bad()
        return Seq("list", (structure(s.replace("\\pm", "+"), depth + 1), structure(s.replace("\\pm", "-"), depth + 1)))
    masked = _mask(s)
    m = re.fullmatch(r"\s*(" + _SYMBOL + r")\s*\\ne\s+(.+)", s)
    if m and not _REL_RE.search(masked):  # x \ne a: everything but a
        bound = m.group(2).strip()
        return Seq("union", (_interval("-\\infty", bound, "(", ")"), _interval(bound, "\\infty", "(", ")")))
    if _REL_RE.search(masked):
        return _inequality(s, masked)
    if "=" in masked:
        sides = [p.strip() for p in _split_at(s, [m.start() for m in re.finditer("=", masked)], 1)]
        if not all(sides):
            return Bad()
        if len(sides) > 2 and is_named(sides[0]):
            # `x = 5+5+1 = 11`: a named chain's answer is its last side (the middle is working),
            # unless a middle side provably differs from it: `x = 3 = 2` is a false statement
            if any(_provably_different(mid, sides[-1]) for mid in sides[1:-1]):
                return Bad()
            return Equation(sides[0], sides[-1])
        if len(sides) > 2 and not all(is_symbol(p) for p in sides[:-2]):
            return Bad()
        return Equation(sides[-2], sides[-1])
    if ":" in masked:
        # times and ratios, `12:00`, `7:32`: an ordered tuple, never one number
        parts = [p.strip() for p in _split_at(s, [m.start() for m in re.finditer(":", masked)], 1)]
        if not all(parts):
            return Bad()
        return Seq("tuple", tuple(structure(p, depth + 1) for p in parts), ":", ":")
    return Scalar(s)


def _flat(items) -> tuple:
    """Items of a list; a `\\pm` item's two values join the list (`x = 1, x = 2 \\pm \\sqrt{3}` has 3)."""
    out: list = []
    for it in items:
        out.extend(it.items if isinstance(it, Seq) and it.kind == "list" else (it,))
    return tuple(out)


def _provably_different(a: str, b: str) -> bool:
    """True when the exact evaluator computes both values and they differ (cheap: no sympy)."""
    try:
        return not equal(evaluate(a), evaluate(b))
    except (Unsupported, TooExpensive):
        return False


def _mask(s: str) -> str:
    """`s` with everything inside brackets replaced by '#' (same length, brackets kept)."""
    out, depth = [], 0
    for c in s:
        if c in ")]}":
            depth -= 1
        out.append(c if depth <= 0 else "#")
        if c in "([{":
            depth += 1
    return "".join(out)


def _split_at(s: str, positions: list[int], width: int) -> list[str]:
    parts, start = [], 0
    for pos in positions:
        parts.append(s[start:pos])
        start = pos + width
    return parts + [s[start:]]


def _negate(t: str) -> str:
    """-t, written as a plain number when t is one (so that number-literal golds still match)."""
    if re.fullmatch(r"-?\s*(?:\d+(?:\.\d+)?|\\frac\{\d+\}\{\d+\})", t):
        return t.lstrip("-").strip() if t.startswith("-") else "-" + t
    return f"-({t})"


_ABS_RE = re.compile(r"\|\s*(" + _SYMBOL + r")\s*\|")
_FLIP = {"<": ">", ">": "<", "\\le": "\\ge", "\\ge": "\\le"}


def _sign(t: str) -> int | None:
    """-1, 0 or 1 for a rational bound, None when the exact evaluator cannot tell."""
    try:
        v = r_rational(evaluate(t))
    except (Unsupported, TooExpensive):
        return None
    return None if v is None else (v > 0) - (v < 0)


def _abs_inequality(terms: list[str], ops: list[str]) -> Node | None:
    """`|x| < a`, `|x| \\ge a`, `1 \\le |z| \\le 3/2` (bounds >= 0) as the interval or union of two
    intervals they describe; None when no side is `|symbol|`; Bad() when a bound's sign is unknown."""
    if len(terms) == 2 and _ABS_RE.fullmatch(terms[1]) and not _ABS_RE.fullmatch(terms[0]):
        terms, ops = terms[::-1], [_FLIP[ops[0]]]
    if len(terms) == 2 and _ABS_RE.fullmatch(terms[0]):
        a, closed, below = terms[1], ops[0] in ("\\le", "\\ge"), ops[0] in ("<", "\\le")
        if _sign(a) != 1:
            return Bad()
        if below:  # |x| < a: (-a, a)
            return _interval(_negate(a), a, "[" if closed else "(", "]" if closed else ")")
        return Seq("union", (_interval("-\\infty", _negate(a), "(", "]" if closed else ")"),
                             _interval(a, "\\infty", "[" if closed else "(", ")")))
    if len(terms) == 3 and _ABS_RE.fullmatch(terms[1]):
        if ops[0] in (">", "\\ge") and ops[1] in (">", "\\ge"):
            terms, ops = terms[::-1], [_FLIP[ops[1]], _FLIP[ops[0]]]
        if ops[0] not in ("<", "\\le") or ops[1] not in ("<", "\\le"):
            return Bad()
        lo, hi, c_lo, c_hi = terms[0], terms[2], ops[0] == "\\le", ops[1] == "\\le"
        sign = _sign(lo)
        if sign is None or sign < 0:
            return Bad()
        if sign == 0 and c_lo:  # 0 <= |x| < b: (-b, b)
            return _interval(_negate(hi), hi, "[" if c_hi else "(", "]" if c_hi else ")")
        return Seq("union", (_interval(_negate(hi), _negate(lo), "[" if c_hi else "(", "]" if c_lo else ")"),
                             _interval(lo, hi, "[" if c_lo else "(", "]" if c_hi else ")")))
    return None


def _relation(terms: list[str], ops: list[str]) -> Node:
    """A chain of one direction between expressions, ascending; mixed directions are Bad()."""
    if all(op in ("<", "\\le") for op in ops):
        return Relation(tuple(terms), tuple(ops))
    if all(op in (">", "\\ge") for op in ops):
        return Relation(tuple(terms[::-1]), tuple(_FLIP[op] for op in ops[::-1]))
    return Bad()


def _inequality(s: str, masked: str) -> Node:
    """x > a, a \\le x, a < x \\le b  ->  interval tuples; |x| bounds -> intervals or unions; other
    chains of one direction -> Relation; anything else -> Bad()."""
    rels = list(_REL_RE.finditer(masked))
    ops = [m.group(0).strip() for m in rels]
    terms, start = [], 0
    for m in rels:
        terms.append(s[start:m.start()].strip())
        start = m.end()
    terms.append(s[start:].strip())
    if not all(terms):
        return Bad()
    absolute = _abs_inequality(terms, ops)
    if absolute is not None:
        return absolute
    up = [op in ("<", "\\le") for op in ops]
    closed = [op in ("\\le", "\\ge") for op in ops]
    if len(terms) == 2:
        if is_symbol(terms[0]) and not is_symbol(terms[1]):
            bound, c = terms[1], closed[0]
            if up[0]:  # x < b
                return _interval("-\\infty", bound, "(", "]" if c else ")")
            return _interval(bound, "\\infty", "[" if c else "(", ")")
        neg = re.fullmatch(r"-\s*(" + _SYMBOL + ")", terms[0])
        if neg and not is_symbol(terms[1]):  # -x > -1  ->  x < -(-1)
            flipped = _FLIP[ops[0]]
            flipped_s = f"{neg.group(1)} {flipped} {_negate(terms[1])}"
            return _inequality(flipped_s, _mask(flipped_s))
        if is_symbol(terms[1]) and not is_symbol(terms[0]):
            flipped = _FLIP[ops[0]]
            flipped_s = f"{terms[1]} {flipped} {terms[0]}"
            return _inequality(flipped_s, _mask(flipped_s))
    if len(terms) == 3 and is_named(terms[1]) and up[0] == up[1]:
        lo, hi, c_lo, c_hi = terms[0], terms[2], closed[0], closed[1]
        if not up[0]:
            lo, hi, c_lo, c_hi = hi, lo, c_hi, c_lo
        return _interval(lo, hi, "[" if c_lo else "(", "]" if c_hi else ")")
    return _relation(terms, ops)
