"""Task library: countdown's verifier under attack, dataset tasks' bad-data errors, gym:<name>, the registry."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tasks.countdown import CountdownTask, verify
from tasks.gsm8k import GSM8KTask, gold_from_solution
from tasks.gym import GymTask, guarded_eval
from tasks.math import MathTask
from tasks.registry import TASKS, TaskMixture, make_task

FIXTURES = Path(__file__).parent / "fixtures"
GSM8K = str(FIXTURES / "gsm8k_mini.jsonl")
MATH = str(FIXTURES / "math_mini.jsonl")


def wrap(answer: str) -> str:
    return f"<think> working </think> <answer>{answer}</answer>"


# ------------------------------------------------------------------------------------------------------- countdown

@pytest.mark.parametrize("expr,reason", [
    ("(6 + 4) * 2", "correct"),
    ("2 * (4 + 6) = 20", "correct"),  # restating the target is fine
    ("2 × (4 + 6)", "correct"),
    ("6 * 4 - 2", "wrong"),
    ("6 * 6 - 2", "reused_number"),
    ("(6 + 4) * 2 + 0", "number_not_given"),
    ("(7 + 3) * 2", "number_not_given"),
    ("(6 + 4)", "unused_numbers"),
    ("2 / (4 - 4)", "reused_number"),
    ("6 ** 4 ** 2", "bad_expression"),
    ("2 ** 10 ** 10 ** 10", "bad_expression"),
    ("__import__('os').system('true')", "bad_expression"),
    ("(lambda: 20)()", "bad_expression"),
    ("6.0 + 4 + 2", "bad_expression"),
    ("6 // 4 + 2", "bad_expression"),
    ("abs(6) + 4 + 2", "bad_expression"),
    ("[6, 4, 2]", "bad_expression"),
    ("'6' + '4'", "bad_expression"),
    ("(" * 300 + "6" + ")" * 300, "bad_expression"),
    ("9" * 5000, "bad_expression"),
    ("", "bad_expression"),
])
def test_countdown_verifier(expr, reason):
    assert verify(expr, [6, 4, 2], 20) == reason


def test_countdown_division_by_zero_and_exact_fractions():
    assert verify("4 / (2 - 2)", [4, 2, 2], 1) == "division_by_zero"
    assert verify("6 / (1 - 3 / 4)", [1, 3, 4, 6], 24) == "correct"  # 6 / (1/4): exact, no float rounding
    assert verify("-(2 - 6) * 5", [2, 6, 5], 20) == "correct"
    assert verify("6 + 4", [6, 4, 2], 10, use_all=False) == "correct"


def test_countdown_problems_are_deterministic_solvable_and_split():
    task = CountdownTask(seed=3)
    probs = [task.problem("train", i) for i in range(300)]
    assert probs[:5] == [CountdownTask(seed=3).problem("train", i) for i in range(5)]
    assert probs[0] != CountdownTask(seed=4).problem("train", 0)
    assert task.problem("test", 0) != probs[0]
    for p in probs:
        assert 3 <= len(p.meta["numbers"]) <= 4 and 1 <= p.meta["target"] <= 999
        assert verify(p.answer, p.meta["numbers"], p.meta["target"]) == "correct", p
    ops = "".join(p.answer for p in probs)
    assert all(op in ops for op in "+-*/")  # not just sums


def test_countdown_reward_parts_and_lenient_extraction():
    task = CountdownTask()
    p = task.problem("train", 0)
    full = task.score(wrap(p.answer), p)
    assert (full.value, full.reason, full.parts) == (1.5, "correct", {"accuracy": 1.0, "format": 1.0})
    lenient = task.score(f"<think> so </think>\n{p.answer}", p)
    assert (lenient.value, lenient.reason) == (1.0, "correct")
    assert CountdownTask(lenient=False).score(f"<think> so </think>\n{p.answer}", p).reason == "no_answer"
    assert task.score("<think> hmm", p).reason == "no_answer"
    assert task.score(wrap("1 + 1"), p).parts == {"accuracy": 0.0, "format": 1.0}


def test_countdown_splits_are_disjoint_whatever_the_seeds():
    keys = {split: {CountdownTask(seed=s).canonical(p) for s in (0, 1, 9) for p in CountdownTask(seed=s).problems(
        split, 300)} for split in ("train", "test")}
    assert len(keys["test"]) > 100 and not keys["train"] & keys["test"]


def test_countdown_bad_args():
    with pytest.raises(ValueError, match="countdown needs"):
        CountdownTask(min_numbers=5, max_numbers=3)


# ------------------------------------------------------------------------------------------------ gsm8k and math

def test_gsm8k_fixture_golds_and_scoring():
    task = GSM8KTask(path=GSM8K)
    assert task.num_problems("train") == 8
    golds = [task.problem("train", i).answer for i in range(8)]
    assert golds == ["16", "168", "20", "108", "11250", "24", "-3", "7.5"]
    p = task.problem("train", 4)
    assert "####" not in p.prompt and p.prompt.startswith("A factory")
    assert task.score(wrap("11,250"), p).parts["accuracy"] == 1.0
    assert task.score(wrap("11251"), p).reason == "wrong"
    assert task.score("<think> x </think> The answer is \\boxed{11250}.", p).parts == {"accuracy": 1.0,
                                                                                        "format": 0.0}
    assert GSM8KTask(path=GSM8K, lenient=False).score("<think>x</think> \\boxed{11250}", p).reason == "no_answer"
    assert task.problem("train", 9).answer == golds[1]  # wraps around a finite split
    assert gold_from_solution("a\n#### 1,000") == "1000" and gold_from_solution("no marker") is None


def test_lenient_means_the_same_for_integer_and_math_tasks():
    # the case: no answer block, the number after the reasoning; both helpers take it, or neither
    response = "<think> x </think> 11250"
    p = GSM8KTask(path=GSM8K).problem("train", 4)
    assert GSM8KTask(path=GSM8K).score(response, p).parts == {"accuracy": 1.0, "format": 0.0}
    assert GSM8KTask(path=GSM8K, lenient=False).score(response, p).reason == "no_answer"
    arith = make_task("arithmetic")
    q = arith.problem("train", 0)
    assert arith.score(f"<think> x </think> {q.answer}", q).parts["accuracy"] == 1.0
    assert make_task("arithmetic", lenient=False).score(f"<think> x </think> {q.answer}", q).reason == "no_answer"
    assert GSM8KTask(path=GSM8K).score("<think> x </think> 11251", p).reason == "wrong"


def test_math_fixture_golds_from_answer_or_boxed():
    task = MathTask(path=MATH)
    golds = [task.problem("test", i).answer for i in range(8)]
    assert golds == ["\\frac{5}{6}", "6", "6\\sqrt{2}", "9\\pi", "2, 3", "9", "15", "\\frac{3}{8}"]
    p = task.problem("train", 7)
    assert task.score(wrap("0.375"), p).reason == "correct"
    assert task.score(wrap("3/8"), p).reason == "correct"
    assert task.score(wrap("\\frac{3}{7}"), p).reason == "wrong"


def test_dataset_tasks_read_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [json.loads(line) for line in Path(GSM8K).read_text().splitlines()]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "g.parquet")
    task = GSM8KTask(path=str(tmp_path / "g.parquet"))
    assert [task.problem("train", i).answer for i in range(3)] == ["16", "168", "20"]


def _jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.mark.parametrize("cls,rows,match", [
    (GSM8KTask, [{"question": "q", "answer": "#### 1"}, {"question": "q", "answer": "#### 2"}, {"question": "q"}],
     r"row 2 has no 'answer'"),
    (GSM8KTask, [{"question": "q", "answer": "#### 1"}, {"question": "", "answer": "#### 2"}],
     r"row 1 has no 'question'"),
    (GSM8KTask, [{"question": "q", "answer": "#### 1"}, {"question": "q", "answer": "it is 2"}],
     r"row 1 has no '#### <answer>'"),
    (MathTask, [{"problem": "p", "answer": "1"}, {"problem": "p", "solution": "no box here"}],
     r"row 1 has no 'answer' and no \\boxed"),
    (MathTask, [{"problem": "p", "answer": "1"}, {"solution": "\\boxed{2}", "answer": "2"}],
     r"row 1 has no 'problem'"),
])
def test_bad_rows_name_the_row_and_the_field(tmp_path, cls, rows, match):
    path = _jsonl(tmp_path / "d.jsonl", rows)
    with pytest.raises(ValueError, match=match) as e:
        cls(path=path).problem("train", 0)
    assert path in str(e.value) and "\n" not in str(e.value)


def test_empty_and_missing_datasets(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ValueError, match="has no rows"):
        GSM8KTask(path=str(tmp_path / "empty.jsonl")).problem("train", 0)
    (tmp_path / "blank.jsonl").write_text("\n\n")
    with pytest.raises(ValueError, match="blank.jsonl"):
        GSM8KTask(path=str(tmp_path / "blank.jsonl")).problem("train", 0)
    with pytest.raises(FileNotFoundError, match="no such file"):
        MathTask(path=str(tmp_path / "nope.jsonl")).problem("train", 0)
    with pytest.raises(ValueError, match="unknown file type"):
        MathTask(path=str(tmp_path / "x.txt")).problem("train", 0)
    with pytest.raises(ValueError, match="not both"):
        MathTask(path=MATH, dataset="some/hub")


# ----------------------------------------------------------------------------------------------------- gym:<name>

def test_gym_task_by_name_scores_with_its_generator():
    task = make_task("gym:basic_arithmetic", seed=1, size=50)
    assert isinstance(task, GymTask) and task.name == "gym:basic_arithmetic"
    p = task.problem("train", 3)
    assert p.task == "gym:basic_arithmetic" and p == make_task("gym:basic_arithmetic", seed=1, size=50).problem(
        "train", 3)
    assert task.score(wrap(p.answer), p).parts == {"accuracy": 1.0, "format": 1.0}
    assert task.score(wrap("not a number"), p).reason == "wrong"
    assert task.score(f"<think> x </think> {p.answer}", p).parts["accuracy"] == 1.0  # lenient
    assert make_task("gym:basic_arithmetic", size=50, lenient=False).score(f"<think>x</think> {p.answer}",
                                                                            p).reason == "no_answer"
    assert task.num_problems("train") == 50


def test_gym_passes_generator_config_and_reports_bad_names():
    task = make_task("gym:countdown", min_numbers=3, max_numbers=3, size=10)
    assert len(task.problem("train", 0).meta["entry"]["metadata"]["numbers"]) == 3
    with pytest.raises(KeyError, match="unknown reasoning-gym generator 'nope'.*'countdown'"):
        make_task("gym:nope")
    with pytest.raises(ValueError, match="gym:countdown.*bad config"):
        make_task("gym:countdown", no_such_field=1)


def test_gym_partial_credit_is_opt_in():
    p = make_task("gym:countdown", size=5).problem("train", 0)
    binary = make_task("gym:countdown", size=5).score(wrap("1 + 1"), p)
    partial = make_task("gym:countdown", size=5, partial=True).score(wrap("1 + 1"), p)
    assert binary.parts["accuracy"] == 0.0 and binary.reason == "partial"  # reasoning-gym gives 0.01 here
    assert 0 < partial.parts["accuracy"] < 1


@pytest.mark.parametrize("generator", ["n_queens", "countdown", "string_insertion", "puzzle24"])
def test_gym_verifiers_never_eval_model_output(generator, tmp_path):
    marker = tmp_path / "pwned"
    task = make_task(f"gym:{generator}", size=5)
    p = task.problem("train", 0)
    for evil in (f"__import__('os').system('touch {marker}')", "().__class__.__bases__[0].__subclasses__()",
                 f"open('{marker}', 'w')"):
        assert task.score(wrap(evil), p).reason == "unsafe_answer"
    assert not marker.exists()
    assert task.score(wrap(p.answer), p).parts["accuracy"] == 1.0  # gold still verifies through the guard


def test_guarded_eval_allows_literals_and_sympy_arithmetic():
    blocked: list = []
    with guarded_eval(blocked):
        assert eval("[[1, 'Q'], (2, -3.5)]") == [[1, "Q"], (2, -3.5)]
        assert eval("Integer (2 )*Symbol ('x' )", {"Integer": int, "Symbol": lambda s: 3}) == 6
        with pytest.raises(ValueError):
            eval("Symbol ('x').__class__")
    assert eval("1 + 1") == 2 and blocked == ["Symbol ('x').__class__"]


# -------------------------------------------------------------------------------------------------------- registry

def test_registry_names_and_errors():
    assert {"arithmetic", "digits", "countdown", "gsm8k", "math", "code"} <= set(TASKS)
    with pytest.raises(KeyError, match=r"unknown task 'nope'; valid: \['arithmetic'.*gym:"):
        make_task("nope")
    with pytest.raises(ValueError, match=r"'countdown': unknown argument \['nonsense'\]; valid: \['format_weight'"):
        make_task("countdown", nonsense=1)
    with pytest.raises(ValueError, match=r"did you mean 'max_value' for 'max_valu'\?\); valid: \[") as e:
        make_task("countdown", max_valu=9, use_all=True)
    assert "'use_all'" in str(e.value) and "'seed'" not in str(e.value)  # valid names only, not the caller's


def test_module_path_names_need_no_registry_entry():
    task = make_task("tasks.countdown:CountdownTask", seed=2)
    p = task.problem("train", 0)
    assert p.task == "tasks.countdown:CountdownTask" and p.answer == CountdownTask(seed=2).problem("train", 0).answer
    with pytest.raises(KeyError, match="cannot import"):
        make_task("tasks.countdown:Nope")
    with pytest.raises(KeyError, match="not a tasks.base.Task"):
        make_task("os.path:join")


def test_mixture_of_weighted_tasks_is_deterministic():
    specs = {"countdown": (3.0, {}), "gym:basic_arithmetic": (1.0, {"size": 100}), "gsm8k": (1.0, {"path": GSM8K})}
    mix = TaskMixture(specs, seed=0)
    batch = [p for step in range(10) for p in mix.batch(step, 8)]
    counts = {n: sum(p.task == n for p in batch) for n in specs}
    assert all(counts.values()) and counts["countdown"] > counts["gsm8k"]
    assert [p.id for p in TaskMixture(specs, seed=0).batch(4, 8)] == [p.id for p in mix.batch(4, 8)]
    for p in batch:  # every problem is scored by the task it names
        assert mix.tasks[p.task].score(wrap(p.answer), p).parts["accuracy"] == 1.0


def test_tasks_import_without_ray_or_vllm():
    import subprocess
    import sys

    code = ("import sys; sys.modules['ray'] = None; sys.modules['vllm'] = None\n"
            "import tasks.registry, rewards.sandbox, r1zero.task_cli\nprint('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).parents[1], env={**os.environ})
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
