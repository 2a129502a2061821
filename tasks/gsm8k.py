"""`gsm8k`: grade-school word problems (GSM8K), scored by math-answer equivalence.

Data (through HF `datasets`): a local file `path=` (.jsonl / .json / .parquet / .csv) or a hub dataset
`dataset=` (default "openai/gsm8k", config "main") with `split=` ("train"); the test split reads `test_path=` or
`test_split=` ("test"). Columns:
    question  the problem text (the prompt)
    answer    the worked solution whose last line is `#### <final answer>`, e.g. "... = 72\n#### 72"
The gold answer is the text after `####` with thousands separators removed. A row missing a column, an answer with
no `####` line, or an empty file fails with one line naming the file, the row and the field.
Splits: give the test split its own rows (`test_path=`, or the hub's "test"): with `path=` alone both splits read
the same file and `r1zero tasks check` fails on the overlap.
Reward: accuracy (rewards.math.score on the answer block; lenient=True (default): else the last \\boxed{}, "the
answer is", or the last number after the reasoning; plain or LaTeX numbers, not `3.5e3`) + format_weight * strict R1
format. Parts "accuracy" and "format".
"""

from __future__ import annotations

from typing import Any

from tasks.base import DatasetTask, RowError

INSTRUCTION = "Put only the final number in the answer block."


def gold_from_solution(solution: str) -> str | None:
    """The final answer of a GSM8K solution: what follows the last `####`, without thousands separators."""
    if "####" not in solution:
        return None
    gold = solution.rsplit("####", 1)[1].strip().replace(",", "")
    return gold or None


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
