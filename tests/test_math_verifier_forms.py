"""Second-round answer forms of rewards.math: one test per group of issue 12, and the labelled
forms corpus (tests/fixtures/math_forms_cases.jsonl; sources in tests/fixtures/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rewards.math import extract_answer, is_equivalent, score

CORPUS = Path(__file__).resolve().parent / "fixtures" / "math_forms_cases.jsonl"
SCORE_HARNESSES = ("r1zero_score",)


def _rows() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]


def _judge(row: dict) -> bool:
    if row["config"]["harness"] in SCORE_HARNESSES:
        return score(row["pred"], row["gold"]).value == 1.0
    return is_equivalent(row["gold"], row["pred"])


def _want(row: dict) -> bool:
    return row["policy"] if "label_dubious" in row else row["expected"]


def test_corpus_shape():
    rows = _rows()
    assert len(rows) >= 300
    assert {r["split"] for r in rows} == {"tune", "heldout", "adversarial"}
    assert all(r["source"] and r["group"] for r in rows)
    assert all("policy" in r for r in rows if "label_dubious" in r)


@pytest.mark.parametrize("row", [r for r in _rows() if r["split"] == "adversarial"], ids=lambda r: r["id"])
def test_adversarial_rows(row):
    assert _judge(row) == row["expected"], row


def test_tune_split_agreement_and_no_false_positive():
    rows = [r for r in _rows() if r["split"] == "tune"]
    got = [_judge(r) for r in rows]
    false_pos = [r["id"] for r, g in zip(rows, got) if g and not _want(r)]
    assert false_pos == []
    agree = sum(g == _want(r) for r, g in zip(rows, got))
    assert agree >= 188, f"{agree}/{len(rows)}"  # measured 190/191 (2026-12-01, round 2); a floor against regressions


def test_heldout_split_floor():
    """Not tuned on (tests/fixtures/README.md): only a regression floor on the raw labels."""
    rows = [r for r in _rows() if r["split"] == "heldout"]
    agree = sum(_judge(r) == r["expected"] for r in rows)
    assert agree >= 69, f"{agree}/{len(rows)}"  # measured 66/74 (round 2), 71/74 (round 3, 2026-12-01)


# ------------------------------------------------------------------------------------------ groups

@pytest.mark.parametrize("gold,pred", [
    ("$9$", "Answer \\[ 9 \\]"), ("$9$", "Answer $$ \n 9 \n $$"), ("9", "The result: \\( 9 \\)."),
    ("$2-2p$", "Thus $x-p=\\boxed{2-2p}$."), ("1000.99", "so the number is 10 which is 1,000.99m²"),
    ("34", "Final Answer: The largest $n$ is 34."),
])
def test_answers_inside_prose_and_delimiters(gold, pred):
    assert is_equivalent(gold, pred) is True
    assert score(pred, gold).value == 1.0


@pytest.mark.parametrize("gold,pred,want", [
    ("1000.99", "1000,99", True), ("0,111", "0.111", True), ("2.74", "Soucis : 2,74 $ a..", True),
    ("7425000", "7\\,425\\,000", True), ("32349", "32,\\!349", True), ("1000", "1 000", True),
    ("1000.99", "1,000.99€", True), ("3, 5", "3.5", False), ("3.5", "3,5", False),
    ("28\\%", "28 percent", True), ("28\\%", "28 pct", True), ("10\\%", "0.1", False),  # policy: 10% is 10
])
def test_number_formats(gold, pred, want):
    assert is_equivalent(gold, pred) is want


@pytest.mark.parametrize("gold,pred,want", [
    # rounding policy (rewards.math.compare): a decimal of >= 4 significant digits that is the rounding or
    # truncation of the exact value at its own last place
    ("4.123105625617661", "\\sqrt{17}", True), ("\\sqrt{17}", "4.1231", True), ("\\frac{8}{3}", "2.6667", True),
    ("\\frac{8}{3}", "2.6666", True), ("\\frac{8}{3}", "2.6668", False), ("-\\frac{2}{3}", "-0.6667", True),
    ("\\pi", "3.142", True), ("\\pi", "3.14", False), ("\\frac{1}{3}", "0.33", False), ("\\frac{1}{8}", "0.1250", True),
    ("\\frac{1}{8}", "0.1251", False), ("7", "6.9999", False), ("0.3333", "0.33333", True), ("0.3333", "0.33343", False),
    ("0.33", "0.333", False), ("3.1416", "3.14159", True),  # two decimals: the coarser (>= 4 digits) rounds the finer
    ("2.314814814815 \\times 10^{-3}", "\\frac{1}{432}", True), ("1.2 \\times 10^{5}", "120000", True),
    ("(\\frac{3}{5},\\frac{8}{3}]", "(0.6,2.6667]", True), ("11", "x \\approx 11.00", True),
    ("\\frac{1}{3}", "\\frac{1}{3} \\approx 0.333", True), ("x^2+1", "2.000", False),
])
def test_rounded_decimals(gold, pred, want):
    assert is_equivalent(gold, pred) is want


@pytest.mark.parametrize("gold,pred,want", [
    # \pm is both values: equal to the two-item list, a hedge against one of them (fails closed)
    ("x = \\frac{1}{2}, x = \\frac{-1 \\pm \\sqrt{13}}{4}",
     "x = \\frac{-1 - \\sqrt{13}}{4}, x = \\frac{1}{2}, x = \\frac{-1 + \\sqrt{13}}{4}", True),
    ("x = 2 \\pm \\sqrt{3}", "x = 2 + \\sqrt{3} \\text{ or } x = 2 - \\sqrt{3}", True),
    ("2 + \\sqrt{3}", "x = 2 \\pm \\sqrt{3}", False), ("3", "\\pm 3", False),
    # an "or" glued to brackets joins like a spaced one; `;` separates coordinates where no comma does
    ("(11,7)or(7,11)", "(7,11),\\ (11,7)", True), ("(1,2)", "(2,1)or(1,2)", False),
    ("(0;-2;6),(4;0;0)", "(4, 0, 0), (0, -2, 6)", True), ("(0;-2;6)", "(0, 2, 6)", False),
])
def test_plus_minus_or_and_semicolon_tuples(gold, pred, want):
    assert is_equivalent(gold, pred) is want


@pytest.mark.parametrize("gold,pred,want", [
    ("x \\geq 5", "x >= 5", True), ("x < 3", "x \\lt 3", True), ("x \\neq 5", "x != 5", True),
    ("x \\le 5", "5 \\ge x", True), ("x < 1", "-x > -1", True), ("x \\le 1", "-x \\ge -1", True),
    ("x = 11", "x = 5+5+1 = 11", True), ("11", "x = 5+5+1 = 11", True), ("x < 1", "-x < -1", False),
    ("2", "x = 3 = 2", False), ("2", "3 = 2", False), ("x \\neq 5", "x \\neq 4", False),
    ("(p,q)=(3,2)", "(3,2)", True), ("AB=4,CD=5", "4, 5", True),
])
def test_relations(gold, pred, want):
    assert is_equivalent(gold, pred) is want


@pytest.mark.parametrize("gold,pred,want", [
    ("\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}", "\\left[\\begin{array}{cc}1 & 2 \\\\3 & 4\\end{array}\\right]", True),
    ("\\begin{pmatrix}\\frac{1}{2} & 0\\end{pmatrix}", "\\begin{bmatrix}0.5 & 0\\end{bmatrix}", True),
    ("\\begin{pmatrix}1 & 2\\end{pmatrix}", "Matrix: $\\begin{pmatrix}1 & 2\\end{pmatrix}$", True),
    # a literal gold matrix: restating the computation is not an answer (as for scalars)
    ("\\begin{pmatrix}6 & 8\\end{pmatrix}", "\\begin{pmatrix}1 & 2\\end{pmatrix} + \\begin{pmatrix}5 & 6\\end{pmatrix}", False),
])
def test_matrices(gold, pred, want):
    assert is_equivalent(gold, pred) is want


@pytest.mark.parametrize("gold,pred", [
    ("1/3", "\\cfrac{1}{3}"), ("1/3", "\\dfrac{1}{3}"), ("1/3", "\\tfrac13"), ("15", "15 \\textnormal{ km}"),
    ("15", "\\boxed{15\\text{ miles}}"), ("\\frac{1}{2}", "\\frac{1}{\\!2}"), ("\\text{E}", "E"),
])
def test_latex_variants(gold, pred):
    assert is_equivalent(gold, pred) is True


@pytest.mark.parametrize("completion,reason", [
    ("First I thought \\boxed{3}. Final answer: \\boxed{2}", "correct"),
    ("\\boxed{3}... wait, that is wrong. The answer is \\boxed{2}.", "correct"),
    ("\\boxed{3} or \\boxed{2}", "hedged"), ("Final answer: \\boxed{3} or \\boxed{2}", "hedged"),
    ("First \\boxed{2}. Actually \\boxed{3}.", "hedged"), ("It could be 3 or 2.", "hedged"),
    ("\\boxed{2}, \\boxed{3}", "hedged"),
])
def test_several_boxes_and_revisions(completion, reason):
    assert score(completion, "2").reason == reason


def test_several_boxes_joined_are_one_list_answer():
    assert score("the roots are \\boxed{-2} \\quad \\text{and} \\quad \\boxed{1}.", "1, -2").reason == "correct"
    assert score("\\boxed{1} and \\boxed{2}", "1").reason == "hedged"


@pytest.mark.parametrize("gold,pred,want", [
    ("12:00", "13:00", False), ("$12:00$", "$1:00$", False), ("12:00", "12:00", True), ("7:32", "32:7", False),
    ("S_{MBCN}:S=7:32", "\\boxed{7:32}", True), ("3:4", "0.75", False),
])
def test_ratios_and_times(gold, pred, want):
    assert is_equivalent(gold, pred) is want


@pytest.mark.parametrize("gold,pred,want", [
    # policy: an interval and the inequality describing it are equal, in both directions
    ("x \\in [-2,7]", "-2 \\le x \\le 7", True), ("-2 \\le x \\le 7", "x \\in [-2,7]", True),
    ("[-2, 7]", "-2 \\le x \\le 7", True), ("x \\in [-2,7]", "-2 < x \\le 7", False),
    ("(0, 1)", "0 < f(x) < 1", True),
])
def test_sets_vs_inequalities(gold, pred, want):
    assert is_equivalent(gold, pred) is want


@pytest.mark.parametrize("completion", [
    "<think>the answer is 4</think> I am done.", "<think>so 4", "<think>\\boxed{4}</think>",
])
def test_prose_fallback_never_reads_inside_think(completion):
    assert score(completion, "4").value == 0.0
    assert extract_answer(completion) is None
