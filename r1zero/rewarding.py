"""Scoring a step's rollouts: task rewards in worker processes with hard kill-based timeouts.

A verifier that hangs or crashes must cost one item its reward (reason 'timeout' / 'error'), never the run, and never
silently zero every reward (as `signal.alarm` timeouts did inside Ray workers in another trainer).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from r1zero.types import Problem, Rollout, ScoredRollout
from tasks.registry import score_one


class RewardScorer:
    """Scores (rollout, problem) pairs through a process pool (or inline when num_workers == 0)."""

    def __init__(self, task_args: dict[str, dict[str, Any]], seed: int, num_workers: int, timeout_s: float) -> None:
        """task_args: task name -> constructor kwargs. The scoring function (tasks.registry.score_one) imports only
        tasks/ and rewards/: a scoring process never loads torch."""
        self.task_args = {k: json.dumps(v, sort_keys=True) for k, v in task_args.items()}
        self.seed = seed
        self.pool = None
        if num_workers > 0:
            from rewards.pool import ScoringPool

            self.pool = ScoringPool(num_workers=num_workers, timeout_s=timeout_s)

    def score(self, rollouts: list[Rollout], problems: dict[str, Problem]) -> tuple[list[ScoredRollout], Counter]:
        items = []
        for r in rollouts:
            p = problems[r.problem_id]
            items.append((p.task, self.task_args[p.task], self.seed, r.response, p))
        if self.pool is None:
            results = [score_one(*it) for it in items]
        else:
            results = self.pool.map(score_one, items)
        scored = [ScoredRollout(r, float(res.value), dict(res.parts), res.reason, problems[r.problem_id].task)
                  for r, res in zip(rollouts, results)]
        return scored, Counter(res.reason for res in results)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None
