"""Where the answer is inside a string that is more than an answer (the `rewards.math` locating policy).

Both sides of a comparison may arrive as prose: datasets store `$...$` and whole solutions, and
models that ignore the R1 format write "Answer $ 9 $" or "so the number is 1,000.99". This
module picks the part of such a string that is the answer; everything here is linear-time string
work (no backtracking regexes over the whole text), and nothing here decides equality.

Policy, in order:
 1. several `\\boxed{}`: if an explicit "final answer" / "the answer is" / "answer:" marker comes
    after the first box, only the boxes after the last marker count (a revision: what R1-Zero
    training rewards); boxes that are separated only by "and", commas, spacing or math delimiters
    form one list answer (predictions only: in a gold that is a data error); otherwise the
    string stays as it is and normalisation reports it as hedged;
 2. one box (or several identical ones) with prose or delimiters around it: the box content;
 3. prose (a word of 4+ letters that is not a unit, outside math): the text after the last
    answer marker if there is one, then the last math block (`$..$`, `$$..$$`, `\\[..\\]`,
    `\\(..\\)`) or bare number, whichever ends later. If the sentence holding it says "or",
    "maybe", "either", ... the answer is a hedge (`AmbiguousAnswer`): fail closed;
 4. anything else is returned unchanged (normalisation and structure decide).
"""

from __future__ import annotations

import re

from rewards.math.normalize import AmbiguousAnswer, find_boxed

MARKER_RE = re.compile(r"(?i)(?:final answer|the answer is|answer\s*:)\s*(?:is\b)?\s*[:：]?\s*")
# Inline `$..$` and `\(..\)` stay on one line (a lone `$` is a currency sign); display math may not.
_BLOCK_RE = re.compile(
    r"\$\$(?P<dd>.{1,2000}?)\$\$|\\\[(?P<sq>.{1,2000}?)\\\]|\\\((?P<rp>[^\n]{1,500}?)\\\)"
    r"|\$(?P<d>(?:\\\$|[^$\n]){1,500}?)\$", re.S
)
_BROKEN_INLINE_RE = re.compile(r"\$[^$]{0,2000}\$|\\\([\s\S]{0,2000}?\\\)")
_NUMBER_RE = re.compile(r"(?<![\w.^_])-?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?(?:/\d+)?|\.\d+)(?!\d)")
_WRAPPED_RE = re.compile(r"\\(?:text\w*|mathrm|mbox|boxed|fbox|operatorname)\s*\{[^{}]*\}")
_HEDGE_RE = re.compile(r"(?i)\b(?:or|either|maybe|perhaps|possibly|probably|might)\b")
_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\\$])|\n\s*\n")
# Words that may follow a number in an answer without making it prose (units, currencies).
_NOT_PROSE = frozenset(
    """and or pct percent percentage percents degree degrees unit units square cubic feet foot inch inches
    meter meters metre metres mile miles hour hours minute minutes second seconds days weeks years dollars
    cents euros pounds grams liters litres sqrt infty frac text sin cos tan cot sec csc log ln exp mod pi
    cm mm km ft yd mi kg mg lb lbs oz hr hrs ml mph sq""".split()
)
_JOINER_RE = re.compile(r"(?:\s|\$|\\[\[\]()]|\\q?quad|\\[,;: ]|\\text\s*\{\s*(?:and|,)\s*\}|\band\b|[,;&])*")


def looks_like_prose(s: str) -> bool:
    """A word of 4+ letters (not a unit) outside math blocks and \\text{}-like groups, or math
    delimiters that do not wrap the whole string."""
    t = s.strip()
    outside = _BLOCK_RE.sub(" ", t)
    if outside.strip() and outside.strip() != t and re.search(r"[A-Za-z]{2}", outside):
        return True  # "Answer $9$": words next to a math block
    outside = _WRAPPED_RE.sub(" ", outside)
    outside = re.sub(r"\\(?:begin|end)\s*\{[^{}]*\}|\\[a-zA-Z]+", " ", outside)  # `pmatrix` is no word
    # ALL-CAPS tokens are names (`AB=4`, `CD`), not words
    words = [w.lower() for w in re.findall(r"[A-Za-z]{2,}", outside) if not w.isupper()]
    words = [w for w in words if w not in _NOT_PROSE]
    # one long word ("Answer 9") or two short ones ("so it is 2") make prose; "5 cm" does not
    return any(len(w) >= 4 for w in words) or len(words) >= 2


