"""The task interface and the R1-Zero prompt.

A task turns (split, index) into a Problem deterministically — so a run's data stream is reproducible and resumable
from a position — and scores a completion against that Problem with rule-based rewards.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

from rewards.base import RewardResult
from rewards.exact import last_number
from rewards.format import strict_format
from tasks.overlap import default_canonical, split_of_key

# DeepSeek-R1-Zero's training template (DeepSeek-AI 2025, Table 1), split into its instruction and its question slot.
R1_SYSTEM_PROMPT = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user with the answer. "
    "The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, "
    "respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>."
)
THINK_PREFILL = "<think>"
SPLITS = ("train", "test")
MAX_KEY_TRIES = 1000  # candidates a keyed generator draws before it concludes a split has no problem at all


@dataclass(frozen=True)
class Problem:
    """One verifiable question drawn from a task (crosses into the scoring processes, so it lives here: they import
    the tasks and never the trainer)."""

    id: str  # unique within a run, e.g. "arithmetic/train/1234"
    task: str  # registry name of the task that made it (scores it, too)
    prompt: str  # the question text, before any template is applied
    answer: str  # gold answer as text; the task's verifier decides what matches it
    meta: dict[str, Any] = field(default_factory=dict)  # task-specific extras (reasoning-gym entry, test cases, ...)


def prefill(prefill_think: bool) -> str:
    """The text a prompt prefills into the assistant's turn (the one place '<think>' is derived from the config)."""
    return THINK_PREFILL if prefill_think else ""


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
    return text + prefill(prefill_think)


class Task(ABC):
    """A verifiable task. Subclasses set `name` and implement `problem` and `score`.

    Constructor keyword arguments come from the config (`data.tasks.<name>.args`), plus `seed`.
    Held-out contract: no test problem may be a training problem, whatever the seed. A generator keeps it by drawing
    through `keyed_problem` (each canonical form belongs to one split, by its hash); a data task by its files, which
    `r1zero tasks check` compares (tasks.overlap.split_overlap).
    """

    name: ClassVar[str]
    test_share: ClassVar[float] = 0.2  # share of a keyed generator's distinct problems that only the test split draws

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

    def family(self, problem: Problem) -> str:
        """The problem's difficulty family for the online curriculum (r1zero.curriculum): problems of one family are
        expected to be about equally hard, so a family's recent pass rate says how often to draw it. Default: one
        family per task; a task overrides it when its problems differ in kind (arithmetic: operators and sign)."""
        return "all"

    def canonical(self, problem: Problem) -> str:
        """The problem's identity for duplicate checks: equal canonical forms are the same problem (same numbers,
        other wording). Default: the prompt's numbers in order plus the gold answer, or, without numbers, the prompt's
        words (tasks.overlap.default_canonical). Override it when the identity is simpler (arithmetic: the
        expression) or the default is too coarse."""
        return default_canonical(problem.prompt, problem.answer)

    def keyed_problem(self, split: str, index: int, candidate: Callable[[int], Problem]) -> Problem:
        """The index-th problem of `split` for a generator: candidate(0), candidate(1), ... (each deterministic in
        (seed, split, index, attempt)) until one whose canonical form belongs to `split` (tasks.overlap.split_of_key:
        a hash of the form, independent of the seed). So train and test never share a problem, for any seeds."""
        self.check_split(split)
        for attempt in range(MAX_KEY_TRIES):
            p = candidate(attempt)
            if split_of_key(self.canonical(p), self.test_share) == split:
                return p
        raise ValueError(f"task {self.name!r}: no {split!r} problem in {MAX_KEY_TRIES} draws: the problem space is "
                         f"too small for a test share of {self.test_share} (make the problems larger)")

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


class RowError(ValueError):
    """What is wrong with one data row, e.g. "has no '####' final line in 'answer'"."""


