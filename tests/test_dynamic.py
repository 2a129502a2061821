"""Dynamic sampling (DAPO): all-equal groups dropped, the batch refilled from further prompts, bounded; with fakes."""

from __future__ import annotations

import pytest

from r1zero.dynamic import dynamic_sample, problem_stream
from r1zero.types import Rollout, ScoredRollout

N = 2  # group size


class Fake:
    """Problems are ints; problem p's N rewards come from `rewards(p)`; records every call."""

    def __init__(self, rewards):
        self.rewards = rewards
        self.generated: list[list[int]] = []
        self.rounds: list[int] = []
        self.next = problem_stream(lambda offset: list(range(offset, offset + 4)))

    def generate(self, problems, round_):
        self.generated.append(list(problems))
        self.rounds.append(round_)
        return [Rollout(str(p), i, [1], [2, 3], "", [-1.0, -1.0], "stop", 0) for i, p in enumerate(problems)
                for _ in range(N)]

    def score(self, rollouts):
        seen: dict[str, int] = {}
        out = []
        for r in rollouts:
            k = seen[r.problem_id] = seen.get(r.problem_id, -1) + 1
            out.append(ScoredRollout(r, self.rewards(int(r.problem_id))[k], {}, "x"))
        return out

    def run(self, target=4, extra=3, **kw):
        return dynamic_sample(self.generate, self.score, self.next, group_size=N, target_groups=target,
                              max_extra_rounds=extra, **kw)


def _groups(res):
    """[(group id, problem id)] per kept group, in order."""
    out = []
    for s in res.scored:
        if not out or out[-1][0] != s.rollout.group_id:
            out.append((s.rollout.group_id, s.rollout.problem_id))
    return out


def even_informative(p):
    return [0.0, 1.0] if p % 2 == 0 else [1.0, 1.0]


def test_refills_until_the_batch_is_full():
    f = Fake(even_informative)
    res = f.run()
    # round 0: problems 0-3, two informative (0, 2); rate 1/2 -> the refill asks for 2 / (1/2) = 4 more: 4-7
    assert f.generated == [[0, 1, 2, 3], [4, 5, 6, 7]] and f.rounds == [0, 1]
    assert _groups(res) == [(0, "0"), (1, "2"), (2, "4"), (3, "6")]  # renumbered 0..G-1 across the rounds
    assert len(res.scored) == 4 * N and all(len({s.reward for s in res.scored if s.rollout.group_id == g}) == 2
                                            for g in range(4))
    assert (res.rounds, res.extra_generations, res.dropped_groups, res.surplus_groups) == (2, 4 * N, 4, 0)
    assert len(res.all_scored) == 8 * N
    assert [s.rollout.group_id for s in res.all_scored] == [g for g in range(8) for _ in range(N)]  # unique
    m = res.metrics(4)
    assert m["dynamic/filled"] == 1.0 and m["dynamic/kept_groups"] == 4.0
    assert m["dynamic/equal_reward_group_frac"] == pytest.approx(0.5)


def test_original_rollouts_are_not_mutated():
    f = Fake(even_informative)
    originals = []
    real_score = f.score
    f.score = lambda rollouts: originals.extend(real_score(rollouts)) or originals[-len(rollouts):]
    f.run()
    assert [s.rollout.group_id for s in originals[8:10]] == [0, 0]  # round 1's first group keeps its own id


def test_bound_on_extra_rounds():
    f = Fake(lambda p: [0.0, 1.0] if p == 1 else [0.0, 0.0])
    res = f.run(extra=2)
    assert res.rounds == 3 and len(f.generated) == 3  # one round + two refills, then it stops
    assert _groups(res) == [(0, "1")] and res.informative
    m = res.metrics(4)
    assert m["dynamic/filled"] == 0.0 and m["dynamic/kept_groups"] == 1.0
    assert m["dynamic/extra_generations"] == 2 * 4 * N  # no informative rate to go by after round 0: full rounds


def test_no_refill_allowed_still_drops():
    f = Fake(even_informative)
    res = f.run(extra=0)
    assert res.rounds == 1 and res.extra_generations == 0 and _groups(res) == [(0, "0"), (1, "2")]


def test_nothing_informative_keeps_the_first_round():
    f = Fake(lambda p: [1.0, 1.0])
    res = f.run(extra=1)
    assert not res.informative and res.rounds == 2
    assert _groups(res) == [(0, "0"), (1, "1"), (2, "2"), (3, "3")]  # the step keeps its shape, advantages all 0
    m = res.metrics(4)
    assert m["dynamic/kept_groups"] == 0.0 and m["dynamic/equal_reward_group_frac"] == 1.0


def test_surplus_groups_are_cut_to_the_target():
    f = Fake(lambda p: [0.0, 1.0] if p == 0 or p >= 4 else [0.0, 0.0])
    res = f.run()
    # round 0: one informative of 4; the refill asks for min(4, 3 / (1/4)) = 4 and all 4 are informative: 5 > 4
    assert _groups(res) == [(0, "0"), (1, "4"), (2, "5"), (3, "6")]
    assert res.surplus_groups == 1 and res.metrics(4)["dynamic/surplus_groups"] == 1.0


def test_reward_of_decides_what_counts_as_equal():
    f = Fake(lambda p: [1.0, 1.0])
    # e.g. the shaped rewards (soft overlong punishment) differ where the verifier's are equal
    res = f.run(extra=0, reward_of=lambda g: [s.reward + 0.1 * i for i, s in enumerate(g)])
    assert res.informative and len(_groups(res)) == 4


def test_an_exhausted_source_ends_the_refills():
    f = Fake(even_informative)
    f.next = problem_stream(lambda offset: list(range(offset, 6)) if offset < 6 else [])
    res = f.run()
    assert f.generated == [[0, 1, 2, 3], [4, 5]] and _groups(res) == [(0, "0"), (1, "2"), (2, "4")]


def test_wrong_rollout_count_is_an_error():
    f = Fake(even_informative)
    with pytest.raises(ValueError, match="rollouts"):
        dynamic_sample(lambda ps, r: f.generate(ps, r)[:-1], f.score, f.next, group_size=N, target_groups=4,
                       max_extra_rounds=1)


def test_problem_stream_hands_out_each_slot_once_in_order():
    offsets = []

    def draw(offset):
        offsets.append(offset)
        return list(range(offset, offset + 4))

    nxt = problem_stream(draw)
    assert nxt(4) == [0, 1, 2, 3] and nxt(3) == [4, 5, 6] and nxt(5) == [7, 8, 9, 10, 11]
    assert offsets == [0, 4, 8]


def test_task_mixture_offset_continues_the_step():
    from tasks.registry import TaskMixture

    mix = TaskMixture({"arithmetic": (1.0, {"digits": 1, "terms": 2})}, seed=0)
    base = mix.batch(3, 4)
    assert [p.id for p in base] == [f"arithmetic/train/{i}" for i in range(12, 16)]  # unchanged by the offset
    assert [p.id for p in mix.batch(3, 4, offset=0)] == [p.id for p in base]
    more = mix.batch(3, 4, offset=4)
    assert [p.id for p in more] == [f"arithmetic/train/{i}" for i in range(16, 20)]
    assert [p.prompt for p in more] == [p.prompt for p in mix.batch(3, 4, offset=4)]  # deterministic
