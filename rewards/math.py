"""Math answer verification: extraction, equivalence and the 0/1 reward.

Public API: `extract_answer(completion)`, `is_equivalent(gold, pred, timeout_s)`,
`score(completion, gold, *, require_format, timeout_s) -> RewardResult`, `warmup()`.

Pipeline (cheapest first; most pairs never touch sympy, and importing this module does not
import sympy):
 1. size guards: a predicted answer over 1,000 characters or nested over 40 brackets deep is not
    examined (verdict `timeout`); a gold like that is a data error (`unparseable_gold`).
 2. string normalisation (rewards.math_normalize.normalize), the documented policy:
    - delimiters `$..$`, `$$..$$`, `\\(..\\)`, `\\[..\\]` are removed; one `\\boxed{}`/`\\fbox{}`
      with nothing or prose / `x =` around it is replaced by its content (with math around it,
      `\\boxed{6}^2`, by a plain group); several *different* boxes -> hedged (gold: data error);
    - `\\left`, `\\right`, `\\!`, `\\,`, `\\;`, `\\quad`, `\\displaystyle`, sizing commands removed;
      `\\dfrac`/`\\tfrac` -> `\\frac`, `\\frac34` -> `\\frac{3}{4}`, `\\sqrt3` -> `\\sqrt{3}`,
      a doubled backslash before a known command (`\\\\frac`, JSON double-escaping) -> single;
    - degrees (`^\\circ`, `°`), percent signs (`\\%`, `%`: 10% == 10, *not* 0.1) and dollar signs
      are dropped; a trailing `.`/`,`/`\\` is dropped; anything after `\\approx` is dropped;
    - `\\text{}`-like wrappers (`\\text`, `\\mathrm`, `\\textbf`, `\\mbox`, ...): the whole answer ->
      its content (a multi-word `\\text{}` answer stays text); a trailing `\\text{..}` after math
      is a unit and dropped unless it contains digits; `\\text{and}` -> `,`, `\\text{or}` -> `or`;
    - plain trailing unit words after a number are dropped ("72 degrees", "64 square feet",
      "5 cm") - never `or`/`and`/`pi`/... and never 1-2 letter words other than common units;
    - thousands separators are removed only when the whole answer (or the right side of `x =`)
      is one number written with 3-digit groups (`7,425,000`, `7{,}425`, `7\\,425`); otherwise a
      comma separates list items; `918\\frac{1}{2}` with a proper fraction is a mixed number;
    - `(C)` -> `C` (multiple choice).
 3. structure: top-level `,` `;` `or` `and` make an *unordered* list (a multiset; MATH's "enter
    all solutions separated by commas"); `\\{..\\}` is a set; `(..)`, `[..]`, `\\langle..\\rangle`
    with commas are ordered tuples / intervals whose brackets must match exactly; `\\cup` joins
    intervals (compared as an unordered union, not merged); `x > 2`, `1 \\le x < 3`, `x \\in (1,2]`
    become intervals; `\\pm` expands to two list items; `\\begin{pmatrix}` etc. are matrices (shape
    and cells); `y = expr` whose left side names the answer (`x`, `a_1`, `f(x)`, `f^{-1}(x)`)
    equals `expr`; `x = 1` vs `y = 1` differ; other equations are equal when lhs - rhs agree up
    to a non-zero rational factor (`x+y=1` == `2x+2y=2`); `3 = 2` never equals 2.
    A predicted list with more items than the gold (e.g. "1 or 2", `\\pm 2`, `1, 2` for gold 1)
    is `hedged`; text answers (a word of 3+ letters, yes/no, a multi-word `\\text{}`) compare
    case-insensitively as text.
 4. scalars: equal normalised strings -> equal (if the gold is not prose); else the exact
    evaluator (rewards.math_exact: rationals, decimals (exact: 0.1 = 1/10, never a float), mixed
    numbers, radicals, i, pi, e, polynomials and rational functions, factorials, binomials) decides
    exactly: 1/2^99 != 1/2^98, pi != 3.141593; else sympy in a killable child process
    (rewards.math_sympy: latex2sympy2_extended, 40-digit evaluation, random-point identity test).
    No tolerance anywhere except sympy's numeric checks (40 digits, 1e-25 relative), and a long
    decimal (denominator > 10^12) never equals an irrational there without an exact proof.
    Anti-hacking: when the gold is a number literal (integer, decimal, fraction, mixed number,
    a*10^k, 10^k), the prediction must be a number literal too: restating the computation ("123*456",
    "2^{10}", "\\sqrt{25}", "5!") for gold 56088 / 1024 / 5 / 120 is `wrong`.
 Gold that is prose or does not parse -> `unparseable_gold`, never reward 1.

Extraction (`score`): text inside <think>...</think> is ignored (an unclosed <think> hides the
rest); then the last complete <answer>...</answer>, else the last \\boxed{}, else the text after
the last "The answer is" / "Final answer:". Several different <answer> blocks or boxes (not
provably equal) -> `hedged`. `require_format=True` needs </think> followed by an <answer> block.
"""

