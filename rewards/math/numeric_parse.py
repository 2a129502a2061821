"""The numeric path's parser: a normalised scalar -> a tuple AST (`rewards.math.numeric`).

Recursive descent over a whitelisted grammar (never eval()); anything outside it, or ambiguous in
LaTeX, raises `Unsure` (the grammar and the refusals are listed in `rewards.math.numeric`).
"""

from __future__ import annotations

import re
from fractions import Fraction

from rewards.math.tokens import TokenCursor

MAX_TOKENS = 200
LONG_DECIMAL = 12  # fractional digits; the child proves such decimals exactly (sympy_check)
_FUNCS = {
    "sin": "sin", "cos": "cos", "tan": "tan", "cot": "cot", "sec": "sec", "csc": "csc",
    "arcsin": "asin", "arccos": "acos", "arctan": "atan", "sinh": "sinh", "cosh": "cosh",
    "tanh": "tanh", "exp": "exp", "ln": "ln",
}
_GREEK = frozenset(  # not gamma / Gamma: Euler's constant to latex2sympy
    "alpha beta delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi "
    "rho sigma tau upsilon phi varphi chi psi omega".split()
)
_TOKEN_RE = re.compile(
    r"\s*(?:(?P<num>\d+\.?\d*|\.\d+)|(?P<cmd>\\[a-zA-Z]+)|(?P<word>[a-zA-Z]+)"
    r"|(?P<op>[-+*/^(){}_\[\]=])|(?P<other>\S))"
)


class Unsure(ValueError):
    """The numeric path cannot decide this pair (the caller asks sympy)."""


# ---------------------------------------------------------------------------------- the parser

