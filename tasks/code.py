"""`code`: write a Python function; graded by hidden tests run in a sandboxed child process (rewards.sandbox).

Problems: a built-in set of 12 (9 train, 3 test: works offline), or a jsonl/json/parquet file `path=` (and
`test_path=`) with one problem per row:
    entry     the function name, e.g. "two_sum"
    prompt    the task description shown to the model (should state the signature)
    tests     hidden tests: a list of {"args": [...], "expected": ...} (JSON data; a JSON string also works)
    solution  optional reference solution (used by `r1zero tasks check`)
Answer: the answer block's Python code (a ```python fence inside it is fine); with lenient=True and no answer block,
the last ```python fence after </think>. The code runs in the sandbox (no network, read-only filesystem but for a
fresh temp dir, nothing of the host visible but the Python installation, unprivileged uid, memory / CPU / process limits,
wall-clock timeout); the function's outputs come back as JSON and are compared here, so the expected values never
enter the child. Keep a problem file in a directory of its own: that directory is what gets hidden.
Nothing the child produces (error strings, stdout, its layers report) goes into the RewardResult, which reaches
traces and reports: only a reason from the fixed list below and float parts (docs/security.md).
Accuracy: 1.0 iff every hidden test passes (partial=True: the fraction that pass). Reward: accuracy +
format_weight * strict R1 format; parts "accuracy" and "format". Reasons: correct, wrong, no_answer, too_long,
syntax_error, runtime_error, missing_function, timeout, memory, forbidden (a blocked call: socket, fork, a syscall
the seccomp filter kills for, ...),
crashed, sandbox_error.
"""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any

from rewards.base import RewardResult
from rewards.format import answer_block, strict_format
from rewards.sandbox import SandboxResult, run_function
from tasks.base import Problem, Task, load_rows

MAX_CODE_CHARS = 20_000
_FENCE = re.compile(r"```(?:python|py)?[^\n]*\n(.*?)```", re.DOTALL)
SUFFIX = ("\nWrite the complete function in Python (standard library only) in the answer block, e.g. "
          "<answer>\ndef f(x):\n    return x\n</answer>")

