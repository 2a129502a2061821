"""Evaluation estimators: pass@k, majority voting (maj@k), best-of-n, test-time scaling curves, length statistics.

Pure functions on plain Python lists: no config objects, no Ray, no vLLM, no torch. The caller extracts answers and
judges samples; these functions only count. Shapes below: n = samples of one problem, P = problems.
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from typing import Callable, Sequence

ABSTAIN = -1  # cluster id of a sample with no extractable answer: it does not vote


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c are correct (Chen et al. 2021, "Evaluating Large Language Models
    Trained on Code", eq. 1): 1 - C(n-c, k) / C(n, k), the probability that k samples drawn without replacement
    from the n contain at least one correct one.

    Computed as the product 1 - prod_{i=n-c+1}^{n} (1 - k/i) (the paper's numerically stable form): binomials of
    n ~ 1000 overflow floats, the product never does.
    """
    if not (isinstance(n, int) and isinstance(c, int) and isinstance(k, int)):
        raise TypeError(f"pass_at_k needs integers, got n={n!r}, c={c!r}, k={k!r}")
    if n < 1 or k < 1:
        raise ValueError(f"pass@k needs n >= 1 and k >= 1, got n={n}, k={k}")
    if k > n:
        raise ValueError(f"pass@k needs k <= n: k={k} but only n={n} samples")
    if not 0 <= c <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n, got c={c}, n={n}")
    if n - c < k:  # every k-subset holds a correct sample
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def mean_pass_at_k(counts: Sequence[tuple[int, int]], k: int) -> float:
    """Mean over problems of pass_at_k; counts: [P] (n, c) per problem."""
    if not counts:
        raise ValueError("pass@k over zero problems")
    return statistics.fmean(pass_at_k(n, c, k) for n, c in counts)


def best_of_n(correct: Sequence[float]) -> float:
    """Oracle best-of-n for one problem: 1.0 if the verifier accepts any of the n samples (= pass@n), else 0.0.
    correct: [n] 0/1 verdicts."""
    if not correct:
        raise ValueError("best-of-n over zero samples")
    return 1.0 if any(c > 0 for c in correct) else 0.0


def cluster_answers(answers: Sequence[str | None], equivalent: Callable[[str, str], bool]) -> list[int]:
    """Group a problem's extracted answers into clusters of equivalent answers, for majority voting.

    answers: [n] extracted answer per sample, None where nothing could be extracted.
    equivalent(representative, other) -> bool decides whether two answers are the same (e.g. the math verifier,
    which puts "1/2" and "0.5" together). Greedy: each answer joins the first earlier cluster whose representative
    (its first member) it is equivalent to, or starts a new one; identical strings always cluster, so a verifier
    that rejects non-math text (prose answers) still groups exact repeats.
    Returns [n] cluster ids, numbered in order of first appearance (0, 1, ...), ABSTAIN (-1) for None.
    """
    reps: list[str] = []
    ids = []
    for a in answers:
        if a is None or not a.strip():
            ids.append(ABSTAIN)
            continue
        key = a.strip()
        for j, rep in enumerate(reps):
            if key == rep or equivalent(rep, key):
                ids.append(j)
                break
        else:
            reps.append(key)
            ids.append(len(reps) - 1)
    return ids


