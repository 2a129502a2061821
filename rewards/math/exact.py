"""Exact, sympy-free evaluation of common answer expressions (the verifier's fast path).

`evaluate(s)` parses a normalised answer (see `rewards.math.normalize.normalize`) into a rational
function with coefficients in Q(i, sqrt(2), sqrt(3), ...) over independent atoms (variables, pi, e,
infinity), using the exact arithmetic of `rewards.math.algebra`. The representation is canonical
(square roots are split into square-free primes with sqrt(p)^2 reduced to p, i^2 to -1), so two
values are equal iff n1*d2 - n2*d1 is the zero polynomial: no floating point, no tolerance, no
simplifier heuristics.

Anything else (trig, logs, symbolic exponents, nested radicals, ...) raises `Unsupported` and the
caller hands the pair to sympy in a killable child process. Inputs whose exact value would be
huge (9^{9^{9^9}}, 100000!, (a+b+c+d)^{200}) raise `TooExpensive` before any work is done;
prose words raise `Garbage`. Never calls eval().
"""

from __future__ import annotations

import re
from fractions import Fraction

from rewards.math.algebra import (
    Garbage,
    TooExpensive,
    Unsupported,
    r_add,
    r_atom,
    r_binom,
    r_const,
    r_div,
    r_factorial,
    r_mul,
    r_pow,
    r_rational,
    r_root,
    r_sqrt,
)
from rewards.math.tokens import TokenCursor

KNOWN_FUNCTIONS = frozenset(
    "sin cos tan cot sec csc arcsin arccos arctan sinh cosh tanh log ln exp lim max min gcd lcm "
    "det mod sqrt deg arg sgn floor ceil abs".split()
)
GREEK = frozenset(
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi "
    "rho sigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Sigma Phi Psi "
    "Omega".split()
)


# ---------------------------------------------------------------------------------- the parser

_TOKEN_RE = re.compile(
    r"\s*(?:(?P<num>\d+\.?\d*|\.\d+)|(?P<cmd>\\[a-zA-Z]+)|(?P<word>[a-zA-Z]+)"
    r"|(?P<op>[-+*/^!(){}_'])|(?P<other>\S))"
)


def _tokenize(s: str) -> list[tuple[str, str]]:
    out = []
    pos = 0
    while pos < len(s):
        m = _TOKEN_RE.match(s, pos)
        if m is None or m.end() == pos:
            break
        pos = m.end()
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
    return out


