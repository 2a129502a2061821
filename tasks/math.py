"""`math`: competition problems (MATH, MATH-500 style), scored by math-answer equivalence.

Data (through HF `datasets`): a local file `path=` (.jsonl / .json / .parquet / .csv) or a hub dataset
`dataset=` (default "HuggingFaceH4/MATH-500", which has only a "test" split: pass split="test" or a local file)
with `split=`; the test split reads `test_path=` or `test_split=` ("test"). Columns:
    problem   the problem text, LaTeX allowed (the prompt)
    answer    the final answer (optional when `solution` has one), e.g. "\\frac{14}{3}"
    solution  the worked solution; its last \\boxed{...} is the gold when there is no `answer`
A row without `problem`, or with neither an `answer` nor a \\boxed{} in `solution`, or an empty file, fails with one
line naming the file, the row and the field.
Splits: give the test split its own rows (`test_path=`, or a hub split): with `path=` alone both splits read the same
file and `r1zero tasks check` fails on the overlap.
Reward: accuracy (rewards.math.score: sympy-backed equivalence, e.g. 0.5 == \\frac12 and 3500 == 3.5 \\times 10^3, but
computer notation such as `3.5e3` is not a number to it; lenient as in gsm8k) + format_weight * strict R1 format.
Parts "accuracy" and "format".
"""

from __future__ import annotations

from typing import Any

from rewards.math.normalize import find_boxed
from tasks.base import DatasetTask, RowError

INSTRUCTION = "Put only the final answer (LaTeX is fine) in the answer block."


def gold_from_row(row: dict[str, Any]) -> str:
    """The `answer` column when present, else the last \\boxed{} of `solution`; RowError when neither."""
    answer = row.get("answer")
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        return str(answer)
    if isinstance(answer, str) and answer.strip():
        return answer.strip()
    solution = row.get("solution")
    if not isinstance(solution, str) or not solution.strip():
        raise RowError("has neither 'answer' nor 'solution'")
    boxes = find_boxed(solution)
    if not boxes or not boxes[-1][2].strip():
        raise RowError("has no 'answer' and no \\boxed{} in 'solution'")
    return boxes[-1][2].strip()


class MathTask(DatasetTask):
    name = "math"
    required = ("problem",)
    instruction = INSTRUCTION
    default_dataset = ("HuggingFaceH4/MATH-500", None)

    def _extract(self, row: dict[str, Any]) -> tuple[str, str]:
        return str(row["problem"]), gold_from_row(row)

