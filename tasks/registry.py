"""The one task registry: name -> Task class. `gym:<generator>` names are resolved by tasks.gym when present."""

from __future__ import annotations

from typing import Any

from tasks.arithmetic import ArithmeticTask
from tasks.base import Task
from tasks.digits import DigitsTask

TASKS: dict[str, type[Task]] = {
    "arithmetic": ArithmeticTask,
    "digits": DigitsTask,
}


def make_task(name: str, seed: int = 0, **args: Any) -> Task:
    """Instantiate a task by registry name; an unknown name lists the valid ones, bad args name the task."""
    cls = TASKS.get(name)
    if cls is None:
        raise KeyError(f"unknown task {name!r}; valid: {sorted(TASKS)}")
    try:
        return cls(seed=seed, **args)
    except TypeError as e:
        raise ValueError(f"task {name!r}: bad arguments {sorted(args)}: {e}") from None


class TaskMixture:
    """The run's problem stream: tasks mixed by weight, deterministic in (seed, step) so a resume continues it.

    Slot j of step k draws its task from a RNG seeded by (seed, k, j) and takes that task's problem number
    k * per_step + j: no state to save beyond the step number.
    """

    def __init__(self, specs: dict[str, tuple[float, dict[str, Any]]], seed: int) -> None:
        """specs: task name -> (weight, constructor kwargs)."""
        if not specs:
            raise ValueError("data.tasks is empty: name at least one task")
        self.seed = seed
        self.names = list(specs)
        self.weights = [specs[n][0] for n in self.names]
        self.tasks = {n: make_task(n, seed=seed, **specs[n][1]) for n in self.names}

    def batch(self, step: int, count: int, split: str = "train") -> list:
        import random

        out = []
        for j in range(count):
            rng = random.Random(f"{self.seed}/{step}/{j}")
            name = rng.choices(self.names, weights=self.weights)[0] if len(self.names) > 1 else self.names[0]
            task = self.tasks[name]
            index = step * count + j
            size = task.num_problems(split)
            out.append(task.problem(split, index % size if size else index))
        return out
