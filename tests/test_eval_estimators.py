"""The evaluation estimators (r1zero.eval_metrics) against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from r1zero import eval_metrics as est
from r1zero.eval_metrics import ABSTAIN


def test_pass_at_k_hand_values():
    # n=5, c=2, k=2: 1 - C(3,2)/C(5,2) = 1 - 3/10
    assert est.pass_at_k(5, 2, 2) == pytest.approx(0.7)
    # k=1 is the fraction correct
    assert est.pass_at_k(5, 2, 1) == pytest.approx(2 / 5)
    # n=10, c=3, k=4: 1 - C(7,4)/C(10,4) = 1 - 35/210
    assert est.pass_at_k(10, 3, 4) == pytest.approx(1 - 35 / 210)
    # k=n: any correct sample
    assert est.pass_at_k(4, 1, 4) == 1.0


def test_pass_at_k_edges():
    assert est.pass_at_k(8, 0, 1) == 0.0
    assert est.pass_at_k(8, 0, 8) == 0.0
    assert est.pass_at_k(8, 8, 1) == 1.0
    assert est.pass_at_k(8, 7, 2) == 1.0  # n - c < k: every pair holds a correct one
    with pytest.raises(ValueError, match="k <= n"):
        est.pass_at_k(4, 1, 5)
    with pytest.raises(ValueError, match="0 <= c <= n"):
        est.pass_at_k(4, 5, 1)
    with pytest.raises(ValueError, match="k >= 1"):
        est.pass_at_k(4, 1, 0)


def test_pass_at_k_is_stable_for_large_n():
    # binomials of 2000 overflow floats (C(2000, 1000) ~ 1e600); the product form does not
    n, c, k = 2000, 3, 1000
    want = 1 - math.comb(n - c, k) / math.comb(n, k)  # exact integer arithmetic, then one division
    assert est.pass_at_k(n, c, k) == pytest.approx(want, rel=1e-12)


def test_mean_pass_at_k_and_best_of_n():
    assert est.mean_pass_at_k([(5, 2), (5, 0), (5, 5)], 2) == pytest.approx((0.7 + 0 + 1) / 3)
    assert est.best_of_n([0, 0, 1, 0]) == 1.0
    assert est.best_of_n([0, 0]) == 0.0
    with pytest.raises(ValueError):
        est.mean_pass_at_k([], 1)


def test_cluster_answers_groups_equivalent_math():
    from rewards.math import is_equivalent

    ids = est.cluster_answers(["1/2", "0.5", "3", None, "\\frac{1}{2}", "3.0", " "], is_equivalent)
    assert ids == [0, 0, 1, ABSTAIN, 0, 1, ABSTAIN]


def test_cluster_answers_groups_identical_prose_even_if_the_verifier_rejects_it():
    ids = est.cluster_answers(["blue car", "blue car", "red"], lambda a, b: False)
    assert ids == [0, 0, 1]


def test_majority_vote_with_equivalent_answers():
    from rewards.math import is_equivalent

    # gold 1/2: "1/2" and "0.5" are one answer with 2 votes, beating "3" (1 vote) even though "3" came first
    answers = ["3", "1/2", "0.5"]
    correct = [0.0, 1.0, 1.0]
    ids = est.cluster_answers(answers, is_equivalent)
    assert est.majority_correct(ids, correct) == 1.0
    # without grouping it would be a 3-way tie and the first answer ("3", wrong) would win
    assert est.majority_correct([0, 1, 2], correct) == 0.0


def test_majority_ties_and_abstentions():
    # 2 votes each for clusters 1 and 0: the cluster appearing first in sample order (1) wins
    assert est.majority_correct([1, 0, 0, 1], [1.0, 0.0, 0.0, 1.0]) == 1.0
    assert est.majority_correct([0, 1, 1, 0], [0.0, 1.0, 1.0, 0.0]) == 0.0
    # abstentions do not vote: one vote for the right answer beats three abstentions
    assert est.majority_correct([ABSTAIN, ABSTAIN, 0, ABSTAIN], [0, 0, 1.0, 0]) == 1.0
    assert est.majority_correct([ABSTAIN, ABSTAIN], [0.0, 0.0]) == 0.0
    # restricted to a subset
    assert est.majority_correct([0, 1, 1, 0, 0], [1, 0, 0, 1, 1], subset=[1, 2, 0]) == 0.0


def test_maj_at_k_exact_enumeration():
    # 4 samples: answers A A B C, A correct. k=2 pairs (6): AA->A, AB->A (tie, A first), AC->A, AB->A, AC->A,
    # BC->B wrong => 5/6. k=1: the fraction correct. k=4: A wins.
    ids, correct = [0, 0, 1, 2], [1.0, 1.0, 0.0, 0.0]
    assert est.maj_at_k(ids, correct, 1) == pytest.approx(0.5)
    assert est.maj_at_k(ids, correct, 2) == pytest.approx(5 / 6)
    assert est.maj_at_k(ids, correct, 4) == 1.0
    with pytest.raises(ValueError, match="k <= n"):
        est.maj_at_k(ids, correct, 5)


def test_maj_at_k_sampled_subsets_are_seeded():
    ids = [i % 3 for i in range(20)]
    correct = [1.0 if i == 0 else 0.0 for i in ids]
    a = est.maj_at_k(ids, correct, 5, seed=1, max_subsets=16)
    assert a == est.maj_at_k(ids, correct, 5, seed=1, max_subsets=16)
    exact = est.maj_at_k(ids, correct, 5, max_subsets=math.comb(20, 5))
    assert abs(est.maj_at_k(ids, correct, 5, seed=2, max_subsets=2000) - exact) < 0.05


def test_scaling_curve():
    assert est.scaling_ks(8) == [1, 2, 4, 8]
    assert est.scaling_ks(6) == [1, 2, 4, 6]
    assert est.scaling_ks(1) == [1]
    # problem 1: 2 of 4 right (the same answer); problem 2: none right
    curve = est.scaling_curve([([0, 1, 0, 2], [1, 0, 1, 0]), ([0, 0, 1, 1], [0, 0, 0, 0])], [1, 2, 4])
    assert curve["k"] == [1, 2, 4]
    # pass@2 of problem 1 = 1 - C(2,2)/C(4,2) = 5/6
    assert curve["pass_at_k"] == pytest.approx([0.25, (5 / 6) / 2, 0.5])
    assert curve["maj_at_k"][-1] == pytest.approx(0.5)  # problem 1's vote at k=4 is its answer 0, right


def test_length_stats():
    s = est.length_stats([10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
    assert s == {"mean": 55.0, "median": 55.0, "p90": 90.0, "min": 10.0, "max": 100.0}
    with pytest.raises(ValueError):
        est.length_stats([])


def test_metrics_module_needs_no_ray_or_vllm():
    import subprocess
    import sys

    code = "import sys, r1zero.eval_metrics, r1zero.evaluation; print(any(m in sys.modules for m in ('ray', 'vllm')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
