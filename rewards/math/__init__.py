"""Math answer verification: extraction, equivalence and the 0/1 reward.

Public API: `extract_answer(completion)`, `is_equivalent(gold, pred, timeout_s)`,
`score(completion, gold, *, require_format, timeout_s) -> RewardResult`, `warmup()`.

Pipeline (cheapest first; most pairs never touch sympy, and importing this module does not
import sympy):
 0. locating (rewards.math.locate): either side may be a whole text (a solution, a completion, "Answer
    $ 9 $"); reasoning inside <think> is dropped; an answer marker ("final answer", "the answer
    is", "answer:") after the last box states the answer (its first sentence); several boxes: a
    marker after the first box keeps only the later boxes (a revision); boxes joined by
    "and"/commas/spacing or a short phrase without a hedge or change-of-mind word ("for part (a)
    and"; never "or"/"maybe"/"actually"/"so"/...) are one list answer, in a gold as in a prediction
    (a gold's "or" joins too; a gold with a hedge between boxes stays a data error); math blocks
    joined the same way (`$21,16$ and $11$`) are one list; one box in prose -> its content; prose
    (a 4+-letter word or two short words outside math, not units) -> the first sentence after the
    last answer marker, then the last math block (searched again if it is prose itself) or bare
    number; a sentence with "or"/"maybe"/"either"/... around it is `hedged`; a sentence after a
    marker that ends in "?" states nothing; inline math broken over lines is not an answer.
 1. size guards: a text over 50,000 characters is not searched; a predicted answer over 1,000 characters or nested over 40 brackets deep is not
    examined (verdict `timeout`); a gold like that is a data error (`unparseable_gold`).
 2. string normalisation (rewards.math.normalize.normalize), the documented policy:
    - delimiters `$..$`, `$$..$$`, `\\(..\\)`, `\\[..\\]` are removed; one `\\boxed{}`/`\\fbox{}`
      with nothing or prose / `x =` around it is replaced by its content (with math around it,
      `\\boxed{6}^2`, by a plain group); several *different* boxes -> hedged (gold: data error);
    - `\\left`, `\\right`, `\\!`, `\\,`, `\\;`, `\\quad`, `\\displaystyle`, sizing commands removed;
      `\\dfrac`/`\\tfrac` -> `\\frac`, `\\frac34` -> `\\frac{3}{4}`, `\\sqrt3` -> `\\sqrt{3}`,
      a doubled backslash before a known command (`\\\\frac`, JSON double-escaping) -> single;
    - degrees (`^\\circ`, `°`), percent signs (`\\%`, `%`: 10% == 10, *not* 0.1) and dollar signs
      are dropped; a trailing `.`/`,`/`\\` is dropped; `x \\approx 11` is 11 (a name's
      approximate value), otherwise anything after `\\approx` is dropped (`\\frac{1}{3} \\approx 0.33`);
      a glued `)or(` joins like ` or `;
    - `\\text{}`-like wrappers (`\\text`, `\\mathrm`, `\\textbf`, `\\mbox`, ...): the whole answer ->
      its content (a multi-word `\\text{}` answer stays text); a trailing `\\text{..}` after math
      is a unit and dropped unless it contains digits; `\\text{and}` -> `,`, `\\text{or}` -> `or`;
    - plain trailing unit words after a number are dropped ("72 degrees", "64 square feet",
      "5 cm") - never `or`/`and`/`pi`/... and never 1-2 letter words other than common units;
    - thousands separators are removed only when the whole answer (or the right side of `x =`)
      is one number written with 3-digit groups (`7,425,000`, `7{,}425`, `7\\,425`); otherwise a
      comma separates list items; `918\\frac{1}{2}` with a proper fraction is a mixed number;
    - `(C)` -> `C` (multiple choice); `\\cfrac` -> `\\frac`; `\\textnormal` is a text wrapper; `\\!` is
      dropped (`32,\\!349` is 32349); `€ £ ¥` are dropped like `$`; `²` -> `^{2}`;
    - decimal comma (verify._decimal_comma_retry): `1000,99`, `0,111`, `2,74` (a comma followed by 2 or
      4+ digits, or after a lone 0) is first a list; only when that fails against a single number on
      the other side is it read as a decimal. `3,5` (one digit) stays the list "3, 5"; `1.234,5`
      (dot thousands) is not supported (fails closed); `14 {, }916` is `14{,}916`;
    - percent policy: `10\\%`, `10 percent`, `10 pct` all equal 10, never 0.1 (the MATH convention).
    - round 3: a repeating decimal `0.\\overline{3}` is the fraction 1/3; a whole answer that is a
      number word ("three", "Twelve") is the number; `\\mathbb{R}`/`ℝ` is (-inf, inf);
      a whole answer `1.2e-3` is 1.2*10^{-3}; a whole answer `2 1/2` (proper fraction) is a mixed number;
      numbers written in a base on both sides (`2012_3`, `1F_{16}`) compare by value;
      clock times: `08:34 \\text{P.M.}` is 20:34, `20:34:00` is 20:34; `\\lex` (a glued `\\le x`) is `\\le x`;
      a known unit glued to a number (`10weeks`, `5cm`) is dropped (`2abc` is a product);
 3. structure: top-level `,` `;` `or` `and` make an *unordered* list (a multiset; MATH's "enter
    all solutions separated by commas"); `\\{..\\}` is a set; `(..)`, `[..]`, `\\langle..\\rangle`
    with commas (or semicolons, when no comma: `(0;-2;6)`) are ordered tuples / intervals whose brackets must match exactly; `\\cup` joins
    intervals (compared as an unordered union, not merged); `x > 2`, `1 \\le x < 3`, `x \\in (1,2]`
    become intervals; `\\pm` expands to two list items (inside an equation too: `x = 1 \\pm \\sqrt{2}`; a list
    holding it has both); `\\begin{pmatrix}` etc. are matrices (shape
    and cells); `y = expr` whose left side names the answer (`x`, `a_1`, `f(x)`, `f^{-1}(x)`)
    equals `expr`; `x = 1` vs `y = 1` differ; other equations are equal when lhs - rhs agree up
    to a non-zero rational factor (`x+y=1` == `2x+2y=2`); `3 = 2` never equals 2. A chain whose
    first side names the answer, `x = 5+5+1 = 11`, is its last side unless a middle side provably
    differs from it (`x = 3 = 2` is malformed). Names also include `AB`, `|AB|`, `\\frac{NO}{BO}`,
    `V_1:V_2` and `(p,q)`. `x \\ne a` is the union (-inf,a) U (a,inf); `-x > -1` is `x < 1`.
    `a:b` (times, ratios) is an ordered tuple of its parts: 12:00 != 13:00, 7:32 != 14:64.
    `|x| < a`, `|x| \\ge a`, `1 \\le |z| \\le 3/2` (bounds provably >= 0) are the interval / union of
    two intervals they describe (`1 \\le |z| \\le 3/2` is not `[1, 3/2]`); a bound of unknown sign is
    malformed. Other one-direction chains between expressions, `f(2) < f(1) < f(4)`, are compared
    side by side, a `>` chain mirrored (`c > b > a` == `a < b < c`); mixed directions are malformed.
    The same item twice in a predicted list, `(3,17,3,7)` and `(3, 17, 3, 7)`, counts once when
    the prediction has more items than the gold (`x = 4 or x = 4` is 4). `x = 3, y = 4` (distinct
    symbols in their own order, `x` before `y`; not joined by "or") is the ordered pair `(3, 4)`, either side. `\\{x \\mid x > 2\\}` (also
    `:` / `|`) is the set its condition describes (a domain other than the reals, `x \\in \\mathbb{Z}`, is malformed). `\\angle ABC = 30` names the answer. For a
    multiple-choice gold `C`, a prediction `(C) 5` or `c` is the letter (one letter only: `(C)(D)` is not).
    Sets vs inequalities: `x \\in [-2,7]`, `[-2,7]` and `-2 \\le x \\le 7` are one interval, in
    either direction (symmetric; math-verify compares them only one way round by default).
    `{1,2,3}` (braces without backslash) with commas is a set; `[\\begin{array}..]` is its matrix.
    A predicted list with more items than the gold (e.g. "1 or 2", `\\pm 2`, `1, 2` for gold 1)
    is `hedged`; text answers (a word of 3+ letters, yes/no, a multi-word `\\text{}`) compare
    case-insensitively as text.
 4. scalars: equal normalised strings -> equal (if the gold is not prose); else the exact
    evaluator (rewards.math.exact: rationals, decimals (exact: 0.1 = 1/10, never a float), mixed
    numbers, radicals, i, pi, e, polynomials and rational functions, factorials, binomials) decides
    exactly: 1/2^99 != 1/2^98, (x^2-1)/(x-1) = x+1; else the numeric path (rewards.math.numeric: trig,
    logs with a base, exp, nested radicals, fractional powers, finite sums/products over
    uninterpreted sequences `F_{n-k-1}`; mpmath at 50 and 90 digits at the
    child's random points plus every sign pattern, equal only when all agree to 60 digits,
    different only when > 1e-20 apart, otherwise unsure; ambiguous notation such as `\\sin x`,
    bare `\\log`, `x^23` is unsure) decides in-process; else sympy in a killable child process
    (rewards.math.sympy_check: latex2sympy2_extended, 40-digit evaluation, random-point identity test).
    Rounding policy (compare._approximation, before the above): a decimal with >= 4 significant
    digits against an exact value it cannot write exactly is equal when it is that value rounded
    (half away from zero) or truncated at the decimal's own last place (`2.6667`/`2.6666` for 8/3,
    `4.123105625617661` for `\\sqrt{17}`, `3.142` for pi), else different; `3.14` for pi and `0.33`
    for 1/3 (3 and 2 digits) fall to the exact rules and differ; two decimals compare exactly;
    `6.999` never equals 7; scientific notation counts its digits (`2.3148 \\times 10^{-3}` for 1/432) but an
    integer or fraction is never matched at or above its units digit (`1.234\\times10^4` is not 12345). A decimal
    gold shorter than 12 significant digits ("to 4 places") needs a number literal: `\\sqrt{17}` and `1.1^{10}`
    restate the computation (a 16-digit float dump such as `4.123105625617661` is matched by `\\sqrt{17}`). Two
    decimals are equal only when the coarser one (>= 4 digits) is the rounding of the finer (`3.1416`,
    `3.14159`); a coarser prediction may also truncate. No other tolerance (sympy's numeric checks: 40
    digits, 1e-25 relative); interval and inequality endpoints follow the same rule.
    A computation written with its result, `\\sqrt{4} = 2`, `\\binom{5}{2} = 10`, states its right side when
    the two sides are provably equal constants (exact evaluator or numeric path); `3 = 2` and
    `x + 1 = 2` state nothing.
    Anti-hacking: when the gold is a number literal (integer, decimal, fraction, mixed number,
    a*10^k, 10^k), the prediction must be a number literal too: restating the computation ("123*456",
    "2^{10}", "\\sqrt{25}", "5!") for gold 56088 / 1024 / 5 / 120 is `wrong`.
 Gold that is prose or does not parse -> `unparseable_gold`, never reward 1.

Extraction (`score`): text inside <think>...</think> is ignored (an unclosed <think> hides the
rest, and so does one re-opened after </think>); then the last complete <answer>...</answer>, else an
answer stated after a marker that follows the last box, else the last \\boxed{} (or the joined list, as
in step 0), else the text after the last "The answer is" / "My answer is" / "Final answer:" / "Answer:" /
GSM8K's "####" (the math after it whole, `Answer: 2x + 3`); a marker whose statement is taken back
after its sentence ("Or 4.", "wait", "actually", "hmm", "mistake", "contradiction") is `hedged`. Several different <answer> blocks or boxes (not
provably equal) -> `hedged`. `require_format=True` needs </think> followed by an <answer> block.

Layout (every module is stdlib-only except sympy_check, which runs in the child process, and
numeric, which imports mpmath (a sympy dependency, ~0.03 s) on its first use):
  extract.py       final-answer extraction from a completion
  normalize.py     string normalisation, brace matching, top-level splitting (step 2)
  structure.py     the comparison tree: named node types and `structure()` (step 3)
  exact.py         the exact evaluator's parser; algebra.py its arithmetic (step 4)
  tokens.py        the token cursor exact.py's and numeric_parse.py's parsers share
  compare.py       tree comparison and `Verdict` (steps 3-4)
  numeric.py       the in-process numeric identity test for scalars exact.py cannot decide (step 4);
                   numeric_parse.py its parser
  sympy_client.py  the parent side of the killable sympy child; sympy_check.py the child
  verify.py        `verdict`, `is_equivalent`, `score`, `warmup` and the size guards (step 1)
"""

from rewards.math.compare import Verdict
from rewards.math.extract import extract_answer
from rewards.math.verify import (
    MAX_DEPTH,
    MAX_GOLD_CHARS,
    MAX_PRED_CHARS,
    is_equivalent,
    score,
    verdict,
    warmup,
)

__all__ = [
    "MAX_DEPTH", "MAX_GOLD_CHARS", "MAX_PRED_CHARS", "Verdict", "extract_answer", "is_equivalent",
    "score", "verdict", "warmup",
]
