"""`gsm8k`: grade-school word problems (GSM8K), scored by math-answer equivalence.

Data (through HF `datasets`): a local file `path=` (.jsonl / .json / .parquet / .csv) or a hub dataset
`dataset=` (default "openai/gsm8k", config "main") with `split=` ("train"); the test split reads `test_path=` or
`test_split=` ("test"). Columns:
    question  the problem text (the prompt)
    answer    the worked solution whose last line is `#### <final answer>`, e.g. "... = 72\n#### 72"
The gold answer is the text after `####` with thousands separators removed. A row missing a column, an answer with
no `####` line, or an empty file fails with one line naming the file, the row and the field.
Reward: accuracy (rewards.math.score: answer block, else the last \\boxed{} or "the answer is") + format_weight *
strict R1 format. Parts "accuracy" and "format".
"""

from __future__ import annotations

from typing import Any

from r1zero.types import Problem
from rewards.base import RewardResult
from rewards.format import strict_format
from tasks.base import Task, load_rows

INSTRUCTION = "Put only the final number in the answer block."


def gold_from_solution(solution: str) -> str | None:
    """The final answer of a GSM8K solution: what follows the last `####`, without thousands separators."""
    if "####" not in solution:
        return None
    gold = solution.rsplit("####", 1)[1].strip().replace(",", "")
    return gold or None


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
                 test_split: str = "test", format_weight: float = 0.5, require_format: bool = False,
                 timeout_s: float = 2.0) -> None:
        """path/test_path: local files for the train/test splits (test defaults to path); dataset/config/split/
        test_split: a hub dataset instead (default: the task's usual one); format_weight: weight of the strict
        format reward; require_format: accuracy only counts an answer inside the answer block; timeout_s: per-answer
        equivalence budget."""
        super().__init__(seed)
        if path is not None and dataset is not None:
            raise ValueError(f"task {self.name!r}: give path= (a local file) or dataset= (a hub name), not both")
        if path is None and dataset is None:
            dataset, config = self.default_dataset[0], config or self.default_dataset[1]
        test_file = test_path or path
        self.sources = {"train": (path, None if path else dataset, config, split),
                        "test": (test_file, None if test_file else dataset, config, test_split)}
        self.format_weight, self.require_format, self.timeout_s = format_weight, require_format, timeout_s
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

    def problem(self, split: str, index: int) -> Problem:
        rows = self.rows(split)
        row = index % len(rows)
        question, gold = rows[row]
        return Problem(f"{self.name}/{split}/{index}", self.name, f"{question}\n{self.instruction}", gold, {"row": row})

    def score(self, completion: str, problem: Problem) -> RewardResult:
        from rewards.math import score as math_score  # sympy machinery: imported by scoring processes only

        acc = math_score(completion, problem.answer, require_format=self.require_format, timeout_s=self.timeout_s)
        fmt = strict_format(completion).value
        value = acc.value + self.format_weight * fmt
        return RewardResult(value, acc.reason, {"accuracy": acc.value, "format": fmt})


class GSM8KTask(DatasetTask):
    name = "gsm8k"
    required = ("question", "answer")
    instruction = INSTRUCTION
    default_dataset = ("openai/gsm8k", "main")

    def _extract(self, row: dict[str, Any]) -> tuple[str, str]:
        gold = gold_from_solution(str(row["answer"]))
        if gold is None:
            raise RowError("has no '#### <answer>' final line in 'answer'")
        return str(row["question"]), gold
