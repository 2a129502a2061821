"""String-level helpers for the math verifier: brace matching, answer unwrapping, normalisation.

Pure string work (regexes with linear behaviour, bounded loops); no sympy. The policy these
functions implement is documented in `rewards.math`'s module docstring.
"""

from __future__ import annotations

import re

# LaTeX commands the verifier knows about.  A gold answer using only these (and no prose words) is
# "well formed": it may be accepted on an exact string match without asking sympy to parse it.
KNOWN_COMMANDS = frozenset(
    """frac sqrt pi cdot times div pm mp infty le leq ge geq lt gt neq ne approx text boxed left
    right binom alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda
    mu nu xi rho sigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma
    Phi Psi Omega sin cos tan cot sec csc arcsin arccos arctan sinh cosh tanh log ln exp ldots
    cdots dots in cup cap emptyset varnothing langle rangle begin end circ prime sum prod int lim
    to lfloor rfloor lceil rceil overline vec hat bar mathbb mathrm setminus notin subset subseteq
    mid vert lvert rvert angle triangle perp parallel sim cong equiv neg land lor wedge vee
    partial nabla deg gcd lcm max min det mod bmod pmod""".split()
)

_WRAPPERS = ("text", "textnormal", "textbf", "textit", "textrm", "textsf", "texttt", "mathrm", "mathbf",
             "mathit", "mathsf", "mathtt", "mbox", "operatorname", "boldsymbol", "bm")
_UNIT_WRAPPERS = ("text", "textnormal", "textrm", "mathrm", "mbox", "textit", "textbf")
_WRAPPER_RE = re.compile(r"\\(" + "|".join(sorted(_WRAPPERS, key=len, reverse=True)) + r")\s*\{")
_ESCAPED_CMD_RE = re.compile(r"(?<!\\)\\\\(?=(?:" + "|".join(sorted(KNOWN_COMMANDS | {"dfrac", "tfrac"},
                                                                key=len, reverse=True)) + r")(?![a-zA-Z]))")

