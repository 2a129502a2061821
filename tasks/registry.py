"""The one task registry: name -> Task class.

Besides the names in TASKS, a config may name
  gym:<generator>        any reasoning-gym generator (tasks.gym), e.g. gym:knights_knaves
  package.module:Class   a Task subclass anywhere on the Python path (a task in its own file, no registry edit)
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from tasks.arithmetic import ArithmeticTask
from tasks.base import Task
from tasks.code import CodeTask
from tasks.countdown import CountdownTask
from tasks.digits import DigitsTask
from tasks.gsm8k import GSM8KTask
from tasks.gym import PREFIX as GYM_PREFIX
from tasks.gym import GymTask
from tasks.math import MathTask

TASKS: dict[str, type[Task]] = {
    "arithmetic": ArithmeticTask,
    "digits": DigitsTask,
    "countdown": CountdownTask,
    "gsm8k": GSM8KTask,
    "math": MathTask,
    "code": CodeTask,
}


def describe(cls: type) -> str:
    """One line about a task class: the first line of its module's docstring."""
    doc = (sys.modules[cls.__module__].__doc__ or cls.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


def _import_task(name: str) -> type[Task]:
    module, _, attr = name.partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise KeyError(f"task {name!r}: cannot import {attr!r} from {module!r}: {e}") from None
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise KeyError(f"task {name!r}: {attr!r} is not a tasks.base.Task subclass")
    return cls


def task_class(name: str) -> tuple[type[Task], dict[str, Any]]:
    """The class a task name resolves to, and the constructor arguments the name itself implies."""
    if name.startswith(GYM_PREFIX):
        return GymTask, {"generator": name[len(GYM_PREFIX):]}
    if name in TASKS:
        return TASKS[name], {}
    if ":" in name:
        return _import_task(name), {}
    raise KeyError(f"unknown task {name!r}; valid: {sorted(TASKS)}, gym:<reasoning-gym generator> "
                   f"(see `r1zero tasks list`), or package.module:TaskClass")


def make_task(name: str, seed: int = 0, **args: Any) -> Task:
    """Instantiate a task by name; an unknown name lists the valid ones, bad args name the task."""
    cls, implied = task_class(name)
    try:
        task = cls(seed=seed, **implied, **args)
    except TypeError as e:
        raise ValueError(f"task {name!r}: bad arguments {sorted(args)}: {e}") from None
    task.name = name  # its Problems carry the name the config used, which is how the trainer finds the task again
    return task


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
