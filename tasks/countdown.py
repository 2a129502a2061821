"""`countdown` (TinyZero): reach a target with + - * / using the given numbers, each at most once.

Prompt: the numbers and the target; the answer block holds an arithmetic expression such as `(44 - 19) * 4`.
Every problem is built from a random expression over its numbers, so it is solvable (by that expression at least).
Verifier: the expression is parsed with `ast` and walked — only numbers, + - * /, unary minus and parentheses are
accepted (no names, calls, `**`: model output is never evaluated by Python) — then every number must come from the
given multiset, each used at most once (and, with use_all=True, TinyZero's rule, every one used), and the value is
computed exactly with fractions.Fraction and compared with the target.
Reward: accuracy + format_weight * strict R1 format; parts "accuracy" and "format".
Splits: the sorted numbers and the target decide a puzzle's split (Task.keyed_problem): test never repeats training.
Reasons: correct, wrong, no_answer, bad_expression, number_not_given, reused_number, unused_numbers,
division_by_zero.
"""

from __future__ import annotations

import ast
import random
import re
from collections import Counter
from fractions import Fraction

from rewards.base import RewardResult
from rewards.format import answer_block, strict_format
from tasks.base import Problem, Task

MAX_EXPR_CHARS = 200  # longer "expressions" are not parsed at all (cheap bound on parser work)
_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_SYMBOLS = str.maketrans({"×": "*", "÷": "/", "−": "-", "–": "-"})
_EXPR_LINE = re.compile(r"^[\d\s+\-*/().=×÷−]+$")


class BadExpression(ValueError):
    """The answer is not a plain arithmetic expression over integers (reason in args[0])."""


def parse_expression(text: str) -> ast.expr:
    """The AST of `text` if it is only integers, + - * /, unary +/- and parentheses; else BadExpression.

    A trailing `= <number>` (the model restating the target) is dropped.
    """
    text = text.translate(_SYMBOLS).replace("\\times", "*").replace("\\div", "/").strip().strip("$").strip()
    if "=" in text:
        text = text.split("=", 1)[0]
    if not text or len(text) > MAX_EXPR_CHARS:
        raise BadExpression("bad_expression")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise BadExpression("bad_expression") from None
    _check(tree.body)
    return tree.body


def _check(node: ast.AST) -> None:
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        _check(node.left)
        _check(node.right)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        _check(node.operand)
    elif isinstance(node, ast.Constant) and type(node.value) is int:
        pass
    else:  # names, calls, attributes, `**`, `//`, floats, strings, ...: not a countdown expression
        raise BadExpression("bad_expression")


def numbers_used(node: ast.expr) -> list[int]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant)]