_REMOVE = [
    r"\\displaystyle", r"\\textstyle", r"\\limits", r"\\left(?![a-zA-Z])", r"\\right(?![a-zA-Z])",
    r"\\[bB]igg?[lr]?(?![a-zA-Z])", r"(?<!\\)\\[,:; ]", r"\\qquad", r"\\quad",
    r"\^\s*\{\s*\\circ\s*\}", r"\^\s*\\circ", r"\\circ", r"\\degree", "°", r"\\%", "%", r"\\\$",
    r"\\mathdollar", r"\$", "€", "£", "¥", r"\\euro(?![a-zA-Z])",
]
_REMOVE_RE = re.compile("|".join(_REMOVE))
_REPLACE = [
    (re.compile(r"\{?,\}?\s*\\!\s*"), ","), (re.compile(r"(?<!\\)\\!"), ""), (re.compile(r"\\[dtc]frac(?![a-zA-Z])"), r"\\frac"), (re.compile(r"\\[dt]binom"), r"\\binom"),
    (re.compile(r"\\lbrace|\\\{"), r"\\{"), (re.compile(r"\\rbrace|\\\}"), r"\\}"),
    (re.compile(r"<="), r"\\le "), (re.compile(r">="), r"\\ge "), (re.compile(r"!="), r"\\ne "),
    (re.compile(r"\\leqslant|\\leq(?![a-zA-Z])|\\le(?![a-zA-Z])|≤"), r"\\le "),
    (re.compile(r"\\geqslant|\\geq(?![a-zA-Z])|\\ge(?![a-zA-Z])|≥"), r"\\ge "),
    (re.compile(r"\\neq(?![a-zA-Z])|\\ne(?![a-zA-Z])|≠"), r"\\ne "),
    (re.compile(r"\\lt(?![a-zA-Z])"), "<"), (re.compile(r"\\gt(?![a-zA-Z])"), ">"),
    (re.compile(r"\\cdot(?![a-zA-Z])|\\times(?![a-zA-Z])|×|·|∙|⋅"), "*"),
    (re.compile(r"\\div(?![a-zA-Z])|÷"), "/"), (re.compile("−|–|—"), "-"),
    (re.compile(r"π"), r"\\pi "), (re.compile(r"∞|\\infin(?![a-zA-Z])"), r"\\infty "),
    (re.compile(r"√"), r"\\sqrt"), (re.compile("²"), "^{2}"), (re.compile("³"), "^{3}"), (re.compile(r"±|\\mp(?![a-zA-Z])|∓"), r"\\pm "),
    (re.compile(r"\\dots[bc]?|\\[lc]dots|…"), r"\\ldots "), (re.compile(r"\\tfrac"), r"\\frac"),
    (re.compile(r"\\vee(?![a-zA-Z])|\\lor(?![a-zA-Z])"), r" or "),
    (re.compile(r"\\wedge(?![a-zA-Z])|\\land(?![a-zA-Z])"), r" and "),
    (re.compile(r"\\varnothing|\\emptyset|∅"), r"\\emptyset "),
    (re.compile(r"(?:\\mathbb\s*(?:\{R\}|R(?![a-zA-Z]))|ℝ)(?!\s*\^)"), r"(-\\infty,\\infty)"),  # all reals: an interval
    (re.compile(r"\\[lr]?vert(?![a-zA-Z])"), "|"),
]
_SHORT_FRAC_RE = re.compile(r"\\frac\s*(\d|[a-zA-Z])\s*(\d|[a-zA-Z])")
_SHORT_FRAC1_RE = re.compile(r"\\frac\s*(\d|[a-zA-Z])\s*\{")
_SHORT_FRAC2_RE = re.compile(r"\\frac\s*(\{[^{}]*\})\s*(\d|[a-zA-Z])")
_SHORT_SQRT_RE = re.compile(r"\\sqrt\s*(\d+|[a-zA-Z])")
_MIXED_RE = re.compile(r"(?<![\w.^_}{\\])(\d+)\s*\\frac\{(\d+)\}\{(\d+)\}")
_THOUSANDS_RE = re.compile(r"^((?:[a-zA-Z]\s*=\s*)?-?)((?!0)\d{1,3}(?:(?:,|\{,\}|\\,| )\d{3})+)(\.\d+)?$")
_SPACED_GROUP_SEP_RE = re.compile(r"(?<=\d)\s*\{\s*,\s*\}\s*(?=\d)")
_UNIT_WORDS = frozenset("cm mm km ft yd mi kg mg lb lbs oz hr hrs ml mph sq in m s g h".split())
# words that are never units (kept, so that "1 or 2" is seen as two answers)
_MATH_WORDS = frozenset("and or pi sqrt infty sin cos tan log ln exp mod not".split())
# units that may be glued to a number (`10weeks`): a whitelist, since `2abc` or `4xyz` is a product
_GLUED_UNITS = frozenset("""cm mm km kg mg ml ft yd lb lbs oz hr hrs mph sq days weeks months years hours minutes
    seconds mins secs meters metres miles feet inches degrees dollars cents euros pounds grams liters litres units""".split())
_CHOICE_RE = re.compile(r"^\(\s*([A-Ea-e])\s*\)$")
_GLUED_REL_RE = re.compile(r"\\(le|ge|ne)(?=[a-pr-z](?![a-zA-Z]))")
# clock times: `08:34 \text{P.M.}`, `8:34pm` -> 20:34; `20:34:00` -> 20:34 (whole minutes)
_CLOCK_RE = re.compile(r"(?<![\d:])(\d{1,2}):(\d{2})(?::00)?(?![\d:])(?:\s*(?:\\text\s*\{|\\mathrm\s*\{)?\s*"
                       r"([AaPp])\.?\s*[Mm]\.?\s*\}?)?")
