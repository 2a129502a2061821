"""`r1zero tasks list / check / gym-survey`, and the example in docs/adding-a-task.md."""

from __future__ import annotations

import importlib
import json
import random
import re
import sys
import time
from pathlib import Path

import pytest

from r1zero import task_cli
from r1zero.cli import main
from rewards.base import RewardResult
from rewards.format import answer_block
from tasks import registry
from tasks.base import Problem, Task

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"

# Every registered task with arguments that work offline. `digits` is left out on purpose: it is a dense-reward
# sanity task with no gold answer to verify (its reward is the fraction of digit characters in the whole reply).
CHECKS = [
    ("countdown", None, 20),
    ("arithmetic", None, 20),
    ("gsm8k", f'{{"path": "{FIXTURES / "gsm8k_mini.jsonl"}", "test_path": "{FIXTURES / "gsm8k_heldout.jsonl"}"}}', 8),
    ("math", f'{{"path": "{FIXTURES / "math_mini.jsonl"}", "test_path": "{FIXTURES / "math_heldout.jsonl"}"}}', 8),
    ("code", None, 2),
    ("gym:basic_arithmetic", '{"size": 200}', 10),
    ("gym:knights_knaves", '{"size": 200}', 5),
    ("gym:n_queens", '{"size": 200}', 5),
]


def test_every_task_is_covered_by_a_check():
    assert set(registry.TASKS) - {"digits"} <= {name for name, _, _ in CHECKS}


@pytest.mark.parametrize("name,args,n", CHECKS, ids=[c[0] for c in CHECKS])
def test_tasks_check_passes(name, args, n, capsys):
    argv = ["tasks", "check", name, "-n", str(n)] + (["--args", args] if args else [])
    assert main(argv) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "OK" in out.splitlines()[-1]
    assert re.search(r"^split overlap: 0/\d+ test problems", out, re.M), out
    m = re.search(r"throughput: ([\d,.]+) problems/s, ([\d,.]+) scores/s", out)
    assert m and float(m.group(2).replace(",", "")) > 0


def test_tasks_check_fails_on_a_broken_verifier(capsys):
    # game_of_life_halting's own verifier accepts any non-empty answer: the check must catch that
    assert main(["tasks", "check", "gym:game_of_life_halting", "-n", "4", "--args", '{"size": 50}']) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "scored 1.0" in out and out.strip().endswith("FAILED")


def test_tasks_check_renders_with_a_chat_template(capsys):
    assert main(["tasks", "check", "countdown", "-n", "2", "--model", "tiny"]) == 0
    assert "<|im_start|>assistant" in capsys.readouterr().out


def test_tasks_list_names_every_task(capsys):
    assert main(["tasks", "list"]) == 0
    out = capsys.readouterr().out
    for name in registry.TASKS:
        assert re.search(rf"^{re.escape(name)}\s+\S", out, re.M), name
    assert "gym:<name>" in out
    assert main(["tasks", "list", "--gym"]) == 0
    assert "gym:knights_knaves" in capsys.readouterr().out.split()


@pytest.mark.parametrize("argv,msg", [
    (["tasks", "check", "nope"], "unknown task 'nope'"),
    (["tasks", "check", "gym:nope"], "unknown reasoning-gym generator 'nope'"),
    (["tasks", "check", "countdown", "--args", "[1]"], "--args must be a JSON object"),
    (["tasks", "check", "countdown", "--args", '{"bogus": 1}'], "task 'countdown': unknown argument ['bogus']"),
    (["tasks", "check", "countdown", "--args", "{min_numbers: 3}"], "--args is not JSON"),
    (["tasks", "check", "arithmetic", "--args", '{"dgits": 2}'], "(did you mean 'digits' for 'dgits'?)"),
    (["tasks", "check", "broken"], "task 'broken' failed: RuntimeError: generator exhausted (--traceback"),
])
def test_user_mistakes_are_one_line(argv, msg, capsys, monkeypatch):
    monkeypatch.setitem(registry.TASKS, "broken", BrokenTask)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("r1zero: error: ") and msg in err and "\n" not in err
    if "valid:" in err:  # only the valid names are listed as valid
        assert "dgits" not in err.split("valid:")[1] and "bogus" not in err.split("valid:")[1]


