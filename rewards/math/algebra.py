"""Exact arithmetic for the verifier's fast path: rational functions over Q(i, sqrt(2), sqrt(3), ...).

A value is a rational function (num, den) of polynomials whose atoms are independent (variables,
pi, e, infinity). The representation is canonical (square roots are split into square-free primes
with sqrt(p)^2 reduced to p, i^2 to -1), so two values are equal iff n1*d2 - n2*d1 is the zero
polynomial: no floating point, no tolerance, no simplifier heuristics. Sizes are bounded
(`MAX_BITS`, `MAX_TERMS`, `MAX_FACTORIAL`): an operation whose result would be huge raises
`TooExpensive` before doing the work. The parser that builds these values is `rewards.math.exact`.
"""

from __future__ import annotations

import math
from fractions import Fraction

MAX_BITS = 200_000  # bits of any one numerator/denominator
MAX_TERMS = 4_000  # terms of any one polynomial
MAX_FACTORIAL = 5_000


class Unsupported(ValueError):
    """Not handled here; `known` is False when an unknown LaTeX command or construct was seen."""

    def __init__(self, msg: str, known: bool = True):
        super().__init__(msg)
        self.known = known


class Garbage(Unsupported):
    """Prose, not mathematics (e.g. 'forty two', 'unparseable_latex')."""


class TooExpensive(ValueError):
    """The exact value would be too large to compute within the time budget."""


# ---------------------------------------------------------------- polynomials over Q(i, sqrt p)
# A monomial is a sorted tuple of (atom, exponent); a polynomial a dict monomial -> Fraction.
# Atoms: variable names, "\\pi", "e", "\\infty", "i" (i^2 = -1) and "sqrt:p" for primes p.

def _check_frac(c: Fraction) -> Fraction:
    if c.numerator.bit_length() > MAX_BITS or c.denominator.bit_length() > MAX_BITS:
        raise TooExpensive("number too large")
    return c