_E_NOTATION_RE = re.compile(r"(-?\d+(?:\.\d+)?)[eE]([-+]?\d{1,3})")
_SLASH_MIXED_RE = re.compile(r"(-?)(\d+) (\d+)/(\d+)")
_REPEATING_RE = re.compile(r"(?<![\w.])(-?)(\d*)\.(\d*)\\overline\{(\d{1,12})\}")
# a whole answer written as a number word ("three", "Twelve"): the number (GSM8K-style answers)
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())} | {"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60",
                                                      "seventy": "70", "eighty": "80", "ninety": "90",
                                                      "hundred": "100", "a hundred": "100", "one hundred": "100"}


class AmbiguousAnswer(ValueError):
    """The string holds several \\boxed{} answers: nothing single to compare."""


def match_brace(s: str, open_pos: int) -> int:
    """Index of the `}` closing the `{` at `open_pos`, or -1 if unbalanced. Skips `\\{`/`\\}`."""
    depth = 0
    i = open_pos
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _brace_pairs(s: str) -> dict[int, int]:
    """Position of every `{` -> its matching `}` in one linear pass (escaped braces skipped)."""
    pairs, stack, i, n = {}, [], 0, len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            stack.append(i)
        elif c == "}" and stack:
            pairs[stack.pop()] = i
        i += 1
    return pairs


def find_boxed(text: str) -> list[tuple[int, int, str]]:
    """All `\\boxed{...}` / `\\fbox{...}` groups (nested braces handled): (start, end, content).
    Linear in len(text), also for adversarial input (thousands of unclosed groups)."""
    pairs = _brace_pairs(text)
    res: list[tuple[int, int, str]] = []
    for m in re.finditer(r"\\(?:boxed|fbox)\s*(\{)?", text):
        if res and m.start() < res[-1][1]:
            continue  # nested inside the previous group (\boxed{\boxed{1}})
        if m.group(1) is None:  # `\boxed 5`: one token
            tok = re.match(r"\s*([^\s$]+)", text[m.end():m.end() + 200])
            if tok:
                res.append((m.start(), m.end() + tok.end(), tok.group(1)))
            continue
        close = pairs.get(m.end() - 1, -1)
        if close != -1:
            res.append((m.start(), close + 1, text[m.end():close]))
    return res


def max_depth(s: str) -> int:
    depth = best = 0
    for c in s:
        if c in "({[":
            depth += 1
            best = max(best, depth)
        elif c in ")}]":
            depth -= 1
    return best


def balanced(s: str) -> bool:
    """Every (, [, { is closed by the matching kind (intervals like [1, 2) are allowed)."""
    stack = []
    for c in s.replace("\\{", "").replace("\\}", ""):
        if c in "([{":
            stack.append(c)
        elif c in ")]}":
            if not stack or (c == "}") != (stack.pop() == "{"):
                return False
    return not stack


def _strip_delimiters(s: str) -> str:
    """Repeatedly remove math delimiters and a single enclosing \\boxed{}."""
    for _ in range(20):
        t = s.strip()
        if t.startswith("$$") and t.endswith("$$") and len(t) >= 4:
            t = t[2:-2]
        elif t.startswith("$") and t.endswith("$") and len(t) >= 2:
            t = t[1:-1]
        elif (t.startswith("\\(") and t.endswith("\\)")) or (t.startswith("\\[") and t.endswith("\\]")):
            t = t[2:-2]
        boxes = find_boxed(t)
        if len(boxes) > 1:
            contents = {re.sub(r"\s+", "", b[2]) for b in boxes}
            if len(contents) > 1:
                raise AmbiguousAnswer(t)
            boxes = boxes[-1:]
        if len(boxes) == 1:
            start, end, content = boxes[0]
            before, after = t[:start].rstrip(), t[end:].lstrip()
            if (not before or before[-1] in "=:$" or before[-1].isalpha()) and \
                    (not after or after[0] in ".,;:$" or after[0].isalpha()):
                t = content  # prose or "x =" around the box
            else:
                t = before + "{" + content + "}" + after  # math around it: \boxed{6}^2 is 36
        if t.strip() == s.strip():
            return t.strip()
        s = t
    return s.strip()