from __future__ import annotations

import enum
import functools
import re
import time

from rewards import math_exact as mx
from rewards.base import RewardResult
from rewards.math_normalize import (
    AmbiguousAnswer, balanced, compact, find_boxed, max_depth, normalize, split_top, top_level_span,
)
from rewards.math_sympy import CHILD

MAX_PRED_CHARS = 1_000
MAX_GOLD_CHARS = 4_000
MAX_DEPTH = 40


class Verdict(enum.Enum):
    EQUAL = "correct"
    DIFFERENT = "wrong"
    HEDGED = "hedged"
    BAD_GOLD = "unparseable_gold"
    TIMEOUT = "timeout"


def warmup(wait: bool = False) -> None:
    """Start the sympy child of this process early (pool workers call this once)."""
    CHILD.warmup(wait=wait)


# ------------------------------------------------------------------------------------ extraction

_PHRASE_RE = re.compile(r"(?i)(?:final answer|the answer is)\s*(?:is\b)?\s*[:：]?\s*")
_SENTENCE_END_RE = re.compile(r"\.(?=\s|$)|\n")


def _visible(text: str) -> str:
    """The part of a completion outside <think>...</think> (an unclosed <think> hides the rest)."""
    if "</think>" in text:
        return text.rsplit("</think>", 1)[1]
    if "<think>" in text:
        return text.split("<think>", 1)[0]
    return text


def _phrase_answer(text: str) -> str | None:
    starts = [m.end() for m in _PHRASE_RE.finditer(text)]
    if not starts:
        return None
    rest = text[starts[-1]:]
    cut = _SENTENCE_END_RE.search(rest)
    answer = (rest[:cut.start()] if cut else rest).strip().strip("*").strip()
    return answer or None


def _answer_tags(text: str) -> list[str]:
    """Contents of complete <answer>...</answer> blocks, in order (linear scan)."""
    out, pos = [], 0
    while True:
        start = text.find("<answer>", pos)
        if start == -1:
            return out
        end = text.find("</answer>", start + 8)
        if end == -1:
            return out
        out.append(text[start + 8:end])
        pos = end + 9


def _candidates(completion: str) -> tuple[list[str], str]:
    """All final-answer candidates outside <think>, in order, and where they came from."""
    visible = _visible(completion)
    tags = _answer_tags(visible)
    if tags:
        return [t.strip() for t in tags], "answer_tag"
    boxes = find_boxed(visible)
    if boxes:
        return [b[2].strip() for b in boxes], "boxed"
    phrase = _phrase_answer(visible)
    return ([phrase], "phrase") if phrase else ([], "none")


def extract_answer(completion: str) -> str | None:
    """R1 `<answer>` block (after </think>), else the last \\boxed{} outside <think>, else the text
    after "The answer is" / "Final answer:". None if there is none."""
    if not completion:
        return None
    cands, _ = _candidates(completion)
    return cands[-1] if cands and cands[-1] else None


# ------------------------------------------------------------------------------------- structure

