"""Issue 12, second round: one test per answer-form group fixed in this round (hand-written cases,
none copied from tests/fixtures). Each group has positives and the fail-closed probes next to it."""

from __future__ import annotations

import pytest

from rewards.math import extract_answer, is_equivalent, score, verdict
from rewards.math.compare import Verdict

# ------------------------------------------------- revised answer: a marker after the last box

@pytest.mark.parametrize("completion,gold,reason", [
    ("Step one gives \\boxed{40}; step two \\boxed{2}. Final answer: 42.", "42", "correct"),
    ("So \\boxed{12}. The final answer is $1{,}200$. I hope it is correct.", "1200", "correct"),
    ("\\boxed{12}. The final answer is 12 or 13.", "12", "hedged"),  # a hedge after the box
    ("\\boxed{12}. The final answer is 13? No.", "13", "wrong"),  # a question states no answer
    ("\\boxed{7}. Final answer: see above.", "7", "correct"),  # no answer after the marker: the box
])
def test_answer_stated_after_the_boxes(completion, gold, reason):
    assert score(completion, gold).reason == reason


@pytest.mark.parametrize("text,gold,want", [
    ("The final answer is $7$. Steps used 3 and 4.", "7", True),  # its first sentence, not the last number
    ("The final answer is $7$. Steps used 3 and 4.", "4", False),
    ('Final Answer: The final answer is "$5$ and $8$". I hope it is correct.', "5, 8", True),
])
def test_first_sentence_after_the_marker(text, gold, want):
    assert is_equivalent(gold, text) is want


# ------------------------------------------------- several boxes separated by a short phrase

@pytest.mark.parametrize("completion,gold,reason", [
    ("\\boxed{4} for the width and \\boxed{9} for the length", "4, 9", "correct"),
    ("$a = \\boxed{1}$ \\quad and \\quad $b = \\boxed{-5}$", "a=1, b=-5", "correct"),
    ("\\boxed{4} for the width and \\boxed{9} for the length", "9", "hedged"),  # a list is no single answer
    ("\\boxed{4}, but actually \\boxed{9}", "4, 9", "hedged"),  # change of mind: never a list
    ("\\boxed{4}? Hmm, \\boxed{9}", "9", "hedged"),
    ("\\boxed{4} so \\boxed{9}", "4, 9", "hedged"),  # a consequence, not a second answer
])
def test_boxes_separated_by_a_phrase(completion, gold, reason):
    assert score(completion, gold).reason == reason


@pytest.mark.parametrize("gold,pred,want", [
    ("\\boxed{3} or \\boxed{-3}", "\\pm 3", True),  # a gold's "or" lists its solutions
    ("\\boxed{6} cats and \\boxed{4} dogs", "6, 4", True),
    ("\\boxed{6} cats and \\boxed{4} dogs", "6", False),
])
def test_gold_boxes_joined_into_a_list(gold, pred, want):
    assert is_equivalent(gold, pred) is want


def test_gold_boxes_with_a_hedge_between_stay_a_data_error():
    assert verdict("\\boxed{3}, or maybe \\boxed{4}", "3") is Verdict.BAD_GOLD


# ------------------------------------------------- math blocks joined; prose inside a math block

@pytest.mark.parametrize("gold,pred,want", [
    ("$4$ and $-1$", "-1, 4", True), ("$4$, $-1$", "4, -1", True), ("$4,5$ or $6$", "4, 5, 6", True),
    ("4", "$4$ or $5$", False),  # a prediction's "or" between blocks stays a hedge
    ("4, 5", "$4$ or $5$", False),
    ("7", "we get $ which is 7 $", True),
])
def test_math_blocks_joined_and_prose_inside_math(gold, pred, want):
    assert is_equivalent(gold, pred) is want


# ------------------------------------------------- relation chains between expressions

@pytest.mark.parametrize("gold,pred,want", [
    ("g(0) < g(3) < g(1)", "g(0) < g(3) < g(1)", True),
    ("g(0) < g(3) < g(1)", "g(1) > g(3) > g(0)", True),  # the mirrored chain
    ("g(0) < g(3) < g(1)", "g(3) < g(0) < g(1)", False),
    ("g(0) < g(3) < g(1)", "g(0) \\le g(3) < g(1)", False),
    ("a+b < c", "c > b+a", True),
    ("g(0) < g(3) < g(1)", "g(0)", False),
])
def test_relation_chains(gold, pred, want):
    assert is_equivalent(gold, pred) is want


def test_mixed_direction_chain_is_malformed():
    assert verdict("a < b > c", "a < b > c") is Verdict.BAD_GOLD


# ------------------------------------------------- |x| bounds against intervals and unions

@pytest.mark.parametrize("gold,pred,want", [
    ("|t| < 4", "-4 < t < 4", True), ("|t| \\le 4", "[-4, 4]", True), ("|t| < 4", "[-4, 4]", False),
    ("|t| > 4", "t \\in (-\\infty, -4) \\cup (4, \\infty)", True),
    ("|t| \\ge 4", "(-\\infty, -4) \\cup (4, \\infty)", False),
    ("2 \\le |t| < 5", "(-5, -2] \\cup [2, 5)", True),
    ("\\frac{1}{2} < \\lvert t \\rvert \\le 3", "[-3, -\\frac{1}{2}) \\cup (\\frac{1}{2}, 3]", True),
    ("2 \\le |t| \\le 5", "[2, 5]", False),  # |t| is not t: the negative half is missing
    ("0 \\le |t| < 5", "(-5, 5)", True),
])
def test_absolute_value_bounds(gold, pred, want):
    assert is_equivalent(gold, pred) is want


def test_absolute_value_with_unknown_bound_sign_is_not_guessed():
    assert verdict("|t| < a", "-a < t < a") is Verdict.BAD_GOLD


# ------------------------------------------------- the same item written twice in a list

@pytest.mark.parametrize("gold,pred,want", [
    ("(1,2), (3,4)", "(3, 4), (1,2), (1, 2)", True), ("5, 7", "7, 5, 7", True),
    ("5", "5, 5", False),  # a list is still no single answer
    ("5, 5, 7", "5, 7, 7", False), ("5, 7", "5, 7, 9", False),
])
def test_duplicate_items_in_a_predicted_list(gold, pred, want):
    assert is_equivalent(gold, pred) is want


# ------------------------------------------------- number formats: a spaced-out {,} separator

@pytest.mark.parametrize("gold,pred,want", [
    ("20500", "20 {, }500", True), ("20500", "20{ ,}500", True), ("20.5", "20 {, }5", False),
])
def test_spaced_group_separator(gold, pred, want):
    assert is_equivalent(gold, pred) is want


def test_extract_answer_follows_the_revision():
    assert extract_answer("\\boxed{3} was wrong. The final answer is 4.") == "4"