def majority_correct(cluster_ids: Sequence[int], correct: Sequence[float], subset: Sequence[int] | None = None) -> float:
    """Correctness of the majority-vote answer among the samples `subset` (default: all) of one problem.

    cluster_ids: [n] from cluster_answers; correct: [n] per-sample verdicts in [0, 1]; subset: indices into both.
    The winning cluster has the most votes; a tie goes to the cluster that appears first in sample order (a fixed,
    seed-free rule, so the same samples always give the same vote). Its correctness is the mean verdict of its
    members in the subset (the members are equivalent answers, so for a 0/1 verifier they normally agree).
    All samples abstaining counts as wrong (0.0): voting needs an answer.
    """
    if len(cluster_ids) != len(correct):
        raise ValueError(f"cluster_ids has {len(cluster_ids)} entries but correct has {len(correct)}")
    idx = sorted(subset) if subset is not None else range(len(cluster_ids))
    votes: dict[int, list[int]] = {}
    for i in idx:
        if cluster_ids[i] != ABSTAIN:
            votes.setdefault(cluster_ids[i], []).append(i)
    if not votes:
        return 0.0
    # dicts keep insertion order = first appearance in sample order; max() keeps the first of equal maxima
    winner = max(votes.values(), key=len)
    return statistics.fmean(correct[i] for i in winner)


def maj_at_k(cluster_ids: Sequence[int], correct: Sequence[float], k: int, *, seed: object = 0,
             max_subsets: int = 64) -> float:
    """maj@k of one problem from n >= k samples: the expected majority-vote correctness of k samples.

    Estimated by averaging majority_correct over size-k subsets of the n samples: all C(n, k) of them when that is
    at most max_subsets (exact), else max_subsets subsets drawn uniformly with random.Random(str(seed)).
    cluster_ids, correct: [n]. Raises ValueError when k > n.
    """
    n = len(cluster_ids)
    if k < 1 or k > n:
        raise ValueError(f"maj@k needs 1 <= k <= n: k={k}, n={n} samples")
    if max_subsets < 1:
        raise ValueError(f"max_subsets must be >= 1, got {max_subsets}")
    if math.comb(n, k) <= max_subsets:
        subsets: Sequence[Sequence[int]] = list(itertools.combinations(range(n), k))
    else:
        rng = random.Random(str(seed))
        subsets = [rng.sample(range(n), k) for _ in range(max_subsets)]
    return statistics.fmean(majority_correct(cluster_ids, correct, s) for s in subsets)


def scaling_ks(n: int) -> list[int]:
    """k values of a test-time scaling curve: 1, 2, 4, ... up to n, and n itself."""
    if n < 1:
        raise ValueError(f"a scaling curve needs n >= 1 samples, got {n}")
    ks = [1 << i for i in range(n.bit_length()) if 1 << i <= n]
    return ks if ks[-1] == n else [*ks, n]


def scaling_curve(problems: Sequence[tuple[Sequence[int], Sequence[float]]], ks: Sequence[int], *, seed: int = 0,
                  max_subsets: int = 64) -> dict[str, list[float]]:
    """pass@k and maj@k against k, averaged over problems (the test-time compute curve).

    problems: [P] (cluster_ids [n], correct [n]) per problem, every problem with at least max(ks) samples;
    a sample counts as correct for pass@k when its verdict is > 0.5. maj@k's subsets are seeded per
    (seed, problem index, k). Returns {"k": ks, "pass_at_k": [len(ks)], "maj_at_k": [len(ks)]}.
    """
    if not problems:
        raise ValueError("a scaling curve over zero problems")
    counts = [(len(c), sum(1 for v in c if v > 0.5)) for _, c in problems]
    return {
        "k": list(ks),
        "pass_at_k": [mean_pass_at_k(counts, k) for k in ks],
        "maj_at_k": [statistics.fmean(maj_at_k(ids, c, k, seed=(seed, p, k), max_subsets=max_subsets)
                                      for p, (ids, c) in enumerate(problems)) for k in ks],
    }


def length_stats(lengths: Sequence[int]) -> dict[str, float]:
    """Response length summary in tokens: lengths [N] -> mean, median, p90 (nearest rank), min, max."""
    if not lengths:
        raise ValueError("length statistics over zero responses")
    s = sorted(lengths)
    p90 = s[min(len(s) - 1, math.ceil(0.9 * len(s)) - 1)]
    return {"mean": statistics.fmean(s), "median": float(statistics.median(s)), "p90": float(p90),
            "min": float(s[0]), "max": float(s[-1])}
