"""Where the answer is inside a string that is more than an answer (the `rewards.math` locating policy).

Both sides of a comparison may arrive as prose: datasets store `$...$` and whole solutions, and
models that ignore the R1 format write "Answer $ 9 $" or "so the number is 1,000.99". This
module picks the part of such a string that is the answer; everything here is linear-time string
work (no backtracking regexes over the whole text), and nothing here decides equality.

Policy, in order:
 1. an explicit "final answer" / "the answer is" / "answer:" marker after the last box whose
    sentence holds an answer: that answer (a revision, or a summary after boxed working);
 2. several `\\boxed{}`: if a marker comes after the first box, only the boxes after the last
    marker count (a revision: what R1-Zero training rewards). Boxes separated only by "and",
    commas, spacing or math delimiters, or by a short phrase (<= 80 characters: "for part (a)
    and", "\\) and \\( y_2 =", "papers and") without a hedge or change-of-mind word ("or",
    "maybe", "actually", "wait", "but", ...) form one list answer, in a gold as in a
    prediction ("or" joins gold boxes: a gold "\\boxed{3} or \\boxed{-3}" lists both solutions).
    A list is never equal to a single gold answer, so intermediate boxes cannot hedge;
    otherwise the string stays as it is and normalisation reports it as hedged;
 3. one box (or several identical ones) with prose or delimiters around it: the box content;
 4. a text that is only math blocks joined as in 2 (`$21,16$ and $11$`): one list answer;
 5. prose (a word of 4+ letters that is not a unit, outside math): the first sentence after the
    last answer marker if it holds an answer, then the last math block (`$..$`, `$$..$$`,
    `\\[..\\]`, `\\(..\\)`) or bare number, whichever ends later (a math block that is itself
    prose, `$? just about 1$`, is searched the same way). If the sentence holding it says "or",
    "maybe", "either", ... the answer is a hedge (`AmbiguousAnswer`): fail closed;
 6. anything else is returned unchanged (normalisation and structure decide).
"""

from __future__ import annotations

import re

from rewards.math.normalize import AmbiguousAnswer, find_boxed

MARKER_RE = re.compile(r"(?im)(?:final answer|(?:^\s*|\bthe |\bmy )answer is|answer\s*:|####)\s*(?:is\b)?\s*[:：]?\s*")  # ####: GSM8K
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
_GOLD_JOINER_RE = re.compile(r"(?:\s|\$|\\[\[\]()]|\\q?quad|\\[,;: ]|\\text\s*\{\s*(?:and|or|,)\s*\}|\b(?:and|or)\b|[,;&])*")
# Between two boxes, these make the pair a hedge or a change of mind, never a list.
_CHANGE_RE = re.compile(
    r"(?i)\b(?:or|either|maybe|perhaps|possibly|probably|might|actually|wait|but|however|instead|"
    r"wrong|mistake|incorrect|correct(?:ion|ed)?|no|not|rather|alternatively|hmm|oops|check|recheck|"
    r"then|so|thus|hence|therefore|gives?|yields?)\b|\?"
)
_MAX_PHRASE = 80
_SENTENCE_END_RE = re.compile(r"[.!?](?=\s|$)|\n")


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


def _joins(between: str, gold: bool) -> bool:
    """True if `between` (the text between two answers) joins them into one list answer."""
    if (_GOLD_JOINER_RE if gold else _JOINER_RE).fullmatch(between) is not None:
        return True
    # a short labelling phrase ("for part (a) and", "papers and"), never a hedge or a revision
    return len(between) <= _MAX_PHRASE and _CHANGE_RE.search(_WRAPPED_TEXT_RE.sub(r" \1 ", between)) is None


_WRAPPED_TEXT_RE = re.compile(r"\\text\w*\s*\{([^{}]*)\}")


def _box_list(s: str, boxes: list[tuple[int, int, str]], gold: bool) -> str | None:
    """Boxes joined as in `_joins` ("\\boxed{1} and \\boxed{2}") as one list answer."""
    for (_, end, _), (start, _, _) in zip(boxes, boxes[1:]):
        if not _joins(s[end:start], gold):
            return None
    return ", ".join(b[2].strip() for b in boxes)


def final_boxes(s: str, boxes: list[tuple[int, int, str]], gold: bool) -> str | None:
    """The answer of a string with several boxes: the revised one, or the joined list; None if
    they stay ambiguous."""
    marks = [m.end() for m in MARKER_RE.finditer(s) if m.start() > boxes[0][0]]
    if marks:
        later = [b for b in boxes if b[0] >= marks[-1]]
        if later:
            boxes = later
    if len({re.sub(r"\s+", "", b[2]) for b in boxes}) == 1:
        return boxes[-1][2].strip()
    return _box_list(s, boxes, gold)


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


def _masked(text: str) -> str:
    """`text` with its math blocks blanked out (same length): periods inside `$4.$` end nothing."""
    return _BLOCK_RE.sub(lambda m: " " * len(m.group(0)), text)


def _first_sentence(text: str) -> str:
    """The sentence right after an answer marker ("... is $14{,}916$. I hope it is correct.")."""
    lead = len(text) - len(text.lstrip())
    cut = _SENTENCE_END_RE.search(_masked(text), lead)
    if cut and cut.group(0) == "?":
        return ""  # "The final answer is 12? No.": a question states no answer
    return text[:cut.start()] if cut else text


