"""The one task registry: name -> Task class.

Besides the names in TASKS, a config may name
  gym:<generator>        any reasoning-gym generator (tasks.gym), e.g. gym:knights_knaves
  package.module:Class   a Task subclass anywhere on the Python path (a task in its own file, no registry edit)
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import json
import sys
from typing import Any

from rewards.base import RewardResult
from tasks.arithmetic import ArithmeticTask
from tasks.base import Problem, Task
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


def task_arguments(cls: type[Task], implied: dict[str, Any] | None = None) -> list[str] | None:
    """The argument names a task's config may set (not `seed`, not what its name implies); None when its
    constructor takes any keyword (gym:<name> passes the rest to the generator's config, which checks them)."""
    params = inspect.signature(cls.__init__).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    skip = {"self", "seed", *(implied or {})}
    return sorted(p.name for p in params if p.name not in skip and p.kind is not p.VAR_POSITIONAL)


def make_task(name: str, seed: int = 0, **args: Any) -> Task:
    """Instantiate a task by name; an unknown name lists the valid ones, a misspelled argument the valid ones."""
    cls, implied = task_class(name)
    valid = task_arguments(cls, implied)
    unknown = sorted(set(args) - set(valid)) if valid is not None else []
    if unknown:
        close = {u: m[0] for u in unknown if (m := difflib.get_close_matches(u, valid or [], n=1))}
        hint = "".join(f" (did you mean {m!r} for {u!r}?)" for u, m in close.items())
        raise ValueError(f"task {name!r}: unknown argument{'s' if len(unknown) > 1 else ''} {unknown}{hint}; "
                         f"valid: {valid}")
    try:
        task = cls(seed=seed, **implied, **args)
    except TypeError as e:
        raise ValueError(f"task {name!r}: bad arguments {sorted(args)}: {e}") from None
    task.name = name  # its Problems carry the name the config used, which is how the trainer finds the task again
    return task


_TASK_CACHE: dict[tuple[str, str, int], Task] = {}


def score_one(task_name: str, task_args: str, seed: int, response: str, problem: Problem) -> RewardResult:
    """Score one full assistant response; the top-level (picklable) function the scoring processes run.

    It lives with the tasks, not the trainer, so a scoring process imports tasks/ and rewards/ only (never torch).
    Each process builds a task once and reuses it. task_args is the task's constructor kwargs as canonical JSON:
    hashable (a cache key) even when an argument is a list or a dict, as some reasoning-gym configs are.
    """
    key = (task_name, task_args, seed)
    task = _TASK_CACHE.get(key)
    if task is None:
        task = _TASK_CACHE[key] = make_task(task_name, seed=seed, **json.loads(task_args))
    return task.score(response, problem)


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

    def batch(self, step: int, count: int, split: str = "train", offset: int = 0) -> list:
        """Slots offset .. offset + count - 1 of step `step` (offset 0: the step's regular batch).

        offset > 0 draws further problems for the same step (dynamic sampling's refills: batch(k, P, offset=P),
        batch(k, P, offset=2P), ...): deterministic in (seed, step, slot) like the rest, so a resumed run refills
        with the same problems. A refill slot j >= count takes problem number k * count + j, which a later step's
        regular batch also reaches: on a generator task that is a repeat, never a problem from the test split.
        """
        import random

        out = []
        for j in range(offset, offset + count):
            rng = random.Random(f"{self.seed}/{step}/{j}")
            name = rng.choices(self.names, weights=self.weights)[0] if len(self.names) > 1 else self.names[0]
            task = self.tasks[name]
            index = step * count + j
            size = task.num_problems(split)
            out.append(task.problem(split, index % size if size else index))
        return out
