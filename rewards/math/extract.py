"""Extraction of the final answer from a completion (the `rewards.math` extraction policy).

Text inside <think>...</think> is ignored (an unclosed <think> hides the rest); then the last
complete <answer>...</answer>, else the \\boxed{} answers (an explicit "final answer" after the
last box states the answer; one after the first box keeps only the later boxes; boxes joined by
"and"/commas or a short hedge-free phrase are one list answer),
else the text after the last "The answer is" / "Final answer:", else the last math block or
number of the prose (`rewards.math.locate`).
"""

from __future__ import annotations

import re

from rewards.math.locate import answer_after_boxes, final_boxes, retracted, unboxed_answer
from rewards.math.normalize import AmbiguousAnswer, find_boxed

_PHRASE_RE = re.compile(r"(?im)(?:final answer|(?:^\s*|\bthe |\bmy )answer is|####)\s*(?:is\b)?\s*[:：]?\s*")  # ####: GSM8K
_SENTENCE_END_RE = re.compile(r"\.(?=\s|$)|\n")


def _visible(text: str) -> str:
    """The part of a completion outside <think>...</think> (an unclosed <think> hides the rest)."""
    if "</think>" in text:
        return text.rsplit("</think>", 1)[1].split("<think>", 1)[0]  # a re-opened <think> hides the rest again
    if "<think>" in text:
        return text.split("<think>", 1)[0]
    return text


def _phrase_answer(text: str) -> str | None:
    starts = [m.end() for m in _PHRASE_RE.finditer(text)]
    if not starts:
        return None
    rest = text[starts[-1]:]
    if retracted(rest):
        return None  # a change of mind after the marker: the prose search below calls it hedged
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


def candidates(completion: str) -> tuple[list[str], str]:
    """All final-answer candidates outside <think>, in order, and where they came from."""
    visible = _visible(completion)
    tags = _answer_tags(visible)
    if tags:
        return [t.strip() for t in tags], "answer_tag"
    boxes = find_boxed(visible)
    if boxes:
        try:
            after = answer_after_boxes(visible, boxes)
        except AmbiguousAnswer:
            return [visible.strip()], "prose"  # scored as hedged by verdict (same search, same result)
        if after is not None:
            return [after], "phrase"
    if len(boxes) > 1:
        picked = final_boxes(visible, boxes, gold=False)
        if picked is not None:
            return [picked], "boxed"
    if boxes:
        return [b[2].strip() for b in boxes], "boxed"
    phrase = _phrase_answer(visible)
    if phrase:
        return [phrase], "phrase"
    try:
        found = unboxed_answer(visible)
    except AmbiguousAnswer:
        return [visible.strip()], "prose"  # scored as hedged by verdict (same search, same result)
    return ([found], "prose") if found else ([], "none")


def extract_answer(completion: str) -> str | None:
    """R1 `<answer>` block (after </think>), else the last \\boxed{} outside <think>, else the text
    after "The answer is" / "Final answer:". None if there is none."""
    if not completion:
        return None
    cands, _ = candidates(completion)
    return cands[-1] if cands and cands[-1] else None
