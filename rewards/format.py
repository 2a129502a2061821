"""R1-Zero format reward: reasoning in <think>...</think>, then the answer in <answer>...</answer>.

The completion passed here is the full assistant response, including a '<think>' the prompt may have prefilled.
"""

from __future__ import annotations

import re

from rewards.base import RewardResult

# One think block, then one answer block, then nothing but whitespace (DeepSeek-R1 paper, section 2.2.2).
_STRICT = re.compile(r"\A\s*<think>(?P<think>.*?)</think>\s*<answer>(?P<answer>.*?)</answer>\s*\Z", re.DOTALL)
_TAGS = ("<think>", "</think>", "<answer>", "</answer>")


def strict_format(completion: str) -> RewardResult:
    """1.0 iff the response is exactly `<think>…</think> <answer>…</answer>` with one of each tag, else 0.0.

    Reasons: "ok", "bad_format" (tags missing, repeated, out of order, or text after </answer>),
    "empty_answer" (the structure is right but the answer block is blank).
    """
    m = _STRICT.match(completion)
    if m is None or any(completion.count(t) != 1 for t in _TAGS):
        return RewardResult(0.0, "bad_format", {"format": 0.0})
    if not m.group("answer").strip():
        return RewardResult(0.0, "empty_answer", {"format": 0.0})
    return RewardResult(1.0, "ok", {"format": 1.0})


def tag_credit(completion: str, prefill: str = "") -> float:
    """Fraction of the tags the model had to write that it wrote exactly once, in order: partial credit for
    shaping, in [0, 1].

    `prefill` is the text the prompt put at the start of the response (`tasks.base.prefill`, '<think>' by default
    in this repo): when the response starts with it, its tags were not written by the model, so they earn nothing
    and the fraction is over the remaining tags (3 with a prefilled '<think>', else 4). Without this, every
    sample got the same bonus for the prefilled '<think>', which carries no signal.
    Not the strict reward: a shaping signal for models that never produce the full format by chance (see
    docs/measured-facts.md: SmolLM2-135M scores 0/64 on strict format at the start).
    """
    given = prefill if prefill and completion.startswith(prefill) else ""
    text = completion[len(given):]
    tags = [t for t in _TAGS if t not in given]
    pos, found = 0, 0
    for t in tags:
        if text.count(t) != 1:
            continue
        i = text.find(t)
        if i >= pos:
            found += 1
            pos = i
    return found / len(tags) if tags else 0.0


def answer_block(completion: str) -> str | None:
    """Content of the <answer> block that follows </think> (or the only one when there is no think block)."""
    tail = completion.rsplit("</think>", 1)[-1]
    m = re.search(r"<answer>(.*?)</answer>", tail, re.DOTALL)
    return m.group(1).strip() if m else None