def evaluate(node: ast.expr) -> Fraction:
    """Exact value of a checked expression; ZeroDivisionError on division by zero."""
    if isinstance(node, ast.Constant):
        return Fraction(node.value)
    if isinstance(node, ast.UnaryOp):
        v = evaluate(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    a, b = evaluate(node.left), evaluate(node.right)
    op = type(node.op)
    if op is ast.Add:
        return a + b
    if op is ast.Sub:
        return a - b
    if op is ast.Mult:
        return a * b
    return a / b  # Fraction raises ZeroDivisionError


def verify(expression: str, numbers: list[int], target: int, *, use_all: bool = True) -> str:
    """The reason word for one stated expression: 'correct' or why not."""
    try:
        tree = parse_expression(expression)
    except BadExpression as e:
        return str(e)
    used, given = Counter(numbers_used(tree)), Counter(numbers)
    if any(n not in given for n in used):
        return "number_not_given"
    if used - given:
        return "reused_number"
    if use_all and given - used:
        return "unused_numbers"
    try:
        value = evaluate(tree)
    except ZeroDivisionError:
        return "division_by_zero"
    return "correct" if value == target else "wrong"


def _last_expression_line(text: str) -> str | None:
    """Lenient extraction: the last line after the reasoning that looks like an arithmetic expression."""
    lines = [ln.strip() for ln in text.rsplit("</think>", 1)[-1].splitlines()]
    exprs = [ln for ln in lines if ln and _EXPR_LINE.match(ln) and any(c.isdigit() for c in ln)]
    return exprs[-1] if exprs else None


class CountdownTask(Task):
    name = "countdown"

    def __init__(self, seed: int = 0, min_numbers: int = 3, max_numbers: int = 4, max_value: int = 99,
                 max_target: int = 999, use_all: bool = True, format_weight: float = 0.5, lenient: bool = True
                 ) -> None:
        """min/max_numbers: how many numbers a problem gives; max_value: numbers are 1..max_value; max_target:
        targets are 1..max_target; use_all: every number must be used (TinyZero) instead of at most once;
        format_weight: weight of the strict format reward; lenient: without an answer block, take the last
        expression-like line after the reasoning."""
        super().__init__(seed)
        if not 2 <= min_numbers <= max_numbers <= 8 or max_value < 2 or max_target < 1:
            raise ValueError("countdown needs 2 <= min_numbers <= max_numbers <= 8, max_value >= 2, max_target >= 1")
        self.min_numbers, self.max_numbers, self.max_value = min_numbers, max_numbers, max_value
        self.max_target, self.use_all = max_target, use_all
        self.format_weight, self.lenient = format_weight, lenient

    def _generate(self, rng: random.Random) -> tuple[list[int], int, str]:
        """Numbers, target and a solution: combine the numbers in random order with random operations — each
        intermediate a positive integer, as a human solver would keep it — until the result is a target in range."""
        while True:
            nums = [rng.randint(1, self.max_value) for _ in range(rng.randint(self.min_numbers, self.max_numbers))]
            items = [(n, str(n)) for n in nums]
            while len(items) > 1:
                (a, ea), (b, eb) = items.pop(rng.randrange(len(items))), items.pop(rng.randrange(len(items)))
                if a < b:
                    (a, ea), (b, eb) = (b, eb), (a, ea)
                ops = [("+", a + b)]
                ops += [("-", a - b)] if a > b else []
                ops += [("*", a * b)] if a * b <= 10 * self.max_target and b > 1 else []
                ops += [("/", a // b)] if b > 1 and a % b == 0 else []
                op, value = rng.choice(ops)
                items.append((value, f"({ea} {op} {eb})"))
            value, expr = items[0]
            if 1 <= value <= self.max_target:
                return nums, value, expr[1:-1]

    def canonical(self, problem: Problem) -> str:
        """Same numbers (in any order) and target: the same puzzle, whatever the wording or the solution."""
        return f"{sorted(problem.meta['numbers'])} -> {problem.meta['target']}"

    def problem(self, split: str, index: int) -> Problem:
        return self.keyed_problem(split, index, lambda attempt: self._candidate(split, index, attempt))

    def _candidate(self, split: str, index: int, attempt: int) -> Problem:
        # attempt 0 draws what the task drew before splits were keyed, so most old streams are unchanged
        rng = random.Random(f"countdown/{self.seed}/{split}/{index}" + (f"/{attempt}" if attempt else ""))
        nums, target, solution = self._generate(rng)
        listed = ", ".join(map(str, nums))
        rule = "each exactly once" if self.use_all else "each at most once"
        prompt = (f"Using the numbers [{listed}], create an equation that equals {target}. You can use basic "
                  f"arithmetic operations (+, -, *, /) and the numbers {rule}. Show your work in <think> </think> "
                  f"tags and return the final expression in <answer> </answer> tags, for example "
                  f"<answer> (1 + 2) / 3 </answer>.")
        return Problem(f"{self.name}/{split}/{index}", self.name, prompt, solution,
                       {"numbers": nums, "target": target})

    def score(self, completion: str, problem: Problem) -> RewardResult:
        fmt = strict_format(completion).value
        expr = answer_block(completion)
        if expr is None and self.lenient:
            expr = _last_expression_line(completion)
        if not expr:
            reason = "no_answer"
        else:
            reason = verify(expr, problem.meta["numbers"], problem.meta["target"], use_all=self.use_all)
        acc = float(reason == "correct")
        return RewardResult(acc + self.format_weight * fmt, reason, {"accuracy": acc, "format": fmt})