def _mono_mul(a: tuple, b: tuple) -> tuple[tuple, Fraction]:
    exps = dict(a)
    for atom, e in b:
        exps[atom] = exps.get(atom, 0) + e
    coef = Fraction(1)
    out = []
    for atom, e in sorted(exps.items()):
        if atom == "i":
            if (e // 2) % 2:
                coef = -coef
            e %= 2
        elif atom.startswith("sqrt:"):
            coef *= int(atom[5:]) ** (e // 2)
            e %= 2
        if e:
            out.append((atom, e))
    return tuple(out), coef


def p_const(c) -> dict:
    c = Fraction(c)
    return {(): c} if c else {}


def p_add(a: dict, b: dict, sign: int = 1) -> dict:
    out = dict(a)
    for m, c in b.items():
        v = out.get(m, 0) + sign * c
        if v:
            out[m] = _check_frac(v)
        else:
            out.pop(m, None)
    return out


def p_mul(a: dict, b: dict) -> dict:
    if len(a) * len(b) > MAX_TERMS * 8:
        raise TooExpensive("polynomial too large")
    out: dict = {}
    for ma, ca in a.items():
        for mb, cb in b.items():
            m, k = _mono_mul(ma, mb)
            v = out.get(m, 0) + ca * cb * k
            if v:
                out[m] = _check_frac(v)
            else:
                out.pop(m, None)
    if len(out) > MAX_TERMS:
        raise TooExpensive("polynomial too large")
    return out


def p_pow(a: dict, n: int) -> dict:
    if not a:  # the zero polynomial: 0^n = 0 (n > 0); 0^0 is left undecided
        if n == 0:
            raise Unsupported("0^0")
        return {}
    if len(a) == 1:
        (m, c), = a.items()
        bits = max(c.numerator.bit_length(), c.denominator.bit_length())
        if bits * n > MAX_BITS or any(e * n > 10**6 for _, e in m):
            raise TooExpensive("power too large")
    elif n > 400 or math.comb(n + len(a) - 1, len(a) - 1) > MAX_TERMS:
        raise TooExpensive("power too large")
    result, base = p_const(1), a
    while n:
        if n & 1:
            result = p_mul(result, base)
        n >>= 1
        if n:
            base = p_mul(base, base)
    return result


def p_constant_value(a: dict) -> Fraction | None:
    """The rational value if `a` has no atoms at all."""
    if not a:
        return Fraction(0)
    if len(a) == 1 and () in a:
        return a[()]
    return None


# --------------------------------------------------------- rational functions: (num, den) pairs

def r_div(a: tuple, b: tuple) -> tuple:
    if not b[0]:
        raise Unsupported("division by zero")
    return _r_norm(p_mul(a[0], b[1]), p_mul(a[1], b[0]))


def _r_norm(num: dict, den: dict) -> tuple:
    c = p_constant_value(den)
    if c is not None:
        return ({m: _check_frac(v / c) for m, v in num.items()}, p_const(1))
    return num, den


def r_add(a: tuple, b: tuple, sign: int = 1) -> tuple:
    if a[1] == b[1]:
        return _r_norm(p_add(a[0], b[0], sign), a[1])
    return _r_norm(p_add(p_mul(a[0], b[1]), p_mul(b[0], a[1]), sign), p_mul(a[1], b[1]))


def r_mul(a: tuple, b: tuple) -> tuple:
    return _r_norm(p_mul(a[0], b[0]), p_mul(a[1], b[1]))


def r_const(c) -> tuple:
    return p_const(c), p_const(1)


def r_atom(name: str) -> tuple:
    return {((name, 1),): Fraction(1)}, p_const(1)


def r_rational(a: tuple) -> Fraction | None:
    """The value if `a` is a plain rational number."""
    n, d = p_constant_value(a[0]), p_constant_value(a[1])
    return None if n is None or d is None else n / d


def equal(a: tuple, b: tuple) -> bool:
    """Exact equality of two evaluated values."""
    return not p_add(p_mul(a[0], b[1]), p_mul(b[0], a[1]), -1)


def proportional(a: tuple, b: tuple) -> bool:
    """a = q*b for a non-zero rational q (used for equations: lhs - rhs of each)."""
    na, nb = p_mul(a[0], b[1]), p_mul(b[0], a[1])
    if not na or not nb or set(na) != set(nb):
        return not na and not nb
    m = next(iter(na))
    q = na[m] / nb[m]
    return all(na[k] == q * nb[k] for k in na)


# ------------------------------------------------------------------------------ radicals, powers

def _squarefree(n: int) -> tuple[int, list[int]]:
    """n = out^2 * prod(primes), primes distinct. Trial division to 10^4; a cofactor below 10^8
    is then prime; a larger one must be a perfect square, else Unsupported."""
    out, primes, p = 1, [], 2
    while p < 10_000 and p * p <= n:
        while n % (p * p) == 0:
            n //= p * p
            out *= p
        if n % p == 0:
            primes.append(p)
            n //= p
        p += 1 if p == 2 else 2
    if n > 1:
        if n < 10**8:
            primes.append(n)
        else:
            root = math.isqrt(n)
            if root * root != n:
                raise Unsupported("radicand too large to factor")
            out *= root
    return out, sorted(primes)


def r_sqrt(a: tuple) -> tuple:
    q = r_rational(a)
    if q is None:
        raise Unsupported("sqrt of a non-rational")
    atoms: list = []
    if q < 0:
        atoms.append("i")
        q = -q
    o1, p1 = _squarefree(q.numerator * q.denominator)
    atoms += [f"sqrt:{p}" for p in p1]
    mono = tuple(sorted((x, 1) for x in atoms))
    return {mono: Fraction(o1, q.denominator)} if q else p_const(0), p_const(1)


def _int_root(n: int, k: int) -> int | None:
    if n < 0:
        if k % 2 == 0:
            return None
        r = _int_root(-n, k)
        return None if r is None else -r
    r = round(n ** (1.0 / k)) if n.bit_length() < 1000 else None
    if r is None:
        raise Unsupported("root of huge number")
    for cand in (r - 1, r, r + 1):
        if cand >= 0 and cand**k == n:
            return cand
    return None


def r_root(a: tuple, k: int) -> tuple:
    if k == 2:
        return r_sqrt(a)
    q = r_rational(a)
    if q is None or k <= 0 or k > 64:
        raise Unsupported("root")
    num, den = _int_root(q.numerator, k), _int_root(q.denominator, k)
    if num is None or den is None:
        raise Unsupported("irrational root")
    return r_const(Fraction(num, den))


def r_pow(base: tuple, exp: tuple) -> tuple:
    q = r_rational(exp)
    if q is None:
        raise Unsupported("symbolic exponent")
    if q.denominator != 1:
        if q.denominator > 64 or abs(q.numerator) > 10**4:
            raise Unsupported("exponent")
        r = r_rational(base)
        if r is None or r < 0:
            raise Unsupported("fractional power")
        return r_pow(r_root(base, q.denominator), r_const(q.numerator))
    n = q.numerator
    if n < 0:
        if not base[0]:
            raise Unsupported("division by zero")
        base, n = (base[1], base[0]), -n
    if abs(n) > 10**6:
        raise TooExpensive("exponent too large")
    return _r_norm(p_pow(base[0], n), p_pow(base[1], n))


def r_factorial(a: tuple) -> tuple:
    q = r_rational(a)
    if q is None or q.denominator != 1 or q < 0:
        raise Unsupported("factorial of a non-integer")
    if q > MAX_FACTORIAL:
        raise TooExpensive("factorial too large")
    return r_const(math.factorial(int(q)))


def r_binom(a: tuple, b: tuple) -> tuple:
    n, k = r_rational(a), r_rational(b)
    if n is None or k is None or n.denominator != 1 or k.denominator != 1 or n < 0:
        raise Unsupported("binomial")
    if n > MAX_FACTORIAL:
        raise TooExpensive("binomial too large")
    return r_const(math.comb(int(n), int(k)) if k >= 0 else 0)