# (entry, description, reference solution, hidden tests [(args, expected)])
BUILTIN: list[tuple[str, str, str, list[tuple[list, Any]]]] = [
    ("two_sum", "def two_sum(nums: list[int], target: int) -> list[int]: return the indices [i, j], i < j, of the "
     "only two numbers in nums that add up to target.",
     "def two_sum(nums, target):\n    seen = {}\n    for j, x in enumerate(nums):\n        if target - x in seen:\n"
     "            return [seen[target - x], j]\n        seen[x] = j\n",
     [([[2, 7, 11, 15], 9], [0, 1]), ([[3, 2, 4], 6], [1, 2]), ([[3, 3], 6], [0, 1]), ([[1, -4, 8, 5], 4], [1, 2]),
      ([[0, 4, 3, 0], 0], [0, 3])]),
    ("is_palindrome", "def is_palindrome(s: str) -> bool: whether s reads the same backwards, ignoring case and "
     "every character that is not a letter or a digit.",
     "def is_palindrome(s):\n    t = [c.lower() for c in s if c.isalnum()]\n    return t == t[::-1]\n",
     [(["A man, a plan, a canal: Panama"], True), (["race a car"], False), ([""], True), (["0P"], False),
      (["No 'x' in Nixon"], True)]),
    ("fizzbuzz", "def fizzbuzz(n: int) -> list[str]: the strings for 1..n: 'FizzBuzz' for multiples of 15, 'Fizz' "
     "for multiples of 3, 'Buzz' for multiples of 5, else the number itself.",
     "def fizzbuzz(n):\n    out = []\n    for i in range(1, n + 1):\n        s = ('Fizz' if i % 3 == 0 else '') + "
     "('Buzz' if i % 5 == 0 else '')\n        out.append(s or str(i))\n    return out\n",
     [([1], ["1"]), ([5], ["1", "2", "Fizz", "4", "Buzz"]), ([0], []),
      ([15], ["1", "2", "Fizz", "4", "Buzz", "Fizz", "7", "8", "Fizz", "Buzz", "11", "Fizz", "13", "14",
              "FizzBuzz"])]),
    ("run_length", "def run_length(s: str) -> str: run-length encode s as character then count for every run, "
     "e.g. run_length('aaab') == 'a3b1'.",
     "def run_length(s):\n    out, i = [], 0\n    while i < len(s):\n        j = i\n        while j < len(s) and "
     "s[j] == s[i]:\n            j += 1\n        out.append(s[i] + str(j - i))\n        i = j\n"
     "    return ''.join(out)\n",
     [(["aaab"], "a3b1"), ([""], ""), (["abc"], "a1b1c1"), (["zzzzzzzzzzzz"], "z12"), (["aabbaa"], "a2b2a2")]),
    ("max_subarray", "def max_subarray(nums: list[int]) -> int: the largest sum of a non-empty contiguous run of "
     "nums.",
     "def max_subarray(nums):\n    best = cur = nums[0]\n    for x in nums[1:]:\n        cur = max(x, cur + x)\n"
     "        best = max(best, cur)\n    return best\n",
     [([[-2, 1, -3, 4, -1, 2, 1, -5, 4]], 6), ([[1]], 1), ([[-3, -1, -2]], -1), ([[5, 4, -1, 7, 8]], 23)]),
    ("count_primes", "def count_primes(n: int) -> int: how many prime numbers are strictly less than n.",
     "def count_primes(n):\n    if n < 3:\n        return 0\n    sieve = [True] * n\n    sieve[0] = sieve[1] = False\n"
     "    for i in range(2, int(n ** 0.5) + 1):\n        if sieve[i]:\n            sieve[i * i::i] = [False] * "
     "len(range(i * i, n, i))\n    return sum(sieve)\n",
     [([10], 4), ([0], 0), ([2], 0), ([3], 1), ([100], 25), ([100000], 9592)]),
    ("flatten", "def flatten(nested: list) -> list[int]: the integers of an arbitrarily nested list, in order.",
     "def flatten(nested):\n    out = []\n    for x in nested:\n        if isinstance(x, list):\n"
     "            out.extend(flatten(x))\n        else:\n            out.append(x)\n    return out\n",
     [([[1, [2, [3, 4]], 5]], [1, 2, 3, 4, 5]), ([[]], []), ([[[[[]]]]], []), ([[[1], [[2]], 3]], [1, 2, 3])]),
    ("roman_to_int", "def roman_to_int(s: str) -> int: the value of a Roman numeral (I, V, X, L, C, D, M, with "
     "subtractive pairs such as IV and CM).",
     "def roman_to_int(s):\n    v = {'I': 1, 'V': 5, 'X': 10, 'L': 50, 'C': 100, 'D': 500, 'M': 1000}\n    total = 0\n"
     "    for a, b in zip(s, s[1:] + ' '):\n        total += -v[a] if b != ' ' and v[b] > v[a] else v[a]\n"
     "    return total\n",
     [(["III"], 3), (["IV"], 4), (["LVIII"], 58), (["MCMXCIV"], 1994), (["MMXXIV"], 2024)]),
    ("balanced", "def balanced(s: str) -> bool: whether the brackets (), [] and {} in s are balanced and properly "
     "nested; other characters are ignored.",
     "def balanced(s):\n    pairs = {')': '(', ']': '[', '}': '{'}\n    stack = []\n    for c in s:\n"
     "        if c in '([{':\n            stack.append(c)\n        elif c in pairs:\n"
     "            if not stack or stack.pop() != pairs[c]:\n                return False\n    return not stack\n",
     [(["([]{})"], True), (["(]"], False), ([""], True), (["((a)"], False), (["{[x](y)}z"], True), (["}{"], False)]),
    # test split
    ("merge_intervals", "def merge_intervals(intervals: list[list[int]]) -> list[list[int]]: merge overlapping "
     "(or touching) closed intervals; return them sorted by start.",
     "def merge_intervals(intervals):\n    out = []\n    for a, b in sorted(intervals):\n"
     "        if out and a <= out[-1][1]:\n            out[-1][1] = max(out[-1][1], b)\n        else:\n"
     "            out.append([a, b])\n    return out\n",
     [([[[1, 3], [2, 6], [8, 10], [15, 18]]], [[1, 6], [8, 10], [15, 18]]), ([[[1, 4], [4, 5]]], [[1, 5]]),
      ([[]], []), ([[[5, 6], [1, 2]]], [[1, 2], [5, 6]])]),
    ("rotate", "def rotate(matrix: list[list[int]]) -> list[list[int]]: the matrix rotated 90 degrees clockwise.",
     "def rotate(matrix):\n    return [list(row) for row in zip(*matrix[::-1])]\n",
     [([[[1, 2], [3, 4]]], [[3, 1], [4, 2]]), ([[[1, 2, 3]]], [[1], [2], [3]]),
      ([[[1, 2, 3], [4, 5, 6], [7, 8, 9]]], [[7, 4, 1], [8, 5, 2], [9, 6, 3]])]),
    ("lis_length", "def lis_length(nums: list[int]) -> int: the length of the longest strictly increasing "
     "subsequence of nums.",
     "import bisect\n\ndef lis_length(nums):\n    tails = []\n    for x in nums:\n"
     "        i = bisect.bisect_left(tails, x)\n        tails[i:i + 1] = [x]\n    return len(tails)\n",
     [([[10, 9, 2, 5, 3, 7, 101, 18]], 4), ([[]], 0), ([[7, 7, 7]], 1), ([[0, 1, 0, 3, 2, 3]], 4)]),
]
BUILTIN_TEST = 3  # the last three built-in problems form the test split