class BrokenTask(Task):
    name = "broken"

    def problem(self, split, index):
        raise RuntimeError("generator exhausted")

    def score(self, completion, problem):
        return RewardResult(0.0, "wrong", {"accuracy": 0.0})


class SloppyTask(Task):
    """A number task whose verifier is too kind in one configurable way (what `tasks check` must catch)."""

    name = "sloppy"

    def __init__(self, seed: int = 0, flaw: str = "last_number") -> None:
        super().__init__(seed)
        self.flaw = flaw

    def problem(self, split, index):
        def candidate(attempt):
            a = random.Random(f"{self.seed}/{split}/{index}/{attempt}").randint(10, 99)
            return Problem(f"{self.name}/{split}/{index}", self.name, f"What is {a} + 12?", str(a + 12))

        return self.keyed_problem(split, index, candidate)

    def score(self, completion, problem):
        answer = answer_block(completion) or ""
        found = re.findall(r"\d+", answer)
        if self.flaw == "last_number":  # takes the last number of a hedge
            ok = bool(found) and found[-1] == problem.answer
        else:  # "close": within 1, digits in any order
            ok = len(found) == 1 and (abs(int(found[0]) - int(problem.answer)) <= 1
                                      or sorted(found[0]) == sorted(problem.answer))
        return RewardResult(float(ok), "correct" if ok else "wrong", {"accuracy": float(ok)})


@pytest.mark.parametrize("flaw,caught", [("last_number", " or "), ("close", "scored 1.0")])
def test_tasks_check_tries_near_misses_and_hedges(flaw, caught, capsys, monkeypatch):
    monkeypatch.setitem(registry.TASKS, "sloppy", SloppyTask)
    assert main(["tasks", "check", "sloppy", "-n", "5", "--args", json.dumps({"flaw": flaw})]) == 1
    out = capsys.readouterr().out
    fails = [ln for ln in out.splitlines() if ln.startswith("FAIL ")]
    assert fails and all(caught in ln for ln in fails), out


def test_tasks_check_compares_golds_by_the_verifier(tmp_path, capsys):
    # "0.5" and "\frac{1}{2}" are one answer: neither may be used as the other's wrong answer
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in [
        {"problem": "Half of 1?", "answer": "0.5"}, {"problem": "One over two?", "answer": "\\frac{1}{2}"},
        {"problem": "Two halves?", "answer": "1"}]))
    args = json.dumps({"path": str(train), "test_path": str(FIXTURES / "math_heldout.jsonl")})
    assert main(["tasks", "check", "math", "-n", "3", "--args", args]) == 0, capsys.readouterr().out


def test_tasks_check_reports_overlapping_data_splits(capsys):
    mini = str(FIXTURES / "gsm8k_mini.jsonl")
    dirty = json.dumps({"path": mini, "test_path": str(FIXTURES / "gsm8k_contaminated.jsonl")})
    assert main(["tasks", "check", "gsm8k", "-n", "4", "--args", dirty]) == 1
    out = capsys.readouterr().out
    assert "FAIL split overlap: 1/4 test problems also among 8 training problems (1 exact" in out
    assert "1/4 exact duplicates, 2/4 sharing >= 70% of their 8-grams" in out
    assert main(["tasks", "check", "gsm8k", "-n", "4", "--args", json.dumps({"path": mini})]) == 1
    assert "the test split reads the training data" in capsys.readouterr().out
    assert main(["tasks", "check", "gsm8k", "-n", "4", "--allow-overlap", "--args", dirty]) == 0
    assert "WARN split overlap: 1/4" in capsys.readouterr().out


