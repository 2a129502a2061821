"""`r1zero tasks list / check / gym-survey`, and the example in docs/adding-a-task.md."""

from __future__ import annotations

import importlib
import re
import sys
import time
from pathlib import Path

import pytest

from r1zero import task_cli
from r1zero.cli import main
from tasks import registry

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"

# Every registered task with arguments that work offline. `digits` is left out on purpose: it is a dense-reward
# sanity task with no gold answer to verify (its reward is the fraction of digit characters in the whole reply).
CHECKS = [
    ("countdown", None, 20),
    ("arithmetic", None, 20),
    ("gsm8k", f'{{"path": "{FIXTURES / "gsm8k_mini.jsonl"}"}}', 8),
    ("math", f'{{"path": "{FIXTURES / "math_mini.jsonl"}"}}', 8),
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
    (["tasks", "check", "countdown", "--args", '{"bogus": 1}'], "task 'countdown': bad arguments"),
])
def test_user_mistakes_are_one_line(argv, msg, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and "\n" not in err


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


def _doc_example() -> str:
    text = (ROOT / "docs" / "adding-a-task.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 1, "the doc has exactly one runnable python block"
    return blocks[0]


def test_doc_example_runs(tmp_path, monkeypatch, capsys):
    # our own documentation is trusted code: write it as a module and import it (model output is never run here)
    (tmp_path / "reverse_task_doc.py").write_text(_doc_example())
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("reverse_task_doc")
    # way 1: one registry line
    monkeypatch.setitem(registry.TASKS, "reverse", module.ReverseTask)
    assert main(["tasks", "check", "reverse", "-n", "10"]) == 0, capsys.readouterr().out
    # way 2: a module path in the config, no registry edit
    assert main(["tasks", "check", "reverse_task_doc:ReverseTask", "--args", '{"format_weight": 0.2}']) == 0
    task = registry.make_task("reverse_task_doc:ReverseTask")
    p = task.problem("train", 0)
    assert p.task == "reverse_task_doc:ReverseTask"
    assert task.score(f"<think>x</think> <answer>{p.answer}</answer>", p).value == 1.5
    sys.modules.pop("reverse_task_doc", None)