def _tokenize(s: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(s):
        m = _TOKEN_RE.match(s, pos)
        if m is None or m.end() == pos:
            break
        pos = m.end()
        if m.lastgroup == "other":
            raise Unsure(f"character {m.group('other')!r}")
        out.append((m.lastgroup, m.group(m.lastgroup)))
        if len(out) > MAX_TOKENS:
            raise Unsure("too long")
    return out


class _Parser(TokenCursor):
    """expr := term (+|- term)*; term := unary ((*|/|implicit) power)*; unary := (+|-) unary |
    power; power := atom (^ exponent)?; AST nodes are tuples ("num", Fraction), ("sym", name),
    ("pi",), ("e",), ("i",), ("add"|"mul"|"div"|"pow", a, b), ("neg", a), ("fn", name, a),
    ("log", base, a), ("root", k, a)."""

    error = Unsure

    def __init__(self, s: str):
        super().__init__(_tokenize(s))
        self.depth = 0
        self.symbols: set[str] = set()
        self.int_symbols: set[str] = set()  # used in an index or a bound: sampled as integers
        self.ints = 0

    def parse(self) -> tuple:
        node = self.expr()
        if self.peek() is not None:
            raise Unsure(f"unexpected {self.peek()[1]!r}")
        return node

    def expr(self) -> tuple:
        self.depth += 1
        if self.depth > 30:
            raise Unsure("nesting too deep")
        node = self.term()
        while self.peek() and self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            rhs = self.term()
            node = ("add", node, rhs if op == "+" else ("neg", rhs))
        self.depth -= 1
        return node

    def term(self) -> tuple:
        node, after_slash = self.unary(), False
        while (tok := self.peek()) is not None:
            if tok[1] in ("*", "/"):
                self.take()
                node = ("mul" if tok[1] == "*" else "div", node, self.unary())
                after_slash = tok[1] == "/"
            elif tok[0] in ("num", "word", "cmd") or tok[1] in ("(", "{"):
                if after_slash:
                    raise Unsure("implicit product after /")  # `1/2x`: 1/(2x) to latex2sympy
                node = ("mul", node, self.power())
            else:
                break
        return node

    def unary(self) -> tuple:
        if self.peek() and self.peek()[1] in ("+", "-"):
            sign = self.take()[1]
            node = self.unary()
            return node if sign == "+" else ("neg", node)
        return self.power()

    def power(self) -> tuple:
        base = self.atom()
        if not self.at("^"):
            return base
        node = ("pow", base, self.exponent())
        if self.at("^"):
            raise Unsure("a^b^c")  # latex2sympy reads it as (a^b)^c, a reader as a^(b^c)
        return node

    def exponent(self) -> tuple:
        self.take("^")
        tok = self.peek()
        if tok is None:
            raise Unsure("empty exponent")
        if tok[1] == "{":
            return self.group()
        if tok[0] == "num" and len(tok[1]) == 1:
            self.take()
            return ("num", Fraction(tok[1]))
        if tok[0] == "word" and len(tok[1]) == 1:
            self.i += 1  # `e^x`: one letter; `e^2x` is exp(2)*x
            return self.letter(tok[1])
        if tok[0] == "cmd" and tok[1] in ("\\pi",):
            self.take()
            return ("pi",)
        raise Unsure("exponent")  # `x^23`, `x^\frac..`: ambiguous or unusual

    def atom(self) -> tuple:
        tok = self.peek()
        if tok is None:
            raise Unsure("unexpected end")
        kind, text = tok
        if kind == "num":
            self.take()
            if "." in text and len(text.split(".")[1]) > LONG_DECIMAL:
                raise Unsure("long decimal")
            return ("num", Fraction(text))
        if text == "(":
            self.take()
            node = self.expr()
            self.take(")")
            return node
        if text == "{":
            return self.group()
        if kind == "word":
            return self.word()
        if kind == "cmd":
            return self.command()
        raise Unsure(f"unexpected {text!r}")

    def letter(self, ch: str) -> tuple:
        if ch == "e":
            return ("e",)
        if ch == "i":
            return ("i",)
        if ch in "EI":
            raise Unsure("E / I")  # constants to latex2sympy, symbols to a reader
        self.symbols.add(ch)
        if self.ints:
            self.int_symbols.add(ch)
        return ("sym", ch)

    def word(self) -> tuple:
        _, text = self.take()
        if len(text) > 2 or (len(text) == 2 and set(text) & set("eiEI")):
            raise Unsure("word")  # `ex`: Euler's e times x, or a name?
        if self.at("("):
            raise Unsure("letter before (")  # `y(2)`: a call to latex2sympy, `x(x+1)`: a product
        if self.at("_"):
            if len(text) > 1:
                raise Unsure("subscript")
            return self.subscripted(text)
        node = self.letter(text[0])
        for ch in text[1:]:
            node = ("mul", node, self.letter(ch))
        return node

    def subscripted(self, name: str) -> tuple:
        """`a_1`, `F_k`, `F_{n-k-1}`: entry of an uninterpreted sequence `a` at an integer index
        (`x_1` is then just another free variable; `a_{n+1}` and `a_{1+n}` are one entry)."""
        if name in "eiEI":
            raise Unsure("subscripted constant")
        self.take("_")
        self.ints += 1  # symbols in an index take integer values
        tok = self.peek()
        if tok is not None and tok[1] == "{":
            index = self.group()
        elif tok is not None and tok[0] == "num" and len(tok[1]) == 1:
            index = ("num", Fraction(self.take()[1]))
        elif tok is not None and tok[0] == "word" and len(tok[1]) == 1 and tok[1] not in "eiEI":
            index = ("sym", self.take()[1])
            self.symbols.add(index[1])
            self.int_symbols.add(index[1])
        else:
            raise Unsure("subscript")  # `x_12`: x_1 * 2 or x_{12}?
        self.ints -= 1
        return ("seq", name, index)

    def big_operator(self, op: str) -> tuple:
        """`\\sum_{k=a}^{b} body`, `\\prod_{k=a}^{b} body`: the body is the implicit product
        that follows (latex2sympy's reading); `*` or `/` after it is ambiguous -> Unsure."""
        self.take("_")
        self.take("{")
        var = self.take()
        if var[0] != "word" or len(var[1]) != 1 or var[1] in "eiEI":
            raise Unsure("summation index")
        self.take("=")
        self.ints += 1
        lo = self.expr()
        self.take("}")
        hi = self.exponent()
        self.ints -= 1
        outer, outer_ints = self.symbols, self.int_symbols
        self.symbols, self.int_symbols = set(), set()
        body = self.power()
        while (tok := self.peek()) is not None and (tok[0] in ("num", "word", "cmd") or tok[1] in ("(", "{")):
            body = ("mul", body, self.power())
        if self.peek() is not None and self.peek()[1] in ("*", "/", "^"):
            raise Unsure("extent of the summand")
        self.symbols = outer | (self.symbols - {var[1]})
        self.int_symbols = outer_ints | (self.int_symbols - {var[1]})
        return (op, var[1], lo, hi, body)

    def command(self) -> tuple:
        _, text = self.take()
        name = text[1:]
        if name == "frac":
            num = self.group()
            return ("div", num, self.group())
        if name == "sqrt":
            if self.at("["):
                self.take("[")
                k = self.take()
                self.take("]")
                if k[0] != "num" or not k[1].isdigit() or not 2 <= int(k[1]) <= 64:
                    raise Unsure("root index")
                return ("root", int(k[1]), self.group())
            return ("root", 2, self.group())
        if name == "pi":
            return ("pi",)
        if name in _GREEK:
            self.symbols.add(name)
            if self.ints:
                self.int_symbols.add(name)
            return ("sym", name)
        if name in _FUNCS:
            return self.function(_FUNCS[name])
        if name in ("sum", "prod"):
            return self.big_operator(name)
        if name == "log":
            if not self.at("_"):
                raise Unsure("bare log")  # base 10 to latex2sympy, e to many readers
            self.take("_")
            base = self.group() if self.at("{") else self.atom()
            return ("log", base, self.argument())
        raise Unsure(f"command {text}")

    def function(self, fn: str) -> tuple:
        power = None
        if self.at("^"):
            exp = self.exponent()
            if exp[0] != "num" or exp[1].denominator != 1 or exp[1] < 1:
                raise Unsure("function power")  # `\sin^{-1}` is arcsin
            power = exp
        node = ("fn", fn, self.argument())
        return ("pow", node, power) if power else node

    def argument(self) -> tuple:
        if self.at("("):
            self.take("(")
            node = self.expr()
            self.take(")")
            return node
        if self.at("{"):
            return self.group()
        raise Unsure("function argument without brackets")  # `\sin x y`: where does it end?


def parse(s: str) -> tuple[tuple, frozenset[str], frozenset[str]]:
    """(AST, free symbols, those of them that take integer values) of a normalised scalar, or Unsure."""
    p = _Parser(s)
    try:
        node = p.parse()
    except RecursionError as exc:
        raise Unsure("nesting too deep") from exc
    return node, frozenset(p.symbols), frozenset(p.int_symbols)
