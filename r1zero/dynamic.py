"""Dynamic sampling (DAPO, Yu et al. 2025, sec. 3.2): every optimizer step sees a full batch of informative groups.

A group whose rewards are all equal has advantage 0 for every member under any group baseline: it carries no policy
gradient, yet it still dilutes a token-mean loss. Once a policy solves most problems (or none), most groups are like
that and learning stalls. DAPO drops them and samples further prompts until the batch is full again; here the refill is
bounded (algo.max_sampling_rounds) so a step's cost stays bounded too, and the counts go into the step's metrics.

Pure control flow over callables (no Ray, no vLLM): the controller passes its generate / score / problem source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

from r1zero.types import ScoredRollout


@dataclass
class DynamicBatch:
    """What dynamic_sample kept, and what it cost."""

    scored: list[ScoredRollout]  # the kept groups' rollouts, group ids renumbered 0..G-1 in the order found
    all_scored: list[ScoredRollout]  # every rollout scored this step, all rounds, group ids unique across rounds
    # (round 0 keeps 0..P-1): the honest on-policy sample for rollout metrics
    rounds: int  # generation rounds run (1: no refill was needed or allowed)
    extra_generations: int  # completions generated after the first round
    dropped_groups: int  # groups dropped because their rewards were all equal (every round)
    surplus_groups: int  # informative groups found beyond the target (generated, not trained on)
    groups_seen: int  # groups generated this step, all rounds
    informative: bool  # False: no round found an informative group; `scored` is then the first round's groups

    @property
    def kept_groups(self) -> int:
        return len({s.rollout.group_id for s in self.scored})

    def metrics(self, target_groups: int) -> dict[str, float]:
        """The step's dynamic-sampling metrics. dynamic/equal_reward_group_frac is over every group generated, before
        the filter (the kept batch has none by construction): r1zero.metrics.alarm_metrics prefers it."""
        return {
            "dynamic/rounds": float(self.rounds),
            "dynamic/extra_generations": float(self.extra_generations),
            "dynamic/dropped_groups": float(self.dropped_groups),
            "dynamic/surplus_groups": float(self.surplus_groups),
            "dynamic/kept_groups": float(self.kept_groups if self.informative else 0),
            "dynamic/filled": float(self.informative and self.kept_groups >= target_groups),
            "dynamic/equal_reward_group_frac": self.dropped_groups / max(self.groups_seen, 1),
        }


def _groups(scored: Sequence[ScoredRollout]) -> list[list[ScoredRollout]]:
    """Rollouts grouped by group id, groups in order of first appearance."""
    by_id: dict[int, list[ScoredRollout]] = {}
    for s in scored:
        by_id.setdefault(s.rollout.group_id, []).append(s)
    return list(by_id.values())


def _renumber(groups: list[list[ScoredRollout]], start: int = 0) -> list[ScoredRollout]:
    """Copies with group ids start, start + 1, ... (ids from different rounds collide: each round numbers its own
    prompts from 0)."""
    return [replace(s, rollout=replace(s.rollout, group_id=start + i)) for i, g in enumerate(groups) for s in g]


def _refill_size(missing: int, informative: int, seen: int, cap: int) -> int:
    """Prompts for the next round: enough to fill the batch at the informative rate seen so far, at least the
    groups missing, at most `cap` (with no informative group yet, the rate is unknown: `cap`)."""
    if informative == 0:
        return cap
    return min(cap, max(missing, math.ceil(missing * seen / informative)))


def _informative(group: list[ScoredRollout], reward_of: Callable[[list[ScoredRollout]], Sequence[float]]) -> bool:
    return len(set(reward_of(group))) > 1


def dynamic_sample(
    generate: Callable[[list[Any], int], list[Any]],
    score: Callable[[list[Any]], list[ScoredRollout]],
    next_problems: Callable[[int], list[Any]],
    *,
    group_size: int,
    target_groups: int,
    max_extra_rounds: int,
    reward_of: Callable[[list[ScoredRollout]], Sequence[float]] | None = None,
    max_round_prompts: int | None = None,
) -> DynamicBatch:
    """Generate, score and keep groups with unequal rewards until `target_groups` are kept or `max_extra_rounds`
    refill rounds have run.

    generate(problems, round) -> group_size rollouts per problem, group ids numbering the problems of that call
    (round: 0, 1, ... so the caller can vary the sampling seed). score(rollouts) -> scored rollouts.
    next_problems(k) -> up to k further problems (round 0 asks for target_groups: the step's regular batch; an empty
    answer ends the refills). reward_of(group) -> the rewards that decide "all equal" (default: each .reward; pass the
    shaped rewards when reward shaping can split a group the verifier scored alike). max_round_prompts: prompts per
    refill round at most (default target_groups).

    Keeps at most target_groups groups, the first found. When no round finds an informative group, returns the first
    round's groups (informative=False): their advantages are 0, so the step trains on nothing but keeps its shape.
    """
    if group_size < 1 or target_groups < 1 or max_extra_rounds < 0:
        raise ValueError("dynamic_sample needs group_size >= 1, target_groups >= 1 and max_extra_rounds >= 0")
    reward_of = reward_of or (lambda g: [s.reward for s in g])
    cap = max_round_prompts or target_groups
    kept: list[list[ScoredRollout]] = []
    first: list[list[ScoredRollout]] = []
    all_scored: list[ScoredRollout] = []
    rounds = extra = dropped = seen = 0
    want = target_groups
    while True:
        problems = next_problems(want)
        if not problems:
            break
        rollouts = generate(problems, rounds)
        if len(rollouts) != group_size * len(problems):
            raise ValueError(f"round {rounds}: {len(rollouts)} rollouts for {len(problems)} problems x {group_size}")
        groups = _groups(score(rollouts))
        all_scored.extend(_renumber(groups, start=seen))
        extra += len(rollouts) if rounds else 0
        first = first or groups
        for g in groups:
            seen += 1
            if _informative(g, reward_of):
                kept.append(g)
            else:
                dropped += 1
        rounds += 1
        missing = target_groups - len(kept)
        if missing <= 0 or rounds > max_extra_rounds:
            break
        want = _refill_size(missing, len(kept), seen, cap)
    return DynamicBatch(_renumber(kept[:target_groups] or first), all_scored, rounds, extra, dropped,
                        max(0, len(kept) - target_groups), seen, bool(kept))


def problem_stream(draw: Callable[[int], list[Any]]) -> Callable[[int], list[Any]]:
    """next_problems(k) for dynamic_sample over draw(offset) -> the problems of slots offset, offset + 1, ... of
    one step (e.g. lambda off: mixture.batch(step, P, offset=off), P problems a call). Problems are handed out in
    slot order and never twice; the first k = P are exactly the step's regular batch."""
    buffer: list[Any] = []
    offset = 0

    def next_problems(k: int) -> list[Any]:
        nonlocal buffer, offset
        while len(buffer) < k:
            chunk = draw(offset)
            if not chunk:
                break
            buffer.extend(chunk)
            offset += len(chunk)
        out, buffer = buffer[:k], buffer[k:]
        return out

    return next_problems
