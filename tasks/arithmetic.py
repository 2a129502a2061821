"""Procedural arithmetic from reasoning-gym (chain_sum / basic_arithmetic), scored by exact integer match.

Prompt: reasoning-gym's question in the R1-Zero template. Reward: accuracy (exact integer; lenient: without an
answer block, the last integer after the reasoning counts, until the format is learned) + format_weight * format,
where format is 1 for the strict R1 format and otherwise tag_weight * (fraction of the tags the model had to write
that it wrote once, in order; a prefilled '<think>' earns nothing). The partial tag credit is shaping: SmolLM2-135M
writes the strict format in 0 of 64 samples at the start (docs/measured-facts.md), so without it GRPO would see no
format signal at all. Parts "accuracy", "format" (strict, 0/1) and "tags" are logged separately.
Splits: a problem's expression decides its split (Task.keyed_problem), so the test split never repeats a training
problem, whatever the seeds: 1-digit 2-term sums have 200 distinct problems, about 40 of them test-only.
"""

from __future__ import annotations

import reasoning_gym

from rewards.base import RewardResult
from rewards.exact import extract_int, integer_answer
from rewards.format import strict_format, tag_credit
from tasks.base import Problem, Task, prefill
from tasks.overlap import stream_index

FAMILIES = ("chain_sum", "basic_arithmetic")
_SIZE = 10_000_000  # reasoning-gym generates entry i from (seed + i) on demand: the size only bounds the index


class ArithmeticTask(Task):
    name = "arithmetic"

    def __init__(
        self,
        seed: int = 0,
        family: str = "chain_sum",
        digits: int = 1,
        terms: int = 2,
        allow_negation: bool = False,
        format_weight: float = 0.5,
        tag_weight: float = 0.5,
        lenient: bool = True,
        prefill_think: bool = True,
    ) -> None:
        """family: reasoning-gym generator; digits/terms: size of each problem; format_weight: weight of the strict
        format reward added to accuracy; tag_weight: share of the format weight earned by partial tags (0 = strict
        only); lenient: accept the last integer after the reasoning when there is no <answer> block;
        prefill_think: the prompt prefills '<think>' (keep it equal to data.prefill_think): that tag earns no partial
        credit."""
        super().__init__(seed)
        if family not in FAMILIES:
            raise ValueError(f"arithmetic family {family!r} unknown; valid: {list(FAMILIES)}")
        if digits < 1 or terms < 2:
            raise ValueError("arithmetic needs digits >= 1 and terms >= 2")
        self.format_weight, self.tag_weight, self.lenient = format_weight, tag_weight, lenient
        self.prefill = prefill(prefill_think)
        kwargs = dict(min_digits=digits, max_digits=digits, min_terms=terms, max_terms=terms, size=_SIZE)
        if family == "basic_arithmetic" or allow_negation:
            kwargs["allow_negation"] = allow_negation
        # one stream for both splits: the expression, not the seed, decides which split a problem belongs to
        self._data = reasoning_gym.create_dataset(family, seed=seed, **kwargs)

    def canonical(self, problem: Problem) -> str:
        return " ".join(problem.meta["expression"].split())

    def family(self, problem: Problem) -> str:
        """Operators in order plus the result's sign, e.g. '+', '-', '-/neg', '+-/neg': a negative result is its own
        family because it is the one the default run kept failing (issue 15: `3 - 6` near 35 % after 40 steps)."""
        ops = "".join(c for c in problem.meta.get("expression", "").split()[1::2] if c in "+-*/")
        return (ops or "?") + ("/neg" if problem.answer.strip().startswith("-") else "")

    def problem(self, split: str, index: int) -> Problem:
        def candidate(attempt: int) -> Problem:
            # a training problem's first candidate is entry `index`, as before splits were keyed
            at = index if split == "train" and attempt == 0 else stream_index(split, index, attempt, _SIZE)
            entry = self._data[at]
            return Problem(id=f"{self.name}/{split}/{index}", task=self.name, prompt=entry["question"],
                           answer=str(entry["answer"]), meta={"expression": entry["metadata"].get("expression", "")})

        return self.keyed_problem(split, index, candidate)

    def extract_answer(self, completion: str) -> str | None:
        """The integer the response states (what the reward grades): `r1zero eval`'s majority-vote hook."""
        value, _ = extract_int(completion, lenient=self.lenient)
        return None if value is None else str(value)

    def score(self, completion: str, problem: Problem) -> RewardResult:
        acc = integer_answer(completion, problem.answer, lenient=self.lenient)
        fmt = strict_format(completion).value
        tags = tag_credit(completion, self.prefill)
        value = acc.value + self.format_weight * (fmt if fmt else self.tag_weight * tags)
        return RewardResult(value, acc.reason, {"accuracy": acc.value, "format": fmt, "tags": tags})
