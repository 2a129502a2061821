"""`r1zero verify-audit` (r1zero/verify_cli.py) and rewards.math.audit.rewrite_forms."""

from __future__ import annotations

import argparse

import pytest

from r1zero import verify_cli
from rewards.math import is_equivalent
from rewards.math.audit import rewrite_forms

MATH_ARGS = '{"path": "tests/fixtures/math_mini.jsonl", "test_path": "tests/fixtures/math_mini.jsonl"}'


@pytest.mark.parametrize("gold", ["\\frac{3}{4}", "0.25", "\\{1, 2, 3\\}", "1, 2", "12500", "x \\le 3", "\\frac{x+1}{2}"])
def test_rewritten_forms_are_equivalent(gold):
    forms = rewrite_forms(gold)
    assert forms and gold not in forms
    assert all(is_equivalent(gold, f) for f in forms), [f for f in forms if not is_equivalent(gold, f)]


def test_rewrite_forms_covers_the_listed_kinds():
    assert {"3/4", "0.75", "$\\frac{3}{4}$", "\\boxed{\\frac{3}{4}}"} <= set(rewrite_forms("\\frac{3}{4}"))
    assert "\\{3, 2, 1\\}" in rewrite_forms("\\{1, 2, 3\\}")
    assert "(1, 2)" not in rewrite_forms("(2, 1)")  # tuples are ordered: never reordered


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="r1zero")
    verify_cli.add_parser(p.add_subparsers(dest="cmd", required=True))
    return p


def test_audit_math_task_reports_rate(capsys):
    args = _parser().parse_args(["verify-audit", "math", "--args", MATH_ARGS, "-n", "8"])
    rc = args.fn(args)
    out = capsys.readouterr().out
    assert "false-negative rate 0.0%" in out and rc == 0, out


@pytest.mark.parametrize("argv,needle", [
    (["verify-audit", "nosuchtask"], "unknown task"),
    (["verify-audit", "math", "--args", "[1"], "--args is not JSON"),
    (["verify-audit", "math", "--args", "[1]"], "must be a JSON object"),
    (["verify-audit", "math", "--args", MATH_ARGS, "-n", "0"], "-n must be"),
])
def test_user_mistakes_exit_2_with_one_line(capsys, argv, needle):
    args = _parser().parse_args(argv)
    assert args.fn(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("r1zero: error: ") and needle in err[0], err
