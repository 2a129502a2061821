"""Tests for rewards.math: the labelled corpus, hacking attempts, hang inputs, extraction.

Every expected value below is written by hand (or comes from the labelled corpus).
"""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rewards.base import RewardResult
from rewards.math import extract_answer, is_equivalent, score, warmup

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parent / "fixtures" / "math_equivalence_cases.jsonl"  # sources: fixtures/README.md
COMPLETION_HARNESSES = ("trl_accuracy_reward", "trl_reasoning_accuracy_reward", "openr1_accuracy_reward")

# Rows flagged `label_dubious` follow our documented policy instead of the label:
DUBIOUS_POLICY = {
    # A bare comma list is an unordered multiset (MATH: "enter all solutions, separated by
    # commas"); order matters only inside (...) / [...] tuples. hendrycks' label says False.
    "oc-0001": True,
    "oc-0008": True,
    # 3245/5 == 649 exactly; we verify mathematics, not an LLM judge's "no non-trivial
    # simplification" house rule.
    "oc-0080": True,
    # "\text{and}" and ";" separate list items, so both sides are {p=5, q=2, p=7, q=2}.
    "oc-0084": True,
    # Gold boxes joined by "and"/"or"/commas are one list (rewards.math.locate); this gold's list
    # is {1, 2, 3}, so neither `2,3` (0085) nor `2` (0086) equals it (lighteval's own
    # extraction labels 0085 True and 0086 False).
    "oc-0085": False,
    "oc-0086": False,
}


def _load_corpus() -> list[dict]:
    if not CORPUS.is_file():
        pytest.fail(f"labelled corpus missing: expected {CORPUS}")
    rows = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
    assert len(rows) == 106, f"corpus should have 106 rows, found {len(rows)}"
    return rows


def _corpus_ids() -> list[str]:
    return [r["id"] for r in _load_corpus()] if CORPUS.is_file() else ["corpus-missing"]


@pytest.fixture(scope="module")
def corpus() -> dict[str, dict]:
    return {r["id"]: r for r in _load_corpus()}


@pytest.fixture(scope="module")
def warm_child():
    warmup(wait=True)  # the sympy child's start-up is not part of any timeout


@pytest.mark.parametrize("row_id", _corpus_ids())
def test_corpus_row(corpus, row_id):
    row = corpus[row_id]
    if row["config"]["harness"] in COMPLETION_HARNESSES:
        got = score(row["pred"], row["gold"]).value == 1.0
    else:
        got = is_equivalent(row["gold"], row["pred"])
    if "label_dubious" in row:
        assert row_id in DUBIOUS_POLICY, f"new dubious row {row_id}: decide a policy"
        assert got == DUBIOUS_POLICY[row_id], row
    else:
        assert got == row["expected"], row


def test_corpus_needs_no_sympy():
    """The whole corpus is decided by the fast paths; importing rewards.math imports no sympy."""
    code = (
        "import json, sys\n"
        "from rewards.math import is_equivalent, score\n"
        "import rewards.math.sympy_client as ms\n"
        f"rows = [json.loads(l) for l in open({str(CORPUS)!r})]\n"
        "assert 'sympy' not in sys.modules\n"
        "for r in rows:\n"
        "    is_equivalent(r['gold'], r['pred']); score(r['pred'], r['gold'] or '')\n"
        "assert ms.CHILD._proc is None, 'sympy child was started'\n"
        "assert 'sympy' not in sys.modules\n"
    )
    if not CORPUS.is_file():
        pytest.fail(f"labelled corpus missing: {CORPUS}")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=60)


# ------------------------------------------------------------------------- equivalence classes

@pytest.mark.parametrize("gold,pred", [
    ("7,425,000", "7425000"), ("7425000", "7{,}425{,}000"), ("1.50", "1.5"), ("-0", "0"),
    ("\\frac{3}{4}", "0.75"), ("\\dfrac{6}{8}", "3/4"), ("2\\frac{1}{2}", "5/2"),
    ("25\\%", "25"), ("\\$12.50", "12.5"), ("30^\\circ", "30"), ("2\\sqrt{3}", "\\sqrt{12}"),
    ("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}"), ("\\sqrt[3]{27}", "3"), ("2\\pi", "\\pi \\cdot 2"),
    ("e^2", "e \\cdot e"), ("3+4i", "4i+3"), ("\\sqrt{-9}", "3i"), ("(x+1)^2", "x^2+2x+1"),
    ("\\frac{x^2-1}{x-1}", "x+1"), ("y = 3x - 2", "3x-2"), ("x = 5", "5"), ("x+y=1", "2x+2y=2"),
    ("[2, \\infty)", "x \\ge 2"), ("(-1, 3]", "-1 < x \\le 3"), ("(-\\infty, 0) \\cup (1, \\infty)", "x < 0 \\text{ or } x > 1"),
    ("\\{1, 2, 3\\}", "\\{3, 1, 2\\}"), ("1, 2, 3", "3, 2, 1"), ("(1, 2)", "\\left( 1, 2 \\right)"),
    ("\\begin{pmatrix} 1 & 0 \\\\ 0 & 1 \\end{pmatrix}", "\\begin{bmatrix}1&0\\\\0&1\\end{bmatrix}"),
    ("10", "10 \\text{ cm}^2"), ("64", "64 square feet"), ("\\text{Monday}", "monday"), ("(C)", "C"),
    ("\\pm 3", "3, -3"), ("1 \\pm \\sqrt{2}", "1-\\sqrt{2}, 1+\\sqrt{2}"), ("5", "x = \\boxed{5}"),
    ("f^{-1}(x) = \\frac{x-1}{2}", "\\frac{x-1}{2}"), ("y = 2x + 3", "f(x) = 2x + 3"), ("1000000", "10^6"),
])
def test_equivalent_pairs(gold, pred):
    assert is_equivalent(gold, pred) is True
    assert score(f"so \\boxed{{{pred}}}", gold).reason == "correct"


