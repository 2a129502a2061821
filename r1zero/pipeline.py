"""Generation ahead of training: the asynchronous pipeline with a staleness bound (`train.max_staleness = k`).

k = 0: each step generates with the newest weights, then trains: strictly on-policy, today's loop, the CPU default.
k >= 1: the generations of the next k steps run on the rollout workers while the learner trains (as verl's
staleness_threshold, prime-rl's max_off_policy_steps, SkyRL's max_staleness_steps). Every rollout carries the policy
version that sampled it; a prompt group more than k versions behind the learner is regenerated with the newest
weights, and the metrics count it. The learner corrects the off-policy gap against the rollout logprobs (truncated IS
by default; `algo.rollout_correction` where available).

Weights change only between generation calls: each worker runs its calls in submission order, so the weight sync the
controller submits after a generation waits for it to end (the CPU engine runs in the actor's thread and has no
pause/resume; vLLM's `pause_generation`/`resume_generation` belong to the async GPU engine).

Checkpoints hold no in-flight generation. A resumed run drops what was in flight and generates those steps again with
the checkpoint's weights, with the same sampler seeds: deterministic, but not identical to the uninterrupted run (whose
in-flight batches were sampled by the pre-checkpoint weights).
"""

from __future__ import annotations

from typing import Any

from r1zero import build
from r1zero.config import Config
from r1zero.types import Problem, Rollout


class Pipeline:
    """Submits each step's generation up to `max_staleness` steps ahead and hands steps over in order."""

    def __init__(self, cfg: Config, mixture: Any, render: Any, pool: Any) -> None:
        self.cfg, self.mixture, self.render, self.pool = cfg, mixture, render, pool
        self.k = cfg.train.max_staleness
        self.in_flight: dict[int, tuple[list[Problem], Any]] = {}

    def problems(self, step: int) -> list[Problem]:
        """Step k's problems: deterministic in (data.seed, k), so a resume continues the same stream."""
        return self.mixture.batch(step, self.cfg.data.prompts_per_step)

    def _submit(self, problems: list[Problem], step: int) -> Any:
        spec = build.sampling_spec(self.cfg, seed=build.train_seed(self.cfg, step))
        return self.pool.submit([self.render(p) for p in problems], list(range(len(problems))),
                                [p.id for p in problems], spec)

    def submit_through(self, step: int) -> None:
        """Start the generations of steps step .. step + k that are not running yet (never past the last step)."""
        for s in range(step, min(step + self.k, self.cfg.train.steps - 1) + 1):
            if s not in self.in_flight:
                problems = self.problems(s)
                self.in_flight[s] = (problems, self._submit(problems, s))

    def take(self, step: int, learner_version: int) -> tuple[list[Problem], list[Rollout], dict[str, float]]:
        """Step `step`'s problems and rollouts (grouped by prompt, in prompt order), with their staleness metrics.
        Groups sampled more than k versions before `learner_version` are regenerated now with the newest weights."""
        problems, pending = self.in_flight.pop(step)
        rollouts = self.pool.gather(pending)
        stale = sorted({r.group_id for r in rollouts if learner_version - r.policy_version > self.k})
        if stale:
            again = self.pool.generate([self.render(problems[g]) for g in stale], stale,
                                       [problems[g].id for g in stale],
                                       build.sampling_spec(self.cfg, seed=build.train_seed(self.cfg, step)))
            stale_set = set(stale)
            keep = [r for r in rollouts if r.group_id not in stale_set]
            rollouts = sorted(keep + again, key=lambda r: r.group_id)  # stable: samples keep their order
        lag = [learner_version - r.policy_version for r in rollouts]
        return problems, rollouts, {"async/staleness_mean": sum(lag) / len(lag), "async/staleness_max": float(max(lag)),
                                    "async/regenerated_groups": float(len(stale)),
                                    "async/in_flight": float(len(self.in_flight))}
