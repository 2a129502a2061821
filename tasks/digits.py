"""`digits`: reply with digits only — a sanity task that a from-scratch model can learn in a few dozen steps.

Not a reasoning task: it exists so the real loop (vLLM sampling -> reward -> GRPO -> weight sync) can be shown to
*learn* on the tiny model in a test. The reward is dense (the fraction of non-space characters that are digits),
so even a random policy's groups have unequal rewards and GRPO has a signal from step 0.
"""

from __future__ import annotations

import random

from rewards.base import RewardResult
from tasks.base import Problem, Task


class DigitsTask(Task):
    name = "digits"

    def __init__(self, seed: int = 0, min_chars: int = 4) -> None:
        """min_chars: responses shorter than this (non-space characters) are scaled down, so 'say nothing' loses."""
        super().__init__(seed)
        self.min_chars = min_chars

    def problem(self, split: str, index: int) -> Problem:
        self.check_split(split)
        rng = random.Random(f"{self.seed}/{split}/{index}")
        n = rng.randint(1, 9)
        return Problem(f"{self.name}/{split}/{index}", self.name, f"Write {n} digits.", str(n), {})

    def score(self, completion: str, problem: Problem) -> RewardResult:
        chars = [c for c in completion if not c.isspace()]
        if not chars:
            return RewardResult(0.0, "no_answer", {"accuracy": 0.0})
        frac = sum(c.isdigit() for c in chars) / len(chars)
        value = frac * min(1.0, len(chars) / self.min_chars)
        return RewardResult(value, "correct" if value >= 0.999 else "wrong", {"accuracy": value})