_SYMBOL = r"(?:[a-zA-Z]|\\[a-zA-Z]+)(?:_\{?[a-zA-Z0-9]+\}?)?"
_SYMBOL_RE = re.compile(_SYMBOL)
_REL_RE = re.compile(r"(\\le |\\ge |\\le$|\\ge$|<|>)")
_MATRIX_RE = re.compile(r"\\begin\{([pbBvV]?matrix|smallmatrix|array)\}(\{[^{}]*\})?(.*)\\end\{\1\}", re.S)
_TEXT_WORDS = frozenset({"yes", "no"})


def _is_symbol(s: str) -> bool:
    return bool(_SYMBOL_RE.fullmatch(s.strip())) and s.strip() not in ("\\pi", "\\infty")


_NAMED_LHS_RE = re.compile(r"[a-zA-Z](?:\^\{?-1\}?)?\s*\(\s*[a-zA-Z]\s*\)")


def _is_named(s: str) -> bool:
    """Left side that names the answer: `x`, `a_1`, `\\theta`, `f(x)`, `f^{-1}(x)`."""
    return _is_symbol(s) or bool(_NAMED_LHS_RE.fullmatch(s.strip()))


def _seq(kind: str, items: list, opening: str = "", closing: str = "") -> tuple:
    return ("seq", kind, opening, closing, tuple(items))


@functools.lru_cache(maxsize=4096)
def structure(s: str, depth: int = 0) -> tuple:
    """Parse a normalised answer into a comparison tree (see the module docstring)."""
    s = s.strip()
    if depth > 6:
        raise mx.TooExpensive("nested too deep")
    m = re.fullmatch(r"\\text\{([A-Za-z ]+)\}", s)
    if m or (re.fullmatch(r"[A-Za-z]{3,}", s) and s.lower() not in mx.KNOWN_FUNCTIONS) \
            or s.lower() in _TEXT_WORDS:
        return ("text", " ".join((m.group(1) if m else s).lower().split()))
    if re.fullmatch(r"[A-Za-z]+(?: [A-Za-z]+){1,7}", s) and re.search(r"[A-Za-z]{3}", s):
        return ("words", " ".join(s.lower().split()))  # prose: a text answer only for a pred
    m = _MATRIX_RE.fullmatch(s)
    if m:
        rows = [r for r in re.split(r"\\\\", m.group(3)) if r.strip() or False]
        return ("matrix", tuple(tuple(c.strip() for c in r.split("&")) for r in rows))
    parts = [p for p in split_top(s, (",", ";", " or ", " and ")) if p]
    if len(parts) > 1:
        return _seq("list", [structure(p, depth + 1) for p in parts])
    parts = split_top(s, ("\\cup",))
    if len(parts) > 1:
        return _seq("union", [structure(p, depth + 1) for p in parts])
    return _structure_single(s, depth)


def _structure_single(s: str, depth: int) -> tuple:
    if s in ("\\emptyset", "\\{\\}"):
        return _seq("set", [])
    if s.startswith("\\{") and s.endswith("\\}"):
        items = [p for p in split_top(s[2:-2], (",", ";")) if p]
        return _seq("set", [structure(p, depth + 1) for p in items])
    if s[:1] in "([" and s[-1:] in ")]" and top_level_span(s):
        items = split_top(s[1:-1], (",",))
        if len(items) == 1:
            return structure(s[1:-1], depth + 1) if s[0] == "(" and s[-1] == ")" else ("scalar", s)
        return _seq("tuple", [structure(p, depth + 1) for p in items], s[0], s[-1])
    if s.startswith("\\langle") and s.endswith("\\rangle"):
        items = split_top(s[len("\\langle"):-len("\\rangle")], (",",))
        return _seq("tuple", [structure(p, depth + 1) for p in items], "<", ">")
    m = re.match(r"^" + _SYMBOL + r"\s*\\in\s+(.+)$", s)
    if m:
        return structure(m.group(1), depth + 1)
    masked = _mask(s)
    if _REL_RE.search(masked):
        return _inequality(s, masked)
    if "=" in masked:
        sides = [p.strip() for p in _split_at(s, [m.start() for m in re.finditer("=", masked)], 1)]
        if len(sides) > 2 and not all(_is_symbol(p) for p in sides[:-2]):
            return ("bad",)
        return ("eq", sides[-2], sides[-1]) if all(sides) else ("bad",)
    if "\\pm" in s:
        if s.count("\\pm") > 1:
            return ("bad",)
        return _seq("list", [("scalar", s.replace("\\pm", "+")), ("scalar", s.replace("\\pm", "-"))])
    return ("scalar", s)


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