def _same(want: Any, got: Any) -> bool:
    """Plain-JSON equality; floats within 1e-6 relative; bool is not int."""
    if isinstance(want, bool) or isinstance(got, bool):
        return type(want) is type(got) and want == got
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        return want == got or math.isclose(want, got, rel_tol=1e-6, abs_tol=1e-9)
    if isinstance(want, list) and isinstance(got, list):
        return len(want) == len(got) and all(_same(a, b) for a, b in zip(want, got))
    if isinstance(want, dict) and isinstance(got, dict):
        return want.keys() == got.keys() and all(_same(want[k], got[k]) for k in want)
    return type(want) is type(got) and want == got


def extract_code(completion: str, *, lenient: bool = True) -> str | None:
    """The answer block's code (inside a ```python fence if it has one), else (lenient) the last fence after
    </think>; None if there is none."""
    block = answer_block(completion)
    if block is None:
        if not lenient:
            return None
        fences = _FENCE.findall(completion.rsplit("</think>", 1)[-1])
        return fences[-1].strip("\n") if fences else None
    fences = _FENCE.findall(block)
    code = fences[0] if fences else block
    return code.strip("\n") or None


def _reason(res: SandboxResult, passed: int, total: int) -> str:
    if res.status == "setup_error":
        return "sandbox_error"
    if res.violations:  # an audit-hook refusal, or a kill by the seccomp filter (status "crashed")
        return "forbidden"
    if res.status != "ok":
        return res.status  # timeout, crashed
    errors = [res.load_error or ""] + [o.get("error", "") for o in res.outputs or [] if isinstance(o, dict)]
    if any(e.startswith("MemoryError") for e in errors):
        return "memory"
    if res.load_error:
        kind = res.load_error.split(":", 1)[0]
        return {"SyntaxError": "syntax_error", "IndentationError": "syntax_error", "TabError": "syntax_error",
                "MissingFunction": "missing_function"}.get(kind, "runtime_error")
    return "correct" if passed == total else "wrong"


