"""The token cursor both recursive-descent parsers of the verifier share (rewards.math.exact evaluates while it
parses; rewards.math.numeric_parse builds an AST): position, look-ahead, expected tokens, `{..}` groups. Each parser
brings its own tokens and grammar (`expr`) and says which exception a malformed input raises (`error`)."""

from __future__ import annotations


class TokenCursor:
    error: type[Exception] = ValueError  # raised for a token that is not the one the grammar expects

    def __init__(self, toks: list[tuple[str, str]]):
        self.toks = toks  # (kind, text) pairs
        self.i = 0

    def peek(self, k: int = 0) -> tuple[str, str] | None:
        return self.toks[self.i + k] if self.i + k < len(self.toks) else None

    def at(self, value: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[1] == value

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise self.error(f"expected {value!r}")
        self.i += 1
        return tok

    def group(self):
        """`{ expr }`: a LaTeX group (`expr` is the parser's own grammar)."""
        self.take("{")
        node = self.expr()
        self.take("}")
        return node