def _handle_wrappers(s: str) -> str:
    """\\text{}-like wrappers: whole string -> content (kept as \\text{..} if several words);
    trailing after math -> dropped as a unit (unless it holds digits); elsewhere -> content."""
    for _ in range(50):
        m = _WRAPPER_RE.search(s)
        if not m:
            return s
        close = match_brace(s, m.end() - 1)
        if close == -1:
            return s
        inner = s[m.end():close].strip()
        before, after = s[:m.start()], s[close + 1:]
        low = inner.lower()
        if low in ("and", ",", ";"):
            s = before + " , " + after
        elif low == "or":
            s = before + " or " + after
        elif not before.strip() and not after.strip():
            if re.fullmatch(r"[A-Za-z]+(?:\s+[A-Za-z]+)+", inner) and m.group(1).startswith("text"):
                return "\\text{" + re.sub(r"\s+", " ", inner) + "}"
            s = inner
        elif before.strip() and m.group(1) in _UNIT_WRAPPERS and re.fullmatch(r"\s*(\^\s*\{?\d\}?)?\s*", after) and not re.search(r"\d", inner):
            s = before  # a unit: "10\text{ cm}^2"
        else:
            s = before + " " + inner + " " + after
    return s


def _strip_plain_units(s: str) -> str:
    """'72 degrees', '64 square feet', '5 cm^2', '10weeks' -> the number; words like 'or' are kept."""
    m = re.fullmatch(r"(-?\d+(?:\.\d+)?)([a-zA-Z]{2,})", s)
    if m and m.group(2).lower() in _GLUED_UNITS:
        return m.group(1)  # a unit glued to the number, `10weeks`, `5cm` (`2abc`, `5sec`-as-secant stay math)
    tokens = s.split(" ")
    if tokens and re.fullmatch(r"\^\{?\d\}?", tokens[-1]):
        tokens = tokens[:-1]
    k = len(tokens)
    while k > 1 and re.fullmatch(r"[a-zA-Z]+(\^\{?\d\}?)?", tokens[k - 1]):
        word = re.match(r"[a-zA-Z]+", tokens[k - 1]).group(0)
        if word.lower() in _MATH_WORDS or (len(word) < 3 and word not in _UNIT_WORDS):
            return s
        k -= 1
    head = " ".join(tokens[:k])
    if k == len(tokens) or not re.search(r"\d", head) or re.search(r"[-+*/^_=<>(\[{,\\]$", head):
        return s
    return head


_APPROX_RE = re.compile(r"\\approx|≈")
_APPROX_NAME_RE = re.compile(r"\s*(?:[A-Za-z]|\\[a-zA-Z]+)(?:_\{?[A-Za-z0-9]+\}?)?\s*")
_GLUED_OR_RE = re.compile(r"(?<=[)\]}])\s*or\s*(?=[(\[])")


def _approx(s: str) -> str:
    """`x \\approx 11` states x (its right side is the answer); `\\frac{1}{3} \\approx 0.33` keeps the exact left
    side (what follows `\\approx` is a rounding of it). A decimal answer is then judged by the rounding policy."""
    parts = _APPROX_RE.split(s)
    if len(parts) == 1:
        return s
    if len(parts) == 2 and (not parts[0].strip() or (_APPROX_NAME_RE.fullmatch(parts[0])
                                                      and parts[0].strip() not in ("\\pi", "e", "i", "\\infty"))):
        return parts[1]
    return parts[0]


