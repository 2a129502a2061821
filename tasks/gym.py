"""`gym:<generator>`: any reasoning-gym generator by name, e.g. `gym:countdown`, `gym:knights_knaves`.

Prompt: the generator's own question (it states the expected answer format). Answer: the answer block (after
</think>); with lenient=True and no answer block, everything after </think>. Accuracy: the generator's own
`score_answer(answer, entry)` — binary by default (only a full score counts, as in R1-Zero), or the generator's
partial credit with partial=True. Reward: accuracy + format_weight * strict R1 format; parts "accuracy" and "format".
Reasons: correct, partial, wrong, no_answer, verifier_error, unsafe_answer (a verifier tried to eval a non-literal
answer: see guarded_eval).

Splits: one generator stream; a problem's canonical form (Task.canonical: its numbers and answer, or its words)
decides its split, so test never repeats training (about test_share = 20 % of the `size` entries are test-only).

Any other constructor argument goes to the generator's config (e.g. `{min_numbers: 3}` for countdown): see
reasoning_gym.factory.DATASETS[name][1] for the fields. Some generators' own reference answers do not score 1.0
under their own `score_answer`; `r1zero tasks check gym:NAME` finds out (see SELF_CHECK_FAILURES and
docs/adding-a-task.md for the survey over all generators).
"""

from __future__ import annotations

import ast
import builtins
import re
from contextlib import contextmanager
from typing import Any, Iterator

from rewards.base import RewardResult
from rewards.format import answer_block, strict_format
from tasks.base import Problem, Task
from tasks.overlap import stream_index

PREFIX = "gym:"
# `r1zero tasks gym-survey -n 5 --time-limit 30` (size 10,000) on reasoning-gym 0.1.19, 2026-11-25: 98 of 106
# generators pass (gold in the answer block scores accuracy 1.0, another problem's answer 0.0). The 8 that do not —
# do not train on them without a closer look:
SELF_CHECK_FAILURES: dict[str, str] = {
    "game_of_life_halting": "verifier accepts any non-empty answer (bool('False') is True): a free reward",
    "puzzle24": "verifier does not check which numbers are used: any 4 in-range numbers making 24 score 1.0",
    "boxnet": "no reference answer (the verifier simulates the plan): gold cannot be checked",
    "graph_color": "no reference answer (the verifier checks the coloring): gold cannot be checked",
    "propositional_logic": "no reference answer (the verifier checks the proof): gold cannot be checked",
    "rubiks_cube": "no reference answer (the verifier simulates the moves): gold cannot be checked",
    "rush_hour": "no reference answer (the verifier simulates the moves): gold cannot be checked",
    "composite": "needs a config naming its sub-datasets (args: {datasets: ...}); nothing to build by default",
    # found by the hedge check (`r1zero tasks gym-survey -n 3 --time-limit 30 --only <20 generators>`, reasoning-gym
    # 0.1.19): a hedged answer earns the full score, so a policy can learn to hedge
    "fraction_simplification": "accepts 'WRONG or GOLD': the verifier reads the last fraction of the answer",
    "spell_backward": "accepts 'GOLD or WRONG': per-character prefix credit sums to 1.0 for any answer starting "
                      "with the gold",
    "time_intervals": "accepts 'WRONG or GOLD' / 'GOLD or WRONG': the verifier parses only one part of the answer",
}
# Slow ones at size 10,000 on 2 cores (they pass): acre takes ~5-18 s to build, group_anagrams ~8 s; knight_swap
# makes ~1 problem/s and intermediate_integration ~2; intermediate_integration scores ~2/s (sympy). word_ladder
# cannot be built with size=100,000 (its word graph is too small), hence the default size of 10,000.


# Some generators' verifiers call eval() on the model's answer (binary_matrix, n_queens, spiral_matrix,
# string_insertion) or sympy.parse_expr, which eval()s generated code (countdown, puzzle24, polynomial_multiplication,
# simple_integration, intermediate_integration). While score_answer runs, builtins.eval only evaluates expressions that
# are plain literals or sympy-style arithmetic (no attributes, no private or dangerous names, strings only as the
# argument of Symbol/Integer/Float/...): model output must never reach a real eval.
_DENY_NAMES = frozenset({
    "eval", "exec", "compile", "open", "getattr", "setattr", "delattr", "globals", "locals", "vars", "input", "dir",
    "breakpoint", "exit", "quit", "help", "memoryview", "type", "object", "super", "lambdify", "sympify", "S",
    "parse_expr", "preview", "var", "init_printing", "classmethod", "staticmethod", "property", "print",
})
_STR_CALLS = frozenset({"Symbol", "Integer", "Float", "Rational", "Function", "Number", "Symbols"})
_SAFE_STR = re.compile(r"[\w.+\- ]{0,64}")
_LITERAL_NODES = (ast.Expression, ast.Constant, ast.List, ast.Tuple, ast.Set, ast.Dict, ast.UnaryOp, ast.USub,
                  ast.UAdd, ast.Load)
_EXPR_NODES = _LITERAL_NODES + (ast.BinOp, ast.operator, ast.Call, ast.Name, ast.Compare, ast.cmpop, ast.keyword,
                                ast.BoolOp, ast.boolop, ast.Not, ast.Invert)


