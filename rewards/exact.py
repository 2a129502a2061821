"""Exact integer-answer reward (arithmetic, countdown targets, counting tasks)."""

from __future__ import annotations

import re

from rewards.base import RewardResult
from rewards.format import answer_block

# An integer with optional sign and optional thousands separators: -1,234 / 42 / +7. Decimals are not integers.
_INT = re.compile(r"(?<![\w.])[-+−]?\d{1,3}(?:,\d{3})+(?![\d.]\d)|(?<![\w.])[-+−]?\d+(?![\d]|\.\d)")


# A number (integer or decimal) not glued to a word: what the lenient rule of the math tasks takes.
_NUMBER = re.compile(r"(?<![\w.])[-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w.]\w)")


def _ints(text: str) -> list[int]:
    return [int(m.replace(",", "").replace("−", "-")) for m in _INT.findall(text)]


def after_reasoning(completion: str) -> str:
    """The text after the last </think>, or the whole text when none was written: where a lenient reward looks for
    the answer when there is no <answer> block (every task's "lenient" means this)."""
    return completion.rsplit("</think>", 1)[-1]


def last_number(completion: str) -> str | None:
    """The last number after the reasoning (integer or decimal, thousands separators dropped), or None."""
    found = _NUMBER.findall(after_reasoning(completion))
    return found[-1].replace(",", "").replace("−", "-") if found else None


def parse_int(text: str) -> int | None:
    """The single integer a short answer states, or None (no integer, several different ones, or a decimal)."""
    t = text.strip().strip("$").strip().rstrip(".").strip()
    t = re.sub(r"^\\boxed\{(.*)\}$", r"\1", t)
    if not re.fullmatch(r"[-+−]?(\d{1,3}(,\d{3})+|\d+)", t):
        return None
    return int(t.replace(",", "").replace("−", "-"))


def extract_int(completion: str, *, lenient: bool = True) -> tuple[int | None, str]:
    """The integer a response states as its answer, or (None, why): "no_answer" or "hedged".

    The <answer> block after </think> decides; with lenient=True and no block, the last integer after the reasoning
    (the whole text when no </think> was written).
    """
    block = answer_block(completion)
    if block is not None:
        values = set(_ints(block))
        if not values:
            return None, "no_answer"
        if len(values) > 1:
            return None, "hedged"
        return values.pop(), "ok"
    if lenient:
        found = _ints(after_reasoning(completion))
        return (found[-1], "ok") if found else (None, "no_answer")
    return None, "no_answer"


def integer_answer(completion: str, gold: str | int, *, lenient: bool = True) -> RewardResult:
    """1.0 if the stated answer equals the integer `gold`, else 0.0.

    The answer is the content of the <answer> block after </think>. With lenient=True and no answer block, the last
    integer after the reasoning (or in the whole text when no </think> was written) is taken instead: this gives a
    model that has not learned the format yet a learning signal on correctness (see cpu-baselines.md). An answer
    block that states several different integers ("3 or 4") is a hedge and scores 0.
    Reasons: correct, wrong, no_answer, hedged, unparseable_gold.
    """
    gold_i = gold if isinstance(gold, int) else parse_int(str(gold))
    if gold_i is None:
        return RewardResult(0.0, "unparseable_gold", {"accuracy": 0.0})
    pred, reason = extract_int(completion, lenient=lenient)
    if pred is None:
        return RewardResult(0.0, reason, {"accuracy": 0.0})
    ok = pred == gold_i
    return RewardResult(float(ok), "correct" if ok else "wrong", {"accuracy": float(ok)})