def _inequality(s: str, masked: str) -> tuple:
    """x > a, a \\le x, a < x \\le b  ->  interval tuples; anything else -> ("bad",)."""
    rels = list(_REL_RE.finditer(masked))
    ops = [m.group(0).strip() for m in rels]
    terms, start = [], 0
    for m in rels:
        terms.append(s[start:m.start()].strip())
        start = m.end()
    terms.append(s[start:].strip())
    if not all(terms):
        return ("bad",)
    up = [op in ("<", "\\le") for op in ops]
    closed = [op in ("\\le", "\\ge") for op in ops]
    if len(terms) == 2:
        if _is_symbol(terms[0]) and not _is_symbol(terms[1]):
            lo_hi_up = up[0]
            bound, c = terms[1], closed[0]
            if lo_hi_up:  # x < b
                return _seq("tuple", [("scalar", "-\\infty"), ("scalar", bound)], "(", "]" if c else ")")
            return _seq("tuple", [("scalar", bound), ("scalar", "\\infty")], "[" if c else "(", ")")
        if _is_symbol(terms[1]) and not _is_symbol(terms[0]):
            flipped = {"<": ">", ">": "<", "\\le": "\\ge", "\\ge": "\\le"}[ops[0]]
            flipped_s = f"{terms[1]} {flipped} {terms[0]}"
            return _inequality(flipped_s, _mask(flipped_s))
    if len(terms) == 3 and _is_symbol(terms[1]) and up[0] == up[1]:
        lo, hi, c_lo, c_hi = terms[0], terms[2], closed[0], closed[1]
        if not up[0]:
            lo, hi, c_lo, c_hi = hi, lo, c_hi, c_lo
        return _seq("tuple", [("scalar", lo), ("scalar", hi)], "[" if c_lo else "(", "]" if c_hi else ")")
    return ("bad",)


# ------------------------------------------------------------------------------------ comparison

@functools.lru_cache(maxsize=8192)
def _exact(s: str):
    """Exact value of a scalar, or the exception instance explaining why there is none."""
    try:
        return mx.evaluate(s)
    except (mx.Unsupported, mx.TooExpensive) as exc:
        return exc


class _Ctx:
    def __init__(self, timeout_s: float, use_sympy: bool = True):
        self.deadline = time.monotonic() + timeout_s
        self.use_sympy = use_sympy


def _gold_problem(node: tuple) -> bool:
    """True if the gold tree contains prose, a malformed part or an absurdly large number."""
    kind = node[0]
    if kind in ("bad", "words"):
        return True
    if kind == "scalar":
        return isinstance(_exact(node[1]), (mx.Garbage, mx.TooExpensive))
    if kind == "eq":
        return any(isinstance(_exact(x), (mx.Garbage, mx.TooExpensive)) for x in node[1:])
    if kind == "seq":
        return any(_gold_problem(x) for x in node[4])
    if kind == "matrix":
        return any(_gold_problem(("scalar", c)) for row in node[1] for c in row) or not node[1]
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