class UnsafeEval(ValueError):
    pass


def _safe_source(source: str) -> bool:
    """A plain literal, or arithmetic over names and calls with no attribute access and no dangerous names."""
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return True  # the real eval raises the same error: nothing runs
    nodes = list(ast.walk(tree))
    if all(isinstance(n, _LITERAL_NODES) for n in nodes):
        return True
    str_args = {id(a) for n in nodes if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                and n.func.id in _STR_CALLS for a in n.args}
    for n in nodes:
        if not isinstance(n, _EXPR_NODES):
            return False
        if isinstance(n, ast.Name) and (n.id.startswith("_") or n.id in _DENY_NAMES):
            return False
        if isinstance(n, ast.Constant) and isinstance(n.value, (str, bytes)):
            if id(n) not in str_args or not _SAFE_STR.fullmatch(str(n.value)):
                return False
    return True


@contextmanager
def guarded_eval(blocked: list) -> Iterator[None]:
    """builtins.eval refuses unsafe sources for the duration (single-threaded scoring processes only)."""
    real_eval = builtins.eval

    def checked_eval(source, *args, **kwargs):
        names = getattr(source, "co_names", ())
        unsafe = (not _safe_source(source) if isinstance(source, str)
                  else any(x.startswith("_") or x in _DENY_NAMES for x in names) or not hasattr(source, "co_names"))
        if unsafe:
            blocked.append(str(source)[:80])
            raise UnsafeEval("refused to eval a non-literal expression from a model answer")
        return real_eval(source, *args, **kwargs)

    builtins.eval = checked_eval
    try:
        yield
    finally:
        builtins.eval = real_eval


def generator_names() -> list[str]:
    from reasoning_gym.factory import DATASETS

    return sorted(DATASETS)


class GymTask(Task):
    name = "gym"  # instances are named gym:<generator>

    def __init__(self, seed: int = 0, generator: str = "", size: int = 10_000, format_weight: float = 0.5,
                 lenient: bool = True, partial: bool = False, **config: Any) -> None:
        """generator: a reasoning_gym.factory.DATASETS name; size: entries of the generator, shared by the splits
        (~80 % train; some generators build them all up front: keep it modest); format_weight: weight of the strict
        format reward; lenient: without an answer block, score the text after </think>; partial: pass the
        generator's partial credit through instead of counting only a full score; config: the generator's own
        config fields."""
        super().__init__(seed)
        import reasoning_gym

        names = generator_names()
        if generator not in names:
            raise KeyError(f"unknown reasoning-gym generator {generator!r}; valid (as gym:<name>): {names}")
        if size < 1:
            raise ValueError(f"task 'gym:{generator}': size must be >= 1")
        self.name = f"{PREFIX}{generator}"
        self.generator, self.size = generator, size
        self.format_weight, self.lenient, self.partial = format_weight, lenient, partial
        try:  # one dataset for both splits: a problem's canonical form, not the seed, decides its split
            self._data = reasoning_gym.create_dataset(generator, seed=seed, size=size, **config)
        except (TypeError, ValueError, AssertionError) as e:  # reasoning-gym configs validate with assert
            raise ValueError(f"task {self.name!r}: bad config {sorted(config)}: {e}") from None

    def num_problems(self, split: str) -> int:
        return self.size

    def entry(self, index: int) -> dict[str, Any]:
        return self._data[index % self.size]

    def problem(self, split: str, index: int) -> Problem:
        def candidate(attempt: int) -> Problem:
            at = index % self.size if split == "train" and attempt == 0 else stream_index(split, index, attempt,
                                                                                          self.size)
            entry = self.entry(at)
            answer = entry.get("answer")
            return Problem(f"{self.name}/{split}/{index}", self.name, str(entry["question"]),
                           "" if answer is None else str(answer), {"entry": entry, "index": at})

        return self.keyed_problem(split, index, candidate)

    def score(self, completion: str, problem: Problem) -> RewardResult:
        fmt = strict_format(completion).value
        answer = answer_block(completion)
        if answer is None and self.lenient and "</think>" in completion:
            answer = completion.rsplit("</think>", 1)[1].strip()
        if not answer:
            return RewardResult(self.format_weight * fmt, "no_answer", {"accuracy": 0.0, "format": fmt})
        entry = problem.meta.get("entry") or self.entry(problem.meta["index"])
        blocked: list[str] = []
        try:
            with guarded_eval(blocked):
                raw = float(self._data.score_answer(answer, entry))
        except Exception:  # noqa: BLE001 - a generator's verifier crashing on odd model output costs this item only
            raw = 0.0
            blocked = blocked or ["verifier_error"]
        if blocked:
            reason = "verifier_error" if blocked == ["verifier_error"] else "unsafe_answer"
            return RewardResult(self.format_weight * fmt, reason, {"accuracy": 0.0, "format": fmt})
        full = raw >= 1.0 - 1e-9
        acc = raw if self.partial else float(full)
        reason = "correct" if full else ("partial" if raw > 0 else "wrong")
        return RewardResult(acc + self.format_weight * fmt, reason, {"accuracy": acc, "format": fmt})