def _after_marker(rest: str, depth: int, whole: bool) -> str | None:
    """The answer in the text after an answer marker: its first sentence, else (if `whole`) all
    of it. Math blocks joined by "and" there are one list ("... is $12$ and $13$.")."""
    for part in (_first_sentence(rest), rest) if whole else (_first_sentence(rest),):
        if part.strip() and not looks_like_prose(part) and not MARKER_RE.search(part) and "$" not in part:
            return part.strip(' "*\n')  # "Answer: 2x + 3": the math after the marker, not its last number
        inner = _block_list(part.strip(' "\\*\n'), gold=False)
        inner = inner or (prose_answer(part, depth + 1) if part.strip() else None)
        if inner is not None:
            return inner
    return None


_RETRACT_RE = re.compile(r"(?i)\b(?:wait|actually|hmm+|oops|instead|mistake|incorrect|contradiction)\b|^\s*or\b")


def retracted(after_marker: str) -> bool:
    """True when the text after an answer marker's first sentence takes it back or hedges it ("Or 4.",
    "Wait, actually ..."): the marker states nothing then (fails closed; a later marker is read instead)."""
    cut = _SENTENCE_END_RE.search(_masked(after_marker), len(after_marker) - len(after_marker.lstrip()))
    return bool(cut) and bool(_RETRACT_RE.search(after_marker[cut.end():].lstrip(" .\n")))


def prose_answer(text: str, depth: int = 0, gold: bool = False) -> str | None:
    """The answer of a prose text: in the first sentence after the last answer marker if it has
    one, else its last math block or bare number; None if there is none. Raises AmbiguousAnswer
    for a hedged sentence."""
    marks = list(MARKER_RE.finditer(text))
    if marks and depth < 3:
        if not gold and retracted(text[marks[-1].end():]):  # (a gold is trusted: its notes do not retract)
            raise AmbiguousAnswer(text)  # "The answer is 5. Hmm, wait, actually it's 7.": a change of mind
        inner = _after_marker(text[marks[-1].end():], depth, whole=True)
        if inner is not None:
            return inner
    best: tuple[int, int, str] | None = None
    for m in _BLOCK_RE.finditer(text):
        body = next(g for g in m.groups() if g is not None)
        if body.strip():
            best = (m.start(), m.end(), body.strip())
    masked = _masked(text)
    # inline math broken over lines (`$ \n 9 \n $`) is malformed, not an answer: hide its numbers
    masked = _BROKEN_INLINE_RE.sub(lambda m: " " * len(m.group(0)), masked)
    for m in _NUMBER_RE.finditer(masked):
        if best is None or m.end() > best[1]:
            best = (m.start(), m.end(), m.group(0))
    if best is None:
        return None
    if _hedged_sentence(text, best[0], best[1]):
        raise AmbiguousAnswer(text)
    if depth < 3 and looks_like_prose(best[2]):
        return prose_answer(best[2], depth + 1)  # a math block that is itself prose
    return best[2]


def unboxed_answer(text: str) -> str | None:
    """The answer of a text without boxes: itself when it is not prose, else its last math block
    or number (None if it has none). Raises AmbiguousAnswer for a hedged prose answer."""
    if not text.strip():
        return None
    if not looks_like_prose(text) and not MARKER_RE.search(text):  # "ANSWER: 18" is a marker, not math
        return text.strip()
    return prose_answer(text)


def _block_list(s: str, gold: bool) -> str | None:
    """A text made only of math blocks joined as boxes are (`$21,16$ and $11$`): one list."""
    blocks = list(_BLOCK_RE.finditer(s))
    if len(blocks) < 2 or s[:blocks[0].start()].strip() or s[blocks[-1].end():].strip(" .\n"):
        return None
    joiner = _GOLD_JOINER_RE if gold else _JOINER_RE
    if any(joiner.fullmatch(s[a.end():b.start()]) is None for a, b in zip(blocks, blocks[1:])):
        return None
    return ", ".join(next(g for g in m.groups() if g is not None).strip() for m in blocks)


def answer_after_boxes(s: str, boxes: list[tuple[int, int, str]]) -> str | None:
    """The answer stated after an answer marker that follows the last box ("... \\boxed{255}.
    Final Answer: The final answer is $10,455$."), or None. Raises AmbiguousAnswer if hedged."""
    marks = [m for m in MARKER_RE.finditer(s) if m.start() >= boxes[-1][1]]
    if not marks:
        return None
    return _after_marker(s[marks[-1].end():], 0, whole=False)


def answer_text(s: str, *, gold: bool) -> str:
    """The part of `s` that is the answer (policy in the module docstring); `s` unchanged when
    it is an answer already. Raises AmbiguousAnswer for a hedged prose answer."""
    if "</think>" in s:  # a whole completion: only the text after the reasoning counts
        s = s.rsplit("</think>", 1)[1].split("<think>", 1)[0]  # (a re-opened <think> hides the rest again)
    elif "<think>" in s:
        s = s.split("<think>", 1)[0]
    boxes = find_boxed(s)
    if boxes:
        after = answer_after_boxes(s, boxes)
        if after is not None:
            return after
    if len(boxes) > 1:
        picked = final_boxes(s, boxes, gold)
        return s if picked is None else picked
    if len(boxes) == 1:
        return _single_box(s, boxes[0])
    joined = _block_list(s, gold)
    if joined is not None:
        return joined
    if not looks_like_prose(s):
        return s
    found = prose_answer(s, gold=gold)
    return s if found is None else found