def _cmp_scalar(g: str, p: str, ctx: _Ctx) -> Verdict:
    gv = _exact(g)
    if isinstance(gv, (mx.Garbage, mx.TooExpensive)):
        return Verdict.BAD_GOLD
    if compact(g) == compact(p) and not (isinstance(gv, mx.Unsupported) and not gv.known):
        return Verdict.EQUAL
    pv = _exact(p)
    if isinstance(pv, mx.TooExpensive):
        return Verdict.TIMEOUT
    if _is_literal(g) and not _is_literal(p):
        return Verdict.DIFFERENT  # gold is a number: "123*456" or "2^{10}" is not an answer
    if isinstance(pv, mx.Garbage):
        return Verdict.DIFFERENT
    if not isinstance(gv, Exception) and not isinstance(pv, Exception):
        return Verdict.EQUAL if mx.equal(gv, pv) else Verdict.DIFFERENT
    return _ask_sympy("eq", [g, p], ctx)


def _ask_sympy(op: str, args: list[str], ctx: _Ctx) -> Verdict:
    if not ctx.use_sympy:
        return Verdict.DIFFERENT
    left = ctx.deadline - time.monotonic()
    if left <= 0:
        return Verdict.TIMEOUT
    reply = CHILD.request(op, args, left)
    if reply is None or reply.get("r") == "error":
        return Verdict.TIMEOUT
    return {"equal": Verdict.EQUAL, "bad_gold": Verdict.BAD_GOLD}.get(reply.get("r"), Verdict.DIFFERENT)


def _cmp_equations(g: tuple, p: tuple, ctx: _Ctx) -> Verdict:
    both_symbols = _is_symbol(g[1]) and _is_symbol(p[1])
    if _is_named(g[1]) and _is_named(p[1]) and (not both_symbols or compact(g[1]) == compact(p[1])):
        return _cmp_scalar(g[2], p[2], ctx)
    vals = [_exact(x) for x in (g[1], g[2], p[1], p[2])]
    if any(isinstance(v, (mx.Garbage, mx.TooExpensive)) for v in vals[:2]):
        return Verdict.BAD_GOLD
    if not any(isinstance(v, Exception) for v in vals):
        same = mx.proportional(mx.r_add(vals[0], vals[1], -1), mx.r_add(vals[2], vals[3], -1))
        return Verdict.EQUAL if same else Verdict.DIFFERENT
    return _ask_sympy("eqn", [g[1], g[2], p[1], p[2]], ctx)


def _cmp_multiset(gi: list, pi: list, ctx: _Ctx) -> Verdict:
    if len(pi) > len(gi):
        return Verdict.HEDGED
    if len(pi) < len(gi):
        return Verdict.DIFFERENT
    unused = list(range(len(pi)))
    timed_out = False
    for g in gi:
        for j in unused:
            v = _cmp(g, pi[j], ctx)
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


def _cmp(g: tuple, p: tuple, ctx: _Ctx) -> Verdict:  # noqa: C901 - a flat dispatch on node kinds
    if g[0] == "seq" and g[1] != "tuple" and len(g[4]) == 1:
        g = g[4][0]
    if p[0] == "seq" and p[1] != "tuple" and len(p[4]) == 1:
        p = p[4][0]
    gk, pk = g[0], p[0]
    if gk == "bad":
        return Verdict.BAD_GOLD
    if pk == "bad":
        return Verdict.DIFFERENT
    unordered = ("list", "set", "union")
    if pk == "seq" and p[1] in unordered and len(p[4]) > 1 and not (gk == "seq" and g[1] in unordered):
        return Verdict.HEDGED
    if gk == "text" or pk in ("text", "words"):
        same = gk == "text" and pk in ("text", "words") and g[1] == p[1]
        return Verdict.EQUAL if same else Verdict.DIFFERENT
    if gk == "seq" and pk == "seq":
        if g[1] in unordered and p[1] in unordered:
            gi = _dedupe(g[4]) if g[1] == "set" else list(g[4])
            pi = _dedupe(p[4]) if p[1] == "set" else list(p[4])
            return _cmp_multiset(gi, pi, ctx)
        if g[1] == p[1] == "tuple" and g[2:4] == p[2:4] and len(g[4]) == len(p[4]):
            return _combine(_cmp(a, b, ctx) for a, b in zip(g[4], p[4]))
        return Verdict.DIFFERENT
    if gk == pk == "matrix":
        if [len(r) for r in g[1]] != [len(r) for r in p[1]]:
            return Verdict.DIFFERENT
        return _combine(_cmp_scalar(a, b, ctx) for ra, rb in zip(g[1], p[1]) for a, b in zip(ra, rb))
    if gk == pk == "eq":
        return _cmp_equations(g, p, ctx)
    if gk == "eq" and pk == "scalar":
        return _cmp_scalar(g[2], p[1], ctx) if _is_named(g[1]) else Verdict.DIFFERENT
    if gk == "scalar" and pk == "eq":
        return _cmp_scalar(g[1], p[2], ctx) if _is_named(p[1]) else Verdict.DIFFERENT
    if gk == pk == "scalar":
        return _cmp_scalar(g[1], p[1], ctx)
    return Verdict.DIFFERENT


