"""Trace store: every rollout of every step, one Parquet file per step under RUN_DIR/traces/.

Append-only and readable while the run goes on: each step file is written to a temp name and renamed, so a reader
never sees a half-written file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from r1zero.types import Problem, ScoredRollout

SCHEMA = pa.schema([
    ("step", pa.int32()),
    ("problem_id", pa.string()),
    ("group_id", pa.int32()),
    ("sample", pa.int32()),  # index of the sample within its group
    ("task", pa.string()),
    ("prompt", pa.string()),  # the question (before the template)
    ("answer", pa.string()),  # gold answer
    ("completion", pa.string()),  # the full assistant response (prefill included)
    ("prompt_tokens", pa.int32()),
    ("completion_tokens", pa.int32()),
    ("reward", pa.float32()),
    ("parts", pa.string()),  # JSON object of reward components
    ("reason", pa.string()),
    ("advantage", pa.float32()),
    ("policy_version", pa.int32()),
    ("finish_reason", pa.string()),
])


def traces_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "traces"


def write_step(run_dir: str | Path, step: int, scored: Sequence[ScoredRollout], advantages: Sequence[float],
               problems: dict[str, Problem], prefix: str = "") -> Path:
    """Write one step's rollouts; returns the file path."""
    rows: dict[str, list] = {name: [] for name in SCHEMA.names}
    seen: dict[int, int] = {}
    for s, adv in zip(scored, advantages):
        r = s.rollout
        p = problems[r.problem_id]
        k = seen.get(r.group_id, 0)
        seen[r.group_id] = k + 1
        values = (step, r.problem_id, r.group_id, k, s.task or p.task, p.prompt, p.answer, prefix + r.text,
                  len(r.prompt_ids), len(r.completion_ids), s.reward, json.dumps(s.parts), s.reason, float(adv),
                  r.policy_version, r.finish_reason)
        for name, v in zip(SCHEMA.names, values):
            rows[name].append(v)
    out = traces_dir(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    final = out / f"step_{step:06d}.parquet"
    tmp = out / f".step_{step:06d}.parquet.tmp"
    pq.write_table(pa.table(rows, schema=SCHEMA), tmp)
    tmp.rename(final)
    return final


def read_traces(run_dir: str | Path, steps: tuple[int, int] | None = None):
    """All trace rows (optionally steps lo..hi inclusive) as a pandas DataFrame."""
    import pandas as pd

    files = sorted(traces_dir(run_dir).glob("step_*.parquet"))
    if steps is not None:
        lo, hi = steps
        files = [f for f in files if lo <= int(f.stem.split("_")[1]) <= hi]
    if not files:
        return pd.DataFrame(columns=SCHEMA.names)
    return pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)
