"""The task interface and the R1-Zero prompt.

A task turns (split, index) into a Problem deterministically — so a run's data stream is reproducible and resumable
from a position — and scores a completion against that Problem with rule-based rewards.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from r1zero.types import Problem
from rewards.base import RewardResult

# DeepSeek-R1-Zero's training template (DeepSeek-AI 2025, Table 1), split into its instruction and its question slot.
R1_SYSTEM_PROMPT = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user with the answer. "
    "The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, "
    "respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>."
)
THINK_PREFILL = "<think>"
SPLITS = ("train", "test")


def render_prompt(question: str, *, tokenizer: Any = None, chat: bool = True, prefill_think: bool = True) -> str:
    """The R1-Zero prompt for one question.

    chat=True renders the instruction as the system message and the question as the user message through the
    tokenizer's chat template (instruct models such as SmolLM2); chat=False is the paper's raw base-model text
    "... User: {question}. Assistant:". prefill_think ends the prompt with '<think>' so the model starts reasoning
    inside the tag (TinyZero's foothold for small models).
    """
    if chat:
        if tokenizer is None or getattr(tokenizer, "chat_template", None) is None:
            raise ValueError("chat=True needs a tokenizer with a chat template (set model.chat_template=false otherwise)")
        messages = [{"role": "system", "content": R1_SYSTEM_PROMPT}, {"role": "user", "content": question}]
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    else:
        text = f"{R1_SYSTEM_PROMPT} User: {question} Assistant:"
        text += " " if prefill_think else ""
    return text + (THINK_PREFILL if prefill_think else "")


class Task(ABC):
    """A verifiable task. Subclasses set `name` and implement `problem` and `score`.

    Constructor keyword arguments come from the config (`data.tasks.<name>.args`), plus `seed`.
    """

    name: ClassVar[str]

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    @abstractmethod
    def problem(self, split: str, index: int) -> Problem:
        """The index-th problem of a split; the same (split, index, seed) always gives the same problem."""

    @abstractmethod
    def score(self, completion: str, problem: Problem) -> RewardResult:
        """Reward one full assistant response (including any prefilled '<think>') for `problem`."""

    def num_problems(self, split: str) -> int | None:
        """How many distinct problems a split has; None for an unbounded generator."""
        return None

    def question(self, problem: Problem) -> str:
        """The text that goes in the template's question slot."""
        return problem.prompt

    def problems(self, split: str, count: int, start: int = 0) -> list[Problem]:
        """`count` consecutive problems from `start` (wrapping around a finite split)."""
        size = self.num_problems(split)
        if size == 0:
            raise ValueError(f"task {self.name!r}: split {split!r} is empty")
        return [self.problem(split, (start + i) % size if size else start + i) for i in range(count)]

    @staticmethod
    def check_split(split: str) -> None:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid: {list(SPLITS)}")


def load_rows(task: str, *, path: str | None = None, dataset: str | None = None, config: str | None = None,
              split: str = "train", fields: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """A dataset's rows through HF `datasets`: a local .jsonl/.json/.parquet/.csv file (`path`) or a hub dataset
    (`dataset`, optional `config`, `split`; needs the network or the HF cache).

    Bad data fails here with one line naming the source, the row and the field: every row must have every name in
    `fields` with a non-empty value; an empty dataset is an error.
    """
    if (path is None) == (dataset is None):
        raise ValueError(f"task {task!r}: give exactly one of path= (a local file) or dataset= (a hub name)")
    import datasets  # heavy; only tasks that read data pay for it

    if path is not None:
        kinds = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
        kind = next((k for ext, k in kinds.items() if str(path).endswith(ext)), None)
        if kind is None:
            raise ValueError(f"task {task!r}: {path}: unknown file type; valid: {sorted(kinds)}")
        if not Path(path).is_file():
            raise FileNotFoundError(f"task {task!r}: no such file {path}")
        source = str(path)
        if Path(path).stat().st_size == 0:
            raise ValueError(f"task {task!r}: {source} has no rows")
    else:
        source = f"{dataset}[{split}]"
    try:
        if path is not None:
            rows = datasets.load_dataset(kind, data_files=str(path), split="train").to_list()
        else:
            rows = datasets.load_dataset(dataset, config, split=split).to_list()
    except Exception as e:  # noqa: BLE001 - datasets raises many types (and StopIteration); one line for the user
        raise ValueError(f"task {task!r}: cannot read {source}: {type(e).__name__}: {str(e)[:300]}") from None
    if not rows:
        raise ValueError(f"task {task!r}: {source} has no rows")
    for i, row in enumerate(rows):
        for name in fields:
            value = row.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                raise ValueError(f"task {task!r}: {source}: row {i} has no {name!r} (columns: {sorted(row)})")
    return rows