@functools.lru_cache(maxsize=2048)
def _prepare_gold(gold: str) -> tuple | None:
    """The gold's comparison tree, or None if the gold is unusable (a data error)."""
    if len(gold) > MAX_GOLD_CHARS or max_depth(gold) > MAX_DEPTH or not balanced(gold):
        return None
    try:
        node = structure(normalize(gold))
    except (AmbiguousAnswer, mx.TooExpensive):
        return None
    return None if _gold_problem(node) else node


def _prepare_pred(pred: str) -> tuple | Verdict:
    if len(pred) > MAX_PRED_CHARS or max_depth(pred) > MAX_DEPTH:
        return Verdict.TIMEOUT
    try:
        s = normalize(pred)
    except AmbiguousAnswer:
        return Verdict.HEDGED
    if not s:
        return Verdict.DIFFERENT
    try:
        return structure(s)
    except mx.TooExpensive:
        return Verdict.TIMEOUT


def verdict(gold: str, pred: str, timeout_s: float = 2.0, use_sympy: bool = True) -> Verdict:
    """Full verdict for one (gold, predicted answer) pair."""
    ctx = _Ctx(timeout_s, use_sympy)
    if not isinstance(gold, str):
        return Verdict.BAD_GOLD
    g = _prepare_gold(gold)
    if g is None:
        return Verdict.BAD_GOLD
    if not isinstance(pred, str):
        return Verdict.DIFFERENT
    p = _prepare_pred(pred)
    if isinstance(p, Verdict):
        return p
    return _cmp(g, p, ctx)


def is_equivalent(gold: str, pred: str, timeout_s: float = 2.0) -> bool:
    """True iff `pred` is mathematically equivalent to `gold` (policy in the module docstring)."""
    return verdict(gold, pred, timeout_s) is Verdict.EQUAL


# ----------------------------------------------------------------------------------------- score

def _hedged(cands: list[str]) -> bool:
    """Several final answers that are not (cheaply provably) the same one."""
    final = cands[-1]
    if len({compact(c) for c in cands}) > 8:
        return True
    for other in cands[:-1]:
        if compact(other) != compact(final) and verdict(final, other, 0.5, use_sympy=False) is not Verdict.EQUAL:
            return True
    return False


def score(completion: str, gold: str, *, require_format: bool = False, timeout_s: float = 2.0) -> RewardResult:
    """1.0 iff the completion's final answer is equivalent to `gold`, else 0.0, with a reason in
    no_answer / unparseable_gold / wrong / timeout / hedged / correct."""
    completion = completion if isinstance(completion, str) else ""
    cands, source = _candidates(completion)
    fmt = 1.0 if source == "answer_tag" and "</think>" in completion else 0.0

    def result(v: float, reason: str) -> RewardResult:
        return RewardResult(v, reason, {"accuracy": v, "format": fmt})

    if not isinstance(gold, str) or _prepare_gold(gold) is None:
        return result(0.0, "unparseable_gold")
    if not cands or not cands[-1] or (require_format and not fmt):
        return result(0.0, "no_answer")
    if len(cands) > 1 and _hedged(cands):
        return result(0.0, "hedged")
    v = verdict(gold, cands[-1], timeout_s)
    return result(1.0 if v is Verdict.EQUAL else 0.0, v.value)
