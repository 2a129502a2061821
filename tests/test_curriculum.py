"""The online curriculum (r1zero.curriculum) and the control arms (r1zero.algo.controls): pure parts, no Ray."""

from __future__ import annotations

import random
from collections import Counter

import pytest
import torch

from r1zero.algo.controls import CONTROLS
from r1zero.curriculum import Curriculum, family_weights, weighted_sample
from r1zero.types import Rollout, ScoredRollout
from tasks.registry import TaskMixture

SPEC = {"arithmetic": (1.0, {"family": "chain_sum", "digits": 1, "terms": 2})}


def _scored(problem, accuracy: float) -> ScoredRollout:
    r = Rollout(problem_id=problem.id, group_id=0, prompt_ids=[1], completion_ids=[2], text="", logprobs=[-0.1],
                finish_reason="stop", policy_version=0)
    return ScoredRollout(r, accuracy, {"accuracy": accuracy}, "correct" if accuracy else "wrong", problem.task)


def test_family_weights_by_hand():
    stats = {"a": (3.0, 4), "b": (0.0, 2)}  # pass rates 0.75 and 0
    assert family_weights(stats, ["a", "b", "c"], floor=0.1) == pytest.approx([0.35, 1.1, 1.1])  # c unseen: rate 0


def test_weighted_sample_is_distinct_ordered_and_follows_weights():
    rng = random.Random(0)
    picks = Counter()
    for _ in range(2000):
        idx = weighted_sample([1.0, 1.0, 8.0, 0.0], 2, rng)
        assert idx == sorted(set(idx)) and len(idx) == 2 and 3 not in idx  # weight 0 never drawn while others remain
        picks.update(idx)
    assert picks[2] > 1900 and abs(picks[0] - picks[1]) < 200  # the heavy one nearly always, the equal ones equally


def test_curriculum_draws_the_failed_family_more_often_and_resumes_exactly():
    base = TaskMixture(SPEC, seed=0)
    cur = Curriculum(base, pool=4, window=3, floor=0.1, lag=0)
    # step 0 has no history: every family weighs the same, so the draw is the pool's plain mix
    share0 = Counter(cur.family(p) for s in range(30) for p in Curriculum(base, pool=4, window=3, floor=0.1,
                                                                          lag=0).batch(s, 8))
    # the policy solves everything but the negative results
    for step in range(3):
        probs = cur.batch(step, 8)
        cur.record(step, [(_scored(p, 0.0 if p.answer.startswith("-") else 1.0), p) for p in probs])
    neg = sum(cur.family(p).endswith("/neg") for s in range(3, 33) for p in cur.batch(3, 8))
    plain_neg = share0["arithmetic:-/neg"] / sum(share0.values())
    assert neg / (30 * 8) > 2 * plain_neg  # drawn more than twice as often as the plain stream draws them
    # the draw is a function of (seed, step, history): a curriculum restored from state() draws the same problems
    twin = Curriculum(base, pool=4, window=3, floor=0.1, lag=0)
    twin.load_state(cur.state())
    assert [p.id for p in twin.batch(3, 8)] == [p.id for p in cur.batch(3, 8)]
    # the test split is never reweighted
    assert [p.id for p in cur.batch(0, 8, split="test")] == [p.id for p in base.batch(0, 8, split="test")]


def test_curriculum_lag_hides_steps_not_yet_scored():
    base = TaskMixture(SPEC, seed=0)
    cur = Curriculum(base, pool=4, window=5, floor=0.1, lag=1)
    probs = cur.batch(0, 8)
    metrics = cur.record(0, [(_scored(p, 0.0), p) for p in probs])
    assert cur._stats(1) == {}  # with the async pipeline step 1 is drawn before step 0 is scored
    assert cur._stats(2) and all(0.0 <= v <= 1.0 for k, v in metrics.items() if k.startswith("curriculum/pass/"))
    assert sum(v for k, v in metrics.items() if k.startswith("curriculum/share/")) == pytest.approx(1.0)


def test_control_arms_by_hand():
    rewards = torch.tensor([1.5, 0.5, 1.0, 0.0])
    acc = torch.tensor([1.0, 0.0, 1.0, 0.0])
    g = torch.Generator().manual_seed(0)
    assert torch.equal(CONTROLS["none"](rewards, acc, g), rewards)
    assert torch.equal(CONTROLS["format_only"](rewards, acc, g), torch.tensor([0.5, 0.5, 0.0, 0.0]))
    coins = CONTROLS["random"](torch.zeros(4000), torch.ones(4000), torch.Generator().manual_seed(1))
    assert set(coins.tolist()) == {0.0, 1.0} and 0.45 < coins.mean().item() < 0.55
    # independent of the completion: the same coins whatever the rewards and accuracies were
    again = CONTROLS["random"](torch.ones(4000), torch.zeros(4000), torch.Generator().manual_seed(1))
    assert torch.equal(coins, again)