@pytest.mark.parametrize("gold,pred", [
    ("1/2^{99}", "1/2^{98}"), ("\\pi", "3.14"), ("\\pi", "3.1417"), ("\\frac{1}{3}", "0.33"), ("7", "6.999"),
    ("2", "\\boxed{3 = 2}"), ("5", "5.001"), ("(1, 2)", "(2, 1)"), ("[1, 2)", "[1, 2]"), ("(1, 2)", "1, 2"),
    ("\\sqrt{2}", "2^{1/3}"), ("x^2+2x+1", "y^2+2y+1"), ("x+y=1", "x-y=1"), ("25\\%", "0.25"),
    ("\\begin{pmatrix} 1 & 2 \\end{pmatrix}", "\\begin{pmatrix} 2 & 1 \\end{pmatrix}"), ("odd", "even"),
    ("E", "e"), ("3", "__import__('os').system('echo hacked')"), ("7", "7 = 8"), ("10", "10 \\text{ then 12}"),
    ("6", "\\boxed{6}^{2}"), ("x = 1", "y = 1"), ("k = 5", "x = 5"), ("y = x + 1", "x = y + 1"),
])
def test_not_equivalent_pairs(gold, pred):
    assert is_equivalent(gold, pred) is False


def test_symbolic_paths_use_sympy(warm_child):
    assert is_equivalent("\\frac{\\sqrt{3}}{2}", "\\sin(\\pi/3)") is True
    assert is_equivalent("\\sin^2 x + \\cos^2 x", "1") is True
    assert is_equivalent("\\ln 8", "3\\ln 2") is True
    assert is_equivalent("\\tan x", "\\sin x") is False
    assert is_equivalent("\\log_2 8", "4") is False


# --------------------------------------------------------------------------------- fail closed

@pytest.mark.parametrize("gold", [
    "Answer is forty two.", "forty two", "", "   ", "\\frac{1}{", "\\boxed{1}, or maybe \\boxed{2}",
    "9^{9^{9^9}}", "unparseable_latex", "x " * 3000,
])
def test_unparseable_gold_never_rewards(gold):
    for completion in (f"\\boxed{{{gold}}}", gold, "\\boxed{42}"):
        res = score(completion, gold)
        assert (res.value, res.reason) == (0.0, "unparseable_gold")
    assert is_equivalent(gold, gold) is False


def test_gold_none_and_pred_none():
    assert is_equivalent(None, "0") is False  # type: ignore[arg-type]
    assert is_equivalent("0", None) is False  # type: ignore[arg-type]
    assert score(None, "5").reason == "no_answer"  # type: ignore[arg-type]


@pytest.mark.parametrize("completion", [
    "\\boxed{1 or 2}", "\\boxed{1 \\text{ or } 2}", "\\boxed{\\pm 2}", "\\boxed{1, 2}", "\\boxed{\\{1, 2\\}}",
    "First \\boxed{2}. Actually \\boxed{3}.", "<answer>\\boxed{2} \\boxed{3}</answer>", "\\boxed{2 \\lor 3}",
])
def test_hedging_scores_zero(completion):
    res = score(completion, "2")
    assert (res.value, res.reason) == (0.0, "hedged")


def test_repeated_same_answer_is_not_hedging():
    assert score("\\boxed{\\frac{1}{2}} ... so the answer is \\boxed{0.5}", "1/2").reason == "correct"


def test_require_format():
    good = "<think>2+2=4</think><answer>4</answer>"
    assert score(good, "4", require_format=True) == RewardResult(1.0, "correct", {"accuracy": 1.0, "format": 1.0})
    only_think = "<think>the answer is \\boxed{4}</think> I am done."
    assert score(only_think, "4", require_format=True).reason == "no_answer"
    assert score(only_think, "4").reason == "no_answer"
    boxed_only = "<think>hmm</think> \\boxed{4}"
    assert score(boxed_only, "4", require_format=True).value == 0.0
    assert score(boxed_only, "4").value == 1.0
    in_think_tag = "<think><answer>4</answer></think> <answer>5</answer>"
    assert score(in_think_tag, "4", require_format=True).reason == "wrong"