class _Parser(TokenCursor):
    """Recursive descent: expr := term (+|- term)*; term := unary ((*|/|implicit) unary)*;
    unary := (+|-) unary | power; power := postfix (^ exponent)?; postfix := atom !*."""

    error = Unsupported

    def __init__(self, s: str):
        super().__init__(_tokenize(s))
        self.depth = 0

    def parse(self) -> tuple:
        v = self.expr()
        if self.peek() is not None:
            raise Unsupported(f"unexpected {self.peek()[1]!r}", known=self.peek()[0] != "cmd")
        return v

    def expr(self) -> tuple:
        self.depth += 1
        if self.depth > 60:
            raise TooExpensive("nesting too deep")
        v = self.term()
        while self.peek() and self.peek()[1] in "+-":
            sign = 1 if self.take()[1] == "+" else -1
            v = r_add(v, self.term(), sign)
        self.depth -= 1
        return v

    def term(self) -> tuple:
        v = self.unary()
        while True:
            tok = self.peek()
            if tok is None:
                return v
            if tok[1] in ("*", "/"):
                self.take()
                w = self.unary()
                v = r_mul(v, w) if tok[1] == "*" else r_div(v, w)
            elif self._starts_atom(tok):
                v = r_mul(v, self.power())
            else:
                return v

    @staticmethod
    def _starts_atom(tok: tuple[str, str]) -> bool:
        return tok[0] in ("num", "word", "cmd") or tok[1] in ("(", "{")

    def unary(self) -> tuple:
        tok = self.peek()
        if tok and tok[1] in "+-":
            self.take()
            v = self.unary()
            return v if tok[1] == "+" else r_mul(r_const(-1), v)
        return self.power()

    def power(self) -> tuple:
        base = self.postfix()
        if self.peek() and self.peek()[1] == "^":
            self.take()
            tok = self.peek()
            if tok and tok[0] == "num":
                self.take()
                exp = r_const(Fraction(tok[1]))
            elif tok and tok[1] == "{":
                exp = self.group()
            else:
                exp = self.unary()
            return r_pow(base, exp)
        return base

    def postfix(self) -> tuple:
        v = self.atom()
        while self.peek() and self.peek()[1] == "!":
            self.take()
            v = r_factorial(v)
        if self.peek() and self.peek()[1] == "'":
            raise Unsupported("prime")
        return v

    def atom(self) -> tuple:
        tok = self.peek()
        if tok is None:
            raise Unsupported("unexpected end")
        kind, text = tok
        if kind == "num":
            self.take()
            return r_const(Fraction(text))
        if text == "(":
            self.take()
            v = self.expr()
            self.take(")")
            return v
        if text == "{":
            return self.group()
        if kind == "word":
            return self.word()
        if kind == "cmd":
            return self.command()
        raise Unsupported(f"unexpected {text!r}", known=text in "[]|<>,;=")

    def word(self) -> tuple:
        _, text = self.take()
        if len(text) > 2:
            if text.lower() in KNOWN_FUNCTIONS:
                raise Unsupported("function")
            raise Garbage(f"word {text!r}")
        nxt = self.peek()
        if nxt and nxt[1] == "(" and len(text) == 1 and text in "fghFGHpqPQ":
            raise Unsupported("function application")
        if nxt and nxt[1] == "_":
            if len(text) > 1:
                raise Unsupported("subscript")
            return r_atom(text + "_" + self.subscript())
        v = r_const(1)
        for ch in text:
            v = r_mul(v, r_atom("i") if ch == "i" else r_atom(ch))
        return v

    def subscript(self) -> str:
        self.take("_")
        tok = self.take()
        if tok[1] == "{":
            parts = []
            while self.peek() and self.peek()[1] != "}":
                parts.append(self.take()[1])
            self.take("}")
            return "{" + "".join(parts) + "}"
        if tok[0] == "num" and tok[1].isdigit():
            return "{" + tok[1] + "}"
        return "{" + tok[1] + "}"

    def command(self) -> tuple:
        _, text = self.take()
        name = text[1:]
        if name == "frac":
            num = self.group()
            return r_div(num, self.group())
        if name == "sqrt":
            if self.peek() and self.peek()[1] == "[":
                self.take("[")
                k = r_rational(self.expr())
                self.take("]")
                if k is None or k.denominator != 1:
                    raise Unsupported("root index")
                return r_root(self.group(), int(k.numerator))
            return r_sqrt(self.group()) if self.peek() and self.peek()[1] == "{" else r_sqrt(self.power())
        if name == "binom":
            n = self.group()
            return r_binom(n, self.group())
        if name in ("pi", "infty"):
            return r_atom("\\" + name)
        if name in GREEK:
            return r_atom("\\" + name)
        raise Unsupported(f"command {text}", known=name in KNOWN_FUNCTIONS or name in _KNOWN_CMDS)


_KNOWN_CMDS = frozenset("sum prod int lim log ln exp overline lfloor lceil vec hat bar mathbb".split())


def evaluate(s: str) -> tuple:
    """Exact value of a normalised scalar answer. Raises Unsupported / Garbage / TooExpensive."""
    if not s.strip():
        raise Garbage("empty")
    if re.fullmatch(r"[A-Za-z]+(?: [A-Za-z]+)+", s.strip()):
        raise Garbage("prose")
    try:
        return _Parser(s).parse()
    except RecursionError as exc:
        raise TooExpensive("nesting too deep") from exc
    except ZeroDivisionError as exc:
        raise Unsupported("division by zero") from exc