def _tests(value: Any, where: str) -> list[tuple[list, Any]]:
    tests = json.loads(value) if isinstance(value, str) else value
    if not isinstance(tests, list) or not tests:
        raise ValueError(f"{where}: 'tests' must be a non-empty list of {{'args': [...], 'expected': ...}}")
    out = []
    for t in tests:
        if not isinstance(t, dict) or not isinstance(t.get("args"), list) or "expected" not in t:
            raise ValueError(f"{where}: every test in 'tests' needs 'args' (a list) and 'expected'")
        out.append((t["args"], t["expected"]))
    return out


class CodeTask(Task):
    name = "code"

    def __init__(self, seed: int = 0, path: str | None = None, test_path: str | None = None,
                 timeout_s: float = 3.0, memory_mb: int = 1024, partial: bool = False, format_weight: float = 0.5,
                 lenient: bool = True) -> None:
        """path/test_path: problem files (default: the built-in set); timeout_s/memory_mb: sandbox limits per
        answer (keep timeout_s + 1 below reward.timeout_s, the scoring pool's own limit); partial: accuracy is the
        fraction of tests passed instead of all-or-nothing; format_weight: weight of the strict format reward;
        lenient: accept a ```python fence after </think> when there is no answer block."""
        super().__init__(seed)
        self.timeout_s, self.memory_mb, self.partial = timeout_s, memory_mb, partial
        self.format_weight, self.lenient = format_weight, lenient
        self.sources = {"train": path, "test": test_path or path}
        # the problem files hold the hidden tests: their directories are invisible inside the sandbox
        self._hide = tuple(sorted({os.path.dirname(os.path.abspath(p)) for p in (path, test_path) if p}))
        self._problems: dict[str, list[dict]] = {}

    def _load(self, split: str) -> list[dict]:
        self.check_split(split)
        if split not in self._problems:
            path = self.sources[split]
            if path is None:
                rows = BUILTIN[:-BUILTIN_TEST] if split == "train" else BUILTIN[-BUILTIN_TEST:]
                items = [{"entry": e, "prompt": d, "solution": s, "tests": t} for e, d, s, t in rows]
            else:
                raw = load_rows(self.name, path=path, fields=("entry", "prompt", "tests"))
                items = [{"entry": str(r["entry"]), "prompt": str(r["prompt"]), "solution": r.get("solution") or "",
                          "tests": _tests(r["tests"], f"task 'code': {path}: row {i}")} for i, r in enumerate(raw)]
            self._problems[split] = items
        return self._problems[split]

    def num_problems(self, split: str) -> int:
        return len(self._load(split))

    def problem(self, split: str, index: int) -> Problem:
        items = self._load(split)
        item = items[index % len(items)]
        args, expected = item["tests"][0]
        call = f"{item['entry']}({', '.join(map(repr, args))})"
        prompt = f"{item['prompt']}\nExample: {call} == {expected!r}{SUFFIX}"
        return Problem(f"{self.name}/{split}/{index}", self.name, prompt, item["solution"],
                       {"entry": item["entry"], "tests": item["tests"]})

    def score(self, completion: str, problem: Problem) -> RewardResult:
        fmt = strict_format(completion).value
        code = extract_code(completion, lenient=self.lenient)
        tests = problem.meta["tests"]
        if not code or len(code) > MAX_CODE_CHARS:
            reason = "no_answer" if not code else "too_long"
            return RewardResult(self.format_weight * fmt, reason, {"accuracy": 0.0, "format": fmt})
        res = run_function(code, problem.meta["entry"], [list(a) for a, _ in tests], timeout_s=self.timeout_s,
                           memory_mb=self.memory_mb, hide=self._hide)
        outs = res.outputs or []
        passed = sum(isinstance(o, dict) and "value" in o and _same(json.loads(json.dumps(want)), o["value"])
                     for (_, want), o in zip(tests, outs)) if len(outs) == len(tests) else 0
        reason = _reason(res, passed, len(tests))
        acc = passed / len(tests) if self.partial else float(reason == "correct")
        return RewardResult(acc + self.format_weight * fmt, reason, {"accuracy": acc, "format": fmt})