# ----------------------------------------------------------------------------------- hang inputs

HANG_INPUTS = [
    "9^{9^{9^9}}",
    "\\sum_{k=1}^{10^7} k",
    "\\prod_{k=1}^{10^7} (1+\\frac{1}{k^2})",
    "100000!",
    "(" * 3000 + "1" + ")" * 3000,
    "\\frac{" * 500 + "1" + "}{2}" * 500,
    "1+" * 5000 + "1",
    "x" * 10_000,
]


@pytest.mark.parametrize("pred", HANG_INPUTS, ids=[f"hang{i}" for i in range(len(HANG_INPUTS))])
def test_hang_inputs_return_within_timeout(warm_child, pred):
    timeout = 1.0
    t0 = time.monotonic()
    res = score(f"\\boxed{{{pred}}}", "\\sqrt{2}", timeout_s=timeout)  # non-literal gold: sympy runs
    elapsed = time.monotonic() - t0
    assert elapsed < timeout + 1.5, elapsed
    assert res.value == 0.0 and res.reason in ("timeout", "wrong")


def test_sympy_timeout_kills_and_recovers(warm_child):
    t0 = time.monotonic()
    res = score("\\boxed{\\prod_{k=1}^{10^7} (1+\\frac{1}{k^2})}", "\\pi", timeout_s=0.5)
    assert time.monotonic() - t0 < 2.0
    assert res.reason == "timeout"
    # the replacement child answers the next symbolic question
    assert score("\\boxed{2\\sin(\\pi/4)}", "\\sqrt{2}", timeout_s=30).reason == "correct"


def test_big_answers_are_timeouts_not_errors():
    assert score("\\boxed{100000!}", "5").reason == "timeout"
    assert score("\\boxed{" + "1" * 10_000 + "}", "5").reason == "timeout"
    assert score("\\boxed{9^{9^{9^9}}}", "5").reason == "timeout"


def test_works_inside_threads(warm_child):
    """No signal.alarm: symbolic checks run fine outside the main thread."""
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        futs = [ex.submit(score, "\\boxed{\\sin(\\pi/4)}", "\\frac{\\sqrt{2}}{2}"),
                ex.submit(score, "\\boxed{\\tan(\\pi/3)}", "\\sqrt{3}")]
        assert [f.result(timeout=60).reason for f in futs] == ["correct", "correct"]


# ------------------------------------------------------------------------------------ extraction

@pytest.mark.parametrize("completion,expected", [
    ("<think>maybe \\boxed{1}</think><answer>42</answer>", "42"),
    ("<think>x</think>\n<answer>\n\\boxed{7}\n</answer>", "\\boxed{7}"),
    ("so \\boxed{\\frac{1}{\\sqrt{2}}} done", "\\frac{1}{\\sqrt{2}}"),
    ("\\boxed{1} then \\boxed{\\{1, \\{2\\}\\}}", "\\{1, \\{2\\}\\}"),
    ("<think>\\boxed{3}</think> final: \\boxed{4}", "4"),
    ("Reasoning </think> \\boxed{5}", "5"),
    ("The answer is $12$. I hope it is correct.", "$12$"),
    ("blah\nFinal answer: 3.5\n", "3.5"),
    ("Final Answer: The final answer is 9. I hope it is correct.", "9"),
    ("<think>\\boxed{3}</think> no answer here", None),
    ("<think>unfinished \\boxed{3}", None),
    ("", None),
    ("\\boxed{unclosed", None),
])
def test_extract_answer(completion, expected):
    assert extract_answer(completion) == expected


def test_rewards_package_imports_without_heavy_deps():
    code = "import sys, rewards.math, rewards.pool; bad = {'sympy', 'torch', 'ray', 'vllm'} & set(sys.modules); assert not bad, bad"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=60)


@pytest.mark.parametrize("gold,pred", [
    ("56088", "123 \\times 456"), ("1024", "2^{10}"), ("5", "\\sqrt{25}"), ("120", "5!"), ("2", "1+1"),
    ("10", "\\binom{5}{2}"), ("0.5", "\\sin(\\pi/6)"),
])
def test_restating_the_computation_is_not_an_answer(gold, pred):
    """Gold is a number literal: the prediction must be one too (else 'compute X' is trivially hacked)."""
    assert is_equivalent(gold, pred) is False


@pytest.mark.parametrize("gold,pred", [
    ("1500000", "1.5 \\times 10^{6}"), ("0.75", "\\frac{3}{4}"), ("918.5", "918\\frac{1}{2}"), ("-3", "(-3)"),
])
def test_number_literals_in_other_forms_still_count(gold, pred):
    assert is_equivalent(gold, pred) is True