class DatasetTask(Task):
    """A task over a finite table of (question, gold) rows, one table per split, loaded on first use.

    Subclasses set `required`, `default_dataset`, and `_extract(row) -> (question, gold)`; scoring is math equivalence.
    """

    required: tuple[str, ...] = ()  # columns every row must have (others are checked by _extract)
    instruction = ""  # appended to every question
    default_dataset: tuple[str | None, str | None] = (None, None)  # (hub name, config)

    def __init__(self, seed: int = 0, path: str | None = None, test_path: str | None = None,
                 dataset: str | None = None, config: str | None = None, split: str = "train",
                 test_split: str = "test", format_weight: float = 0.5, lenient: bool = True,
                 timeout_s: float = 2.0) -> None:
        """path/test_path: local files for the train/test splits (test defaults to path: then nothing is held out,
        and `r1zero tasks check` says so); dataset/config/split/test_split: a hub dataset instead (default: the task's
        usual one); format_weight: weight of the strict R1 format reward; lenient: without an answer block after
        </think>, the last \\boxed{} or "the answer is", else the last number after the reasoning is the answer
        (lenient=False: only an answer block counts); timeout_s: per-answer equivalence budget."""
        super().__init__(seed)
        if path is not None and dataset is not None:
            raise ValueError(f"task {self.name!r}: give path= (a local file) or dataset= (a hub name), not both")
        if path is None and dataset is None:
            dataset, config = self.default_dataset[0], config or self.default_dataset[1]
        test_file = test_path or path
        self.sources = {"train": (path, None if path else dataset, config, split),
                        "test": (test_file, None if test_file else dataset, config, test_split)}
        self.format_weight, self.lenient, self.timeout_s = format_weight, lenient, timeout_s
        self._rows: dict[str, list[tuple[str, str]]] = {}

    def _extract(self, row: dict[str, Any]) -> tuple[str, str]:
        """(question, gold) of one row; RowError says what is wrong with it."""
        raise NotImplementedError

    def rows(self, split: str) -> list[tuple[str, str]]:
        """(question, gold) of every row of a split; loaded and validated on first use."""
        self.check_split(split)
        if split not in self._rows:
            path, dataset, config, hub_split = self.sources[split]
            raw = load_rows(self.name, path=path, dataset=dataset, config=config, split=hub_split,
                            fields=self.required)
            out = []
            for i, row in enumerate(raw):
                try:
                    out.append(self._extract(row))
                except RowError as e:
                    raise ValueError(f"task {self.name!r}: {path or f'{dataset}[{hub_split}]'}: row {i} {e}") from None
            self._rows[split] = out
        return self._rows[split]

    def num_problems(self, split: str) -> int:
        return len(self.rows(split))

    def same_source(self) -> bool:
        """Whether both splits read the same file or hub split (nothing held out)."""
        (train_path, *train_hub), (test_path, *test_hub) = self.sources["train"], self.sources["test"]
        return train_path == test_path if train_path or test_path else train_hub == test_hub

    def problem(self, split: str, index: int) -> Problem:
        rows = self.rows(split)
        row = index % len(rows)
        question, gold = rows[row]
        return Problem(f"{self.name}/{split}/{index}", self.name, f"{question}\n{self.instruction}", gold, {"row": row})

    def score(self, completion: str, problem: Problem) -> RewardResult:
        from rewards.math import score as math_score  # sympy machinery: imported by scoring processes only

        acc = math_score(completion, problem.answer, require_format=not self.lenient, timeout_s=self.timeout_s)
        if acc.reason == "no_answer" and self.lenient:
            # the integer tasks' lenient rule too: the last number after the reasoning ("<think> x </think> 3500")
            number = last_number(completion)
            if number is not None:
                acc = math_score(f"<answer>{number}</answer>", problem.answer, timeout_s=self.timeout_s)
        fmt = strict_format(completion).value
        value = acc.value + self.format_weight * fmt
        return RewardResult(value, acc.reason, {"accuracy": acc.value, "format": fmt})
