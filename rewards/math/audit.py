"""False-negative audit: other valid ways of writing a gold answer (`rewrite_forms`).

A verifier that rejects a correct answer written differently teaches the policy a house style
instead of mathematics. `rewrite_forms(gold)` produces forms that must score 1 against `gold`
(LaTeX <-> plain, decimal <-> fraction, reordered lists and sets, `\\frac` vs `a/b`, added
`$...$` / `\\boxed{}` / `x = `); `r1zero verify-audit` scores each and reports the failures.
Only rewrites that are equal by construction are produced (no evaluation of the gold).
"""

from __future__ import annotations

import re
from fractions import Fraction

from rewards.math.normalize import split_top

_FRAC_RE = re.compile(r"^(-?)\\[dt]?frac\{(\d+)\}\{(\d+)\}$")
_SLASH_RE = re.compile(r"^(-?)(\d+)\s*/\s*(\d+)$")
_DECIMAL_RE = re.compile(r"^-?\d*\.\d+$")
_INT_RE = re.compile(r"^-?\d+$")


def _number_forms(g: str) -> list[str]:
    out = []
    m = _FRAC_RE.match(g) or _SLASH_RE.match(g)
    if m:
        sign, num, den = m.group(1), int(m.group(2)), int(m.group(3))
        out += [f"{sign}{num}/{den}", f"{sign}\\frac{{{num}}}{{{den}}}", f"{sign}\\dfrac{{{num}}}{{{den}}}"]
        q = Fraction(num, den)
        d = den // q.denominator * q.denominator
        if d and all(p in (2, 5) for p in _prime_factors(q.denominator)):
            out.append(f"{sign}{float(q):.12g}")  # terminating decimal: exact
    elif _DECIMAL_RE.match(g):
        q = Fraction(g)
        out += [f"\\frac{{{q.numerator}}}{{{q.denominator}}}" if q >= 0
                else f"-\\frac{{{-q.numerator}}}{{{q.denominator}}}", f"{q.numerator}/{q.denominator}"]
    elif _INT_RE.match(g):
        n = int(g)
        out += [f"{n}.0"]
        if abs(n) >= 10_000:
            out.append(f"{n:,}")  # thousands separators
    return out


def _prime_factors(n: int) -> set[int]:
    out, p = set(), 2
    while p * p <= n and p < 1000:
        while n % p == 0:
            out.add(p)
            n //= p
        p += 1
    if n > 1:
        out.add(n)
    return out


def _list_forms(g: str) -> list[str]:
    """Reordered lists and sets (order never matters for them)."""
    if g.startswith("\\{") and g.endswith("\\}"):
        items = split_top(g[2:-2], (",",))
        return ["\\{" + ", ".join(reversed(items)) + "\\}"] if len(items) > 1 else []
    if g[:1] in "([" or "=" in g:
        return []  # tuples / intervals are ordered
    items = split_top(g, (",",))
    return [", ".join(reversed(items))] if len(items) > 1 else []


def _latex_forms(g: str) -> list[str]:
    out = []
    plain = re.sub(r"\\[dt]?frac\{([^{}]+)\}\{([^{}]+)\}", lambda m: f"{_paren(m.group(1))}/{_paren(m.group(2))}", g)
    if plain != g:
        out.append(plain)
    if "\\frac" in g:
        out.append(g.replace("\\frac", "\\dfrac"))
    if "\\cdot" in g:
        out.append(g.replace("\\cdot", "\\times"))
    if "\\le" in g or "\\ge" in g:
        out.append(g.replace("\\leq", "<=").replace("\\geq", ">=").replace("\\le", "<=").replace("\\ge", ">="))
    return out


def _paren(t: str) -> str:
    """Parentheses only where a/b needs them (`(x+1)/2`, but `5/6`: a literal stays a literal)."""
    return t if re.fullmatch(r"\w+|\\[a-zA-Z]+", t.strip()) else f"({t})"


def rewrite_forms(gold: str) -> list[str]:
    """Other valid forms of `gold` (deduplicated, `gold` itself excluded)."""
    g = gold.strip()
    if g.startswith("$") and g.endswith("$") and len(g) > 1:
        g = g.strip("$").strip()
    forms = [f"${g}$", f"\\boxed{{{g}}}", f"\\({g}\\)"]
    forms += _number_forms(g) + _list_forms(g) + _latex_forms(g)
    if re.fullmatch(r"-?[\d.]+|\\frac\{\d+\}\{\d+\}", g):
        forms.append(f"x = {g}")
    seen, out = {gold.strip()}, []
    for f in forms:
        if f not in seen:
            seen.add(f)
            out.append(f)
    return out
