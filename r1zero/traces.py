"""Trace store: every rollout of every step, one Parquet file per step under RUN_DIR/traces/.

Append-only and readable while the run goes on: each step file is written to a temp name and renamed, so a reader
never sees a half-written file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Sequence

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
               problems: dict[str, Problem]) -> Path:
    """Write one step's rollouts; returns the file path."""
    rows: dict[str, list] = {name: [] for name in SCHEMA.names}
    seen: dict[int, int] = {}
    for s, adv in zip(scored, advantages):
        r = s.rollout
        p = problems[r.problem_id]
        k = seen.get(r.group_id, 0)
        seen[r.group_id] = k + 1
        values = (step, r.problem_id, r.group_id, k, s.task or p.task, p.prompt, p.answer, r.response,
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


def require_run_dir(run_dir: str | Path) -> Path:
    """The run directory as a Path; a user-facing one-line error if it is missing or not a directory."""
    p = Path(run_dir)
    if not p.exists():
        raise FileNotFoundError(f"no such run directory: {p}")
    if not p.is_dir():
        raise ValueError(f"not a run directory (a file): {p}")
    return p


def step_files(run_dir: str | Path, steps: tuple[int, int] | None = None) -> dict[int, Path]:
    """step -> finished step file, in step order. Temp files ('.step_*.tmp', mid-write) never match the glob."""
    out: dict[int, Path] = {}
    for f in traces_dir(run_dir).glob("step_*.parquet"):
        try:
            step = int(f.stem.split("_")[1])
        except (IndexError, ValueError):
            continue  # a stray file a person dropped there, not one of ours
        if steps is None or steps[0] <= step <= steps[1]:
            out[step] = f
    return dict(sorted(out.items()))


def trace_steps(run_dir: str | Path) -> list[int]:
    """Steps that have a finished trace file (a run in progress gains more over time)."""
    return list(step_files(run_dir))


def _read_file(path: Path, columns: Sequence[str] | None = None):
    """One step file as a DataFrame, or None if it vanished between listing and reading (a resumed run replaces
    step files by rename; a reader racing it must not crash)."""
    try:
        return pq.read_table(path, columns=list(columns) if columns else None).to_pandas()
    except FileNotFoundError:
        return None
    except pa.ArrowInvalid as e:  # ArrowInvalid is a ValueError: the CLI turns it into one line, exit 2
        raise ValueError(f"unreadable trace file {path}: {str(e).splitlines()[0]}") from None


def empty_traces(columns: Sequence[str] | None = None):
    """A zero-row DataFrame with the store's column dtypes (so filters and arithmetic on it still work)."""
    df = SCHEMA.empty_table().to_pandas()
    return df[list(columns)] if columns else df


def read_traces(run_dir: str | Path, steps: tuple[int, int] | None = None, *, columns: Sequence[str] | None = None):
    """All trace rows (optionally steps lo..hi inclusive) as a pandas DataFrame.

    Safe while the run goes on: it reads the step files that were finished when it listed them; a step file
    that appears mid-read is simply left for the next call.
    """
    import pandas as pd

    frames = [df for f in step_files(run_dir, steps).values() if (df := _read_file(f, columns)) is not None]
    frames = [df for df in frames if len(df)]
    if not frames:
        return empty_traces(columns)
    return pd.concat(frames, ignore_index=True)


class TraceTail:
    """Incremental reader for a live run: `poll()` returns only rows of step files that are new or replaced
    since the last poll (a resume rewrites steps after its checkpoint), so a watcher does not re-read the run."""

    def __init__(self, run_dir: str | Path, columns: Sequence[str] | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.columns = columns
        self._seen: dict[int, tuple[int, int]] = {}  # step -> (mtime_ns, size) of the file last read

    def poll(self):
        import pandas as pd

        frames = []
        for step, f in step_files(self.run_dir).items():
            try:
                st = f.stat()
            except FileNotFoundError:
                continue
            key = (st.st_mtime_ns, st.st_size)
            if self._seen.get(step) == key:
                continue
            df = _read_file(f, self.columns)
            if df is not None:
                self._seen[step] = key
                frames.append(df)
        return pd.concat(frames, ignore_index=True) if frames else empty_traces(self.columns)


def parse_parts(parts: Iterable[str]) -> list[dict[str, float]]:
    """The `parts` column (JSON objects of reward components) as dicts; a malformed cell reads as {}."""
    out = []
    for cell in parts:
        try:
            v = json.loads(cell) if cell else {}
        except (TypeError, json.JSONDecodeError):
            v = {}
        out.append(v if isinstance(v, dict) else {})
    return out