def normalize(s: str) -> str:
    """Canonical string form of one answer (see the policy in rewards.math). May raise
    AmbiguousAnswer for several different boxed answers."""
    s = _ESCAPED_CMD_RE.sub(r"\\", s.strip())
    s = _strip_delimiters(s)
    s = _REMOVE_RE.sub(" ", s)
    s = _GLUED_REL_RE.sub(r"\\\1 ", s)  # `-5\lex\le1`: `\le` glued to a one-letter variable
    s = _CLOCK_RE.sub(_clock, s)
    for rx, rep in _REPLACE:
        s = rx.sub(rep, s)
    s = _handle_wrappers(s)
    s = _approx(s)
    s = _GLUED_OR_RE.sub(" or ", s)  # `(11,7)or(7,11)`: a glued "or" between two answers still joins them
    s = _SHORT_FRAC_RE.sub(r"\\frac{\1}{\2}", s)
    s = _SHORT_FRAC1_RE.sub(r"\\frac{\1}{", s)
    s = _SHORT_FRAC2_RE.sub(r"\\frac\1{\2}", s)
    s = _SHORT_SQRT_RE.sub(r"\\sqrt{\1}", s)
    s = _SPACED_GROUP_SEP_RE.sub("{,}", s)  # `14 {, }916`: a spaced-out `{,}` thousands separator
    s = re.sub(r"\s+", " ", s).strip()
    s = re.sub(r"(?:[.;,]|\\(?![a-zA-Z{}]))+$", "", s).strip()  # trailing '.', '\', ','
    s = _strip_plain_units(s).strip()
    m = _CHOICE_RE.match(s)
    if m:
        s = m.group(1)
    m = _THOUSANDS_RE.match(s)
    if m:
        s = m.group(1) + re.sub(r",|\{,\}|\\,| ", "", m.group(2)) + (m.group(3) or "")
    s = _MIXED_RE.sub(_mixed, s)
    s = _REPEATING_RE.sub(_repeating, s)
    m = _E_NOTATION_RE.fullmatch(s)  # `1.2e-3`, a whole answer in a calculator's notation
    if m:
        s = f"{m.group(1)}*10^{{{int(m.group(2))}}}"
    m = _SLASH_MIXED_RE.fullmatch(s)  # `2 1/2`, a whole answer: the mixed number when the fraction is proper
    if m and int(m.group(3)) < int(m.group(4)):
        s = f"{m.group(1)}({m.group(2)}+\\frac{{{m.group(3)}}}{{{m.group(4)}}})"
    s = _NUMBER_WORDS.get(s.lower(), s)
    return s


def _clock(m: re.Match) -> str:
    hour, minute, half = int(m.group(1)), m.group(2), (m.group(3) or "").lower()
    if half and 1 <= hour <= 12:
        hour = hour % 12 + (12 if half == "p" else 0)
    return f"{hour}:{minute}" if half else f"{m.group(1)}:{minute}"


def _repeating(m: re.Match) -> str:
    """`0.\\overline{3}` = 1/3, `1.2\\overline{34}` = 611/495: the exact fraction of a repeating decimal."""
    sign, whole, fixed, rep = m.group(1), m.group(2) or "0", m.group(3), m.group(4)
    num = int(whole + fixed + rep) - int(whole + fixed)
    den = int("9" * len(rep) + "0" * len(fixed))
    return f"{sign}\\frac{{{num}}}{{{den}}}"


def _mixed(m: re.Match) -> str:
    whole, num, den = m.group(1), m.group(2), m.group(3)
    if int(num) < int(den):
        return f"({whole}+\\frac{{{num}}}{{{den}}})"
    return m.group(0)


def compact(s: str) -> str:
    """Key for exact string comparison: spaces removed except between a command and a letter."""
    s = re.sub(r"(\\[a-zA-Z]+) (?=[a-zA-Z])", "\\1\x00", s)
    return s.replace(" ", "").replace("\x00", " ")


def split_top(s: str, seps: tuple[str, ...]) -> list[str]:
    """Split at separators that are outside (), [], {} and \\{ \\}. Word separators must be
    surrounded by spaces in `s` (e.g. ' or ')."""
    parts, depth, start, i, n = [], 0, 0, 0, len(s)
    while i < n:
        c = s[i]
        if c == "\\" and i + 1 < n and s[i + 1] in "{}":
            depth += 1 if s[i + 1] == "{" else -1
            i += 2
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0:
            for sep in seps:
                if s.startswith(sep, i):
                    parts.append(s[start:i])
                    i += len(sep)
                    start = i
                    break
            else:
                i += 1
            continue
        i += 1
    parts.append(s[start:])
    return [p.strip() for p in parts]


def top_level_span(s: str) -> bool:
    """True if the first bracket in `s` (at index 0) closes at the last character."""
    depth = 0
    for i, c in enumerate(s):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return i == len(s) - 1
    return False
