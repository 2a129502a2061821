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