def _box_list(s: str, boxes: list[tuple[int, int, str]]) -> str | None:
    """Boxes separated only by connectors ("\\boxed{1} and \\boxed{2}") as one list answer."""
    for (_, end, _), (start, _, _) in zip(boxes, boxes[1:]):
        if _JOINER_RE.fullmatch(s[end:start]) is None:
            return None
    return ", ".join(b[2].strip() for b in boxes)


def final_boxes(s: str, boxes: list[tuple[int, int, str]], join: bool) -> str | None:
    """The answer of a string with several boxes: the revised one, or the joined list; None if
    they stay ambiguous."""
    marks = [m.end() for m in MARKER_RE.finditer(s) if m.start() > boxes[0][0]]
    if marks:
        later = [b for b in boxes if b[0] >= marks[-1]]
        if later:
            boxes = later
    if len({re.sub(r"\s+", "", b[2]) for b in boxes}) == 1:
        return boxes[-1][2].strip()
    return _box_list(s, boxes) if join else None


def _strip_math_delims(s: str) -> str:
    return re.sub(r"\$+|\\[\[\]()]", " ", s)


def _single_box(s: str, box: tuple[int, int, str]) -> str:
    """The box content when only prose, delimiters or `x =` surround it (same rule as
    `normalize`: math right next to it, `\\boxed{6}^2`, keeps the whole string)."""
    start, end, content = box
    if looks_like_prose(s[:start] + " " + s[end:]):
        return content.strip()  # "..., so $129^{34} \\equiv \\boxed{9} \\pmod{11}$."
    before, after = _strip_math_delims(s[:start]).rstrip(), _strip_math_delims(s[end:]).lstrip()
    if (not before or before[-1] in "=:,." or before[-1].isalpha()) and \
            (not after or after[0] in ".,;:!" or after[0].isalpha()):
        return content.strip()
    return s


def _hedged_sentence(text: str, start: int, end: int) -> bool:
    bounds = [0] + [m.end() for m in _SENTENCE_RE.finditer(text)] + [len(text)]
    lo = max(b for b in bounds if b <= start)
    hi = min((b for b in bounds if b >= end), default=len(text))
    return bool(_HEDGE_RE.search(_BLOCK_RE.sub(" ", text[lo:hi])))


def prose_answer(text: str) -> str | None:
    """The last math block or bare number of a prose answer (after the last answer marker when
    there is one); None if there is none. Raises AmbiguousAnswer for a hedged sentence."""
    marks = list(MARKER_RE.finditer(text))
    if marks:
        rest = text[marks[-1].end():]
        inner = prose_answer(rest) if rest.strip() else None
        if inner is not None:
            return inner
    best: tuple[int, int, str] | None = None
    for m in _BLOCK_RE.finditer(text):
        body = next(g for g in m.groups() if g is not None)
        if body.strip():
            best = (m.start(), m.end(), body.strip())
    masked = _BLOCK_RE.sub(lambda m: " " * len(m.group(0)), text)
    # inline math broken over lines (`$ \n 9 \n $`) is malformed, not an answer: hide its numbers
    masked = _BROKEN_INLINE_RE.sub(lambda m: " " * len(m.group(0)), masked)
    for m in _NUMBER_RE.finditer(masked):
        if best is None or m.end() > best[1]:
            best = (m.start(), m.end(), m.group(0))
    if best is None:
        return None
    if _hedged_sentence(text, best[0], best[1]):
        raise AmbiguousAnswer(text)
    return best[2]


def unboxed_answer(text: str) -> str | None:
    """The answer of a text without boxes: itself when it is not prose, else its last math block
    or number (None if it has none). Raises AmbiguousAnswer for a hedged prose answer."""
    if not text.strip():
        return None
    if not looks_like_prose(text):
        return text.strip()
    return prose_answer(text)


def answer_text(s: str, *, join_boxes: bool) -> str:
    """The part of `s` that is the answer (policy in the module docstring); `s` unchanged when
    it is an answer already. Raises AmbiguousAnswer for a hedged prose answer."""
    if "</think>" in s:  # a whole completion: only the text after the reasoning counts
        s = s.rsplit("</think>", 1)[1]
    elif "<think>" in s:
        s = s.split("<think>", 1)[0]
    boxes = find_boxed(s)
    if len(boxes) > 1:
        picked = final_boxes(s, boxes, join_boxes)
        return s if picked is None else picked
    if len(boxes) == 1:
        return _single_box(s, boxes[0])
    if not looks_like_prose(s):
        return s
    found = prose_answer(s)
    return s if found is None else found
