"""The one task registry: name -> Task class. `gym:<generator>` names are resolved by tasks.gym when present."""

from __future__ import annotations

from typing import Any

from tasks.arithmetic import ArithmeticTask
from tasks.base import Task

TASKS: dict[str, type[Task]] = {
    "arithmetic": ArithmeticTask,
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