def test_tasks_overlap_compares_two_files(capsys):
    mini = str(FIXTURES / "gsm8k_mini.jsonl")
    assert main(["tasks", "overlap", mini, str(FIXTURES / "gsm8k_contaminated.jsonl")]) == 1
    out = capsys.readouterr().out
    assert "1/4 exact duplicates, 2/4 sharing" in out and out.strip().endswith("CONTAMINATED")
    assert main(["tasks", "overlap", mini, str(FIXTURES / "gsm8k_heldout.jsonl")]) == 0
    assert capsys.readouterr().out.strip().endswith("CLEAN")
    assert main(["tasks", "overlap", mini, mini, "--field", "nope"]) == 2


def test_gym_survey_reports_failures_and_time_limits(monkeypatch):
    res = task_cli.gym_survey(["leg_counting", "game_of_life_halting"], n=2, time_limit_s=120, size=50, jobs=2)
    assert res["leg_counting"]["ok"] and not res["game_of_life_halting"]["ok"]

    def hang(*args, **kwargs):
        time.sleep(60)

    monkeypatch.setattr(task_cli, "check_task", hang)  # the forked children inherit the patch
    t0 = time.monotonic()
    res = task_cli.gym_survey(["leg_counting"], n=1, time_limit_s=1)
    assert res["leg_counting"] == {"ok": False, "failures": ["over the 1s time limit"]}
    assert time.monotonic() - t0 < 10


def _doc_block(lang: str) -> str:
    text = (ROOT / "docs" / "adding-a-task.md").read_text()
    blocks = re.findall(rf"```{lang}\n(.*?)```", text, re.S)
    assert len(blocks) == 1, f"the doc has exactly one runnable {lang} block"
    return blocks[0]


def _doc_example() -> str:
    return _doc_block("python")


def test_doc_example_runs(tmp_path, monkeypatch, capsys):
    # our own documentation is trusted code: write it as a module and import it (model output is never run here)
    (tmp_path / "reverse_task_doc.py").write_text(_doc_example())
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("reverse_task_doc")
    # way 1: one registry line
    monkeypatch.setitem(registry.TASKS, "reverse", module.ReverseTask)
    assert main(["tasks", "check", "reverse", "-n", "10"]) == 0, capsys.readouterr().out
    assert "split overlap: 0/10 test problems" in capsys.readouterr().out  # the guide's splits are disjoint
    # way 2: a module path in the config, no registry edit
    assert main(["tasks", "check", "reverse_task_doc:ReverseTask", "--args", '{"format_weight": 0.2}']) == 0
    task = registry.make_task("reverse_task_doc:ReverseTask")
    p = task.problem("train", 0)
    assert p.task == "reverse_task_doc:ReverseTask"
    assert task.score(f"<think>x</think> <answer>{p.answer}</answer>", p).value == 1.5
    assert task.extract_answer(f"<think>x</think> <answer> {p.answer.upper()} </answer>") == p.answer  # eval's vote
    # the guide's config: validated by the real loader, then the training stream it names, scored by the task
    from r1zero.config import load_config
    from tasks.overlap import seen_in_training

    (tmp_path / "reverse.yaml").write_text(_doc_block("yaml"))
    cfg = load_config(tmp_path / "reverse.yaml")
    mix = registry.TaskMixture({n: (s.weight, s.args) for n, s in cfg.data.tasks.items()}, cfg.data.seed)
    batch = mix.batch(0, cfg.data.prompts_per_step)
    assert len(batch) == 8 and all(mix.tasks["reverse"].score(f"<think>x</think> <answer>{q.answer}</answer>",
                                                              q).value == 1.5 for q in batch)
    test = mix.tasks["reverse"].problems("test", 20)
    assert seen_in_training(mix, test, steps=100, prompts_per_step=8) == 0
    sys.modules.pop("reverse_task_doc", None)
