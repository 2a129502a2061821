"""Online curriculum: draw more of the problem families the policy still fails (issue 15).

The default run stalls on one family: sums with a negative result (`3 - 6`) stayed around 35 % right while the rest
was solved, and a uniform stream shows them as often as the solved ones. Here each step's problems are chosen from a
larger candidate pool (`data.curriculum_pool` x prompts_per_step problems of the mixture's deterministic stream),
weighted by how badly the policy did on each problem's *family* over the last `data.curriculum_window` steps:

    weight(family) = floor + (1 - pass_rate(family))        (a family never seen counts as unsolved: pass rate 0)

so a solved family keeps a `floor` share (no forgetting) and an unsolved one is drawn up to (1 + floor) / floor times
as often. Pass rate = the mean of the rollouts' `accuracy` part (their reward where a task has none). This is the
online-difficulty idea of prime-rl's and Kimi k1.5's curricula, reduced to families because one problem is seen
about once in a run here (200 distinct 1-digit 2-term sums, 320 draws), so a per-problem rate would never be known.

Deterministic and resumable: the draw for step k uses only the statistics of steps <= k - 1 - train.max_staleness
(with the async pipeline step k is drawn before step k-1 is scored), and an RNG seeded by (seed, step, slot); the
statistics are saved in the checkpoint (`state()` / `load_state()`), so a resumed run draws what the uninterrupted
run drew. The test split is never reweighted (evaluation reads the plain stream).
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

from tasks.registry import TaskMixture


def family_weights(stats: dict[str, tuple[float, int]], families: list[str], floor: float) -> list[float]:
    """weight per family in `families` from stats family -> (sum of pass values, count); unseen families weigh
    floor + 1 (pass rate taken as 0)."""
    out = []
    for f in families:
        passed, n = stats.get(f, (0.0, 0))
        out.append(floor + 1.0 - (passed / n if n else 0.0))
    return out


def weighted_sample(weights: list[float], k: int, rng: random.Random) -> list[int]:
    """k distinct indices drawn with probability proportional to weight, without replacement (Efraimidis & Spirakis
    2006: the k largest keys u ** (1 / w)); indices come back in ascending order, so the pool's order is kept."""
    keys = [(rng.random() ** (1.0 / w) if w > 0 else 0.0, i) for i, w in enumerate(weights)]
    return sorted(i for _, i in sorted(keys, reverse=True)[:k])


class Curriculum:
    """A TaskMixture (same `batch` interface) that reweights the training stream by online family pass rates."""

    def __init__(self, base: TaskMixture, *, pool: int, window: int, floor: float, lag: int) -> None:
        """base: the run's mixture; pool: candidates per drawn problem; window: steps of history that count;
        floor: weight a solved family keeps; lag: train.max_staleness (steps drawn before the previous is scored)."""
        if pool < 1 or window < 1 or floor <= 0:
            raise ValueError("curriculum needs pool >= 1, window >= 1 and floor > 0")
        self.base, self.pool, self.window, self.floor, self.lag = base, pool, window, floor, lag
        self.tasks, self.names, self.seed = base.tasks, base.names, base.seed
        self.history: dict[int, dict[str, list[float]]] = {}  # step -> family -> [sum of pass values, count]

    def family(self, problem: Any) -> str:
        return f"{problem.task}:{self.tasks[problem.task].family(problem)}"

    def _stats(self, step: int) -> dict[str, tuple[float, int]]:
        """Pass statistics over steps (step - lag - window) .. (step - lag - 1): what is known when `step` is drawn."""
        last = step - self.lag - 1
        agg: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
        for s in range(max(0, last - self.window + 1), last + 1):
            for f, (p, n) in self.history.get(s, {}).items():
                agg[f][0] += p
                agg[f][1] += n
        return {f: (p, int(n)) for f, (p, n) in agg.items()}

    def batch(self, step: int, count: int, split: str = "train", offset: int = 0) -> list:
        """The step's problems: `count` of the pool's `count * pool` candidates, drawn by family weight. The test
        split (and pool == 1) is the plain stream."""
        if split != "train" or self.pool == 1:
            return self.base.batch(step, count, split, offset)
        candidates = self.base.batch(step, count * self.pool, split, offset * self.pool)
        stats = self._stats(step)
        fams = [self.family(p) for p in candidates]
        weights = family_weights(stats, fams, self.floor)
        rng = random.Random(f"curriculum/{self.seed}/{step}/{offset}")
        return [candidates[i] for i in weighted_sample(weights, count, rng)]

    def record(self, step: int, pairs: list[tuple[Any, Any]]) -> dict[str, float]:
        """Add one step's (ScoredRollout, Problem) pairs to the history; returns curriculum/... metrics: per family
        its pass rate over the window including this step and its share of this step's rollouts."""
        fam: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
        for x, p in pairs:
            acc = fam[self.family(p)]
            acc[0] += float(x.parts.get("accuracy", x.reward))
            acc[1] += 1
        self.history[step] = {f: [v[0], v[1]] for f, v in fam.items()}
        for old in [s for s in self.history if s < step - self.window - self.lag]:
            del self.history[old]  # only the window (plus the lag) is ever read
        total = sum(v[1] for v in fam.values()) or 1
        known = {f: p / n for f, (p, n) in self._stats(step + self.lag + 1).items() if n}
        return {**{f"curriculum/pass/{f}": r for f, r in known.items()},
                **{f"curriculum/share/{f}": v[1] / total for f, v in fam.items()}}

    def state(self) -> dict[str, Any]:
        return {str(s): h for s, h in self.history.items()}

    def load_state(self, state: dict[str, Any] | None) -> None:
        self.history = {int(s): {f: list(v) for f, v in h.items()} for s, h in (state or {}).items()}
