"""Step metrics: one JSONL line per step, wandb (offline without an API key), and a rich console line."""

from __future__ import annotations

import json
import os
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from r1zero.types import ScoredRollout


def rollout_metrics(scored: list[ScoredRollout], reasons: Counter) -> dict[str, float]:
    """Reward, accuracy, format, length and group statistics of one step's scored rollouts."""
    rewards = [s.reward for s in scored]
    lengths = [len(s.rollout.completion_ids) for s in scored]
    groups: dict[int, list[float]] = {}
    for s in scored:
        groups.setdefault(s.rollout.group_id, []).append(s.reward)
    m: dict[str, float] = {
        "reward_mean": statistics.fmean(rewards),
        "reward_std": statistics.pstdev(rewards),
        "accuracy": statistics.fmean(s.parts.get("accuracy", 0.0) for s in scored),
        "format_rate": statistics.fmean(s.parts.get("format", 0.0) for s in scored),
        "response_len_mean": statistics.fmean(lengths),
        "response_len_max": float(max(lengths)),
        "truncation_rate": statistics.fmean(s.rollout.finish_reason == "length" for s in scored),
        "equal_reward_group_frac": statistics.fmean(len(set(g)) == 1 for g in groups.values()),
        "completion_tokens": float(sum(lengths)),
    }
    for reason, count in reasons.items():
        m[f"reason/{reason}"] = count / len(scored)
    return m


# Alarm thresholds. Entropy: the default run fell from 2.7 to ~0.1 nats/token by step 15 and stalled there (issue 15);
# below 0.2 nearly every group samples one answer. No gradient: past half the groups, most of the batch is dead weight.
ENTROPY_FLOOR = 0.2  # nats/token
NO_GRADIENT_CEILING = 0.5  # fraction of groups with all-equal rewards
ALARMS = {  # metric -> what the report says when it fired
    "alarm/entropy_collapse": "policy entropy fell below {entropy_floor:g} nats/token: sampling has collapsed onto "
                              "a few answers (try clip-higher, algo.loss=clip_cov or kl_cov, docs/recipes.md)",
    "alarm/no_gradient": "more than {no_gradient_ceiling:.0%} of the groups had all-equal rewards and carried no "
                         "gradient, and dynamic sampling (if on) could not refill the batch (try "
                         "algo.dynamic_sampling=true, more algo.max_sampling_rounds or harder problems, "
                         "docs/recipes.md)",
}


def alarm_metrics(m: dict[str, Any], *, entropy_floor: float = ENTROPY_FLOOR,
                  no_gradient_ceiling: float = NO_GRADIENT_CEILING) -> dict[str, float]:
    """1.0 / 0.0 per alarm for one step's metrics (learner's `entropy`, rollouts' `equal_reward_group_frac`).

    Under dynamic sampling (`dynamic/*` metrics present) the kept batch has no all-equal group by construction: the
    alarm then fires when the fraction before the filter passed the ceiling *and* the refills could not fill the
    batch (`dynamic/filled` 0), i.e. the step trained on fewer informative groups than it asked for. A metric that is
    missing raises no alarm, nor does the entropy of a step that trained no token."""
    eq = m.get("dynamic/equal_reward_group_frac", m.get("equal_reward_group_frac"))
    ent = m.get("entropy") if m.get("train_tokens", 1) else None  # nothing trained: the learner measured nothing
    dead = eq is not None and eq > no_gradient_ceiling and not m.get("dynamic/filled", 0.0)
    return {"alarm/entropy_collapse": float(ent is not None and ent < entropy_floor), "alarm/no_gradient": float(dead)}


def console_line(step: int, m: dict[str, Any]) -> str:
    """The one line per step the console shows (metrics.jsonl has everything)."""
    return (f"step {step:4d}  reward {m['reward_mean']:.3f}  acc {m['accuracy']:.2f}  fmt {m['format_rate']:.2f}  "
            f"len {m['response_len_mean']:.0f}  eq-groups {m['equal_reward_group_frac']:.2f}  "
            f"ent {m['entropy']:.2f}  canary {m['canary_max_diff']:.1e}  {m['step_seconds']:.1f}s")


class MetricsLogger:
    """Writes metrics.jsonl under the run dir; mirrors to wandb when enabled; shows a progress bar and a console line
    per step when `steps` is given."""

    def __init__(self, run_dir: Path, config: dict[str, Any], mode: str, project: str, resume: bool,
                 steps: int | None = None, start_step: int = 0, console: Any = None) -> None:
        self.path = Path(run_dir) / "metrics.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.wandb = None
        if mode == "auto":
            mode = "online" if os.environ.get("WANDB_API_KEY") else "offline"
        if mode != "disabled" and os.environ.get("WANDB_MODE") != "disabled":
            import wandb

            self.wandb = wandb.init(project=project, config=config, dir=str(run_dir), mode=mode,
                                    name=Path(run_dir).name, resume="allow" if resume else None)
        self.progress = self.bar = None
        if steps is not None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("[bold]r1zero"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                     TextColumn("{task.description}"), console=console or Console(), transient=False)
            self.progress.start()
            self.bar = self.progress.add_task("", total=steps, completed=start_step)

    def print(self, text: str) -> None:
        """A line above the progress bar (or on stdout without one)."""
        if self.progress is not None:
            self.progress.console.print(text, markup=False)
        else:
            print(text)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        record = {"step": step, **{k: (float(f"{v:.6g}") if isinstance(v, float) else v) for k, v in metrics.items()}}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if self.wandb is not None:
            self.wandb.log(metrics, step=step)
        if self.progress is not None:
            self.print(console_line(step, metrics))
            self.progress.update(self.bar, advance=1, description=f"acc {metrics['accuracy']:.2f}")

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
        if self.wandb is not None:
            self.wandb.finish()


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """All step records of a run (last record wins for a step logged twice, e.g. after a resume)."""
    path = Path(run_dir) / "metrics.jsonl"
    by_step: dict[int, dict[str, Any]] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:  # the trainer is mid-way through writing the last line
                continue
            if isinstance(rec, dict) and isinstance(rec.get("step"), int):
                by_step[rec["step"]] = rec
    return [by_step[k] for k in sorted(by_step)]
