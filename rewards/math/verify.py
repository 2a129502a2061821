"""The verifier's entry points: `verdict`, `is_equivalent`, `score`, `warmup` (policy: `rewards.math`)."""

from __future__ import annotations

import functools
import re

from rewards.base import RewardResult
from rewards.math.algebra import TooExpensive
from rewards.math.compare import Ctx, Verdict, compare, gold_problem
from rewards.math.extract import candidates
from rewards.math.locate import answer_text
from rewards.math.normalize import AmbiguousAnswer, balanced, compact, max_depth, normalize
from rewards.math.structure import Node, Scalar, structure
from rewards.math.sympy_client import CHILD

MAX_PRED_CHARS = 1_000
MAX_GOLD_CHARS = 4_000
MAX_DEPTH = 40
# Whole texts (a solution, a prose completion) are searched for their answer first; the limits
# above apply to the answer found, this one to the text searched (all searches are linear).
MAX_TEXT_CHARS = 50_000
_DECIMAL_COMMA_RE = re.compile(r"-?\d+,(?:\d\d|\d{4,})|-?0,\d+")


def warmup(wait: bool = False) -> None:
    """Start the sympy child of this process early (pool workers call this once)."""
    CHILD.warmup(wait=wait)


@functools.lru_cache(maxsize=2048)
def _prepare_gold(gold: str) -> Node | None:
    """The gold's comparison tree, or None if the gold is unusable (a data error)."""
    if len(gold) > MAX_TEXT_CHARS:
        return None
    try:
        # several boxes in a gold: one list when joined (rewards.math.locate, policy 2), else a data error
        gold = answer_text(gold, gold=True)
        if len(gold) > MAX_GOLD_CHARS or max_depth(gold) > MAX_DEPTH or not balanced(gold):
            return None
        node = structure(normalize(gold))
    except (AmbiguousAnswer, TooExpensive):
        return None
    return None if gold_problem(node) else node


def _prepare_pred(pred: str) -> Node | Verdict:
    if len(pred) > MAX_TEXT_CHARS:
        return Verdict.TIMEOUT
    try:
        pred = answer_text(pred, gold=False)
    except AmbiguousAnswer:
        return Verdict.HEDGED
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
    except TooExpensive:
        return Verdict.TIMEOUT


def verdict(gold: str, pred: str, timeout_s: float = 2.0, use_sympy: bool = True) -> Verdict:
    """Full verdict for one (gold, predicted answer) pair."""
    ctx = Ctx(timeout_s, use_sympy)
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
    v = compare(g, p, ctx)
    if v is not Verdict.EQUAL:
        v = _decimal_comma_retry(gold, pred, g, p, ctx) or v
    return v


def _decimal_comma_retry(gold: str, pred: str, g: Node, p: Node, ctx: Ctx) -> Verdict | None:
    """Decimal comma (`1000,99`, `0,111`, `2,74`): a comma followed by 2 or 4+ digits, or after a
    lone 0, cannot be a thousands separator. Such a string is read as a two-item list first; only
    when that fails and the *other* side is a single number is it re-read as a decimal (one digit,
    `3,5`, stays a list: too often the answer "3, 5")."""
    def as_decimal(text: str) -> Node | None:
        m = _DECIMAL_COMMA_RE.fullmatch(compact(text))
        return structure(m.group(0).replace(",", ".")) if m else None

    try:
        gs, ps = normalize(answer_text(gold, gold=True)), normalize(answer_text(pred, gold=False))
    except AmbiguousAnswer:
        return None
    gd, pd = as_decimal(gs), as_decimal(ps)
    if gd is not None and pd is None and isinstance(p, Scalar):
        return compare(gd, p, ctx)
    if pd is not None and gd is None and isinstance(g, Scalar):
        return compare(g, pd, ctx)
    return None


def is_equivalent(gold: str, pred: str, timeout_s: float = 2.0) -> bool:
    """True iff `pred` is mathematically equivalent to `gold` (policy in the `rewards.math` docstring)."""
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
    cands, source = candidates(completion)
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
