"""Emergence metrics: is the reasoning behaviour of R1-Zero showing up? Pure functions on a trace DataFrame.

The R1-Zero paper's signals, per step: responses grow longer, the model starts to reflect ("wait", "let me
check", ...), it learns the format, and accuracy rises; the "aha moment" is a completion that corrects itself
and ends up right. Every function takes the DataFrame `r1zero.traces.read_traces` returns and returns a new one.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from r1zero.traces import parse_parts

DEFAULT_PHRASES: tuple[str, ...] = ("wait", "let me check", "verify", "re-examine", "double-check")
# an accuracy part at or above this counts as "correct" (float parts, e.g. 0.9999999 from a mean of 1.0s)
CORRECT = 1.0 - 1e-6


def parse_phrases(text: str | None) -> tuple[str, ...]:
    """A comma-separated phrase list (from the command line); None or empty -> the defaults."""
    if not text:
        return DEFAULT_PHRASES
    phrases = tuple(p.strip() for p in text.split(",") if p.strip())
    if not phrases:
        raise ValueError(f"no reflection phrases in {text!r}; give a comma-separated list")
    return phrases


def phrase_regex(phrases: Sequence[str] = DEFAULT_PHRASES) -> re.Pattern[str]:
    """Case-insensitive, word-bounded alternation: 'wait' matches 'Wait,' but not 'await' or 'waiting'.

    Spaces in a phrase match any run of whitespace ('let me\\ncheck'); each phrase is one capture group so the
    match tells which phrase fired.
    """
    if not phrases:
        raise ValueError("the reflection phrase list is empty")
    parts = [r"\s+".join(re.escape(w) for w in p.split()) for p in phrases]
    # (?<!\w)/(?!\w) rather than \b: a phrase may start or end with a non-word character ("re-examine", "hmm?")
    return re.compile("|".join(f"(?<!\\w)({p})(?!\\w)" for p in parts), re.IGNORECASE)


def with_parts(df: pd.DataFrame) -> pd.DataFrame:
    """df plus float columns `accuracy` and `format` from the parts JSON (NaN where a task has no such part)."""
    out = df.copy()
    parsed = parse_parts(df["parts"]) if len(df) else []
    for key in ("accuracy", "format"):
        out[key] = np.array([float(p[key]) if isinstance(p.get(key), (int, float)) else np.nan for p in parsed],
                            dtype=float)
    return out


def reflects(completions: Iterable[str], phrases: Sequence[str] = DEFAULT_PHRASES) -> np.ndarray:
    """Boolean per completion: does it contain any reflection phrase?"""
    rx = phrase_regex(phrases)
    return np.array([rx.search(c or "") is not None for c in completions], dtype=bool)


def step_summary(df: pd.DataFrame, phrases: Sequence[str] = DEFAULT_PHRASES) -> pd.DataFrame:
    """One row per step: samples, reward_mean, accuracy, format_rate, len_mean/p50/p90 (completion tokens),
    reflection_rate, truncation_rate. accuracy/format_rate are NaN when the task reports no such part."""
    cols = ["step", "samples", "reward_mean", "accuracy", "format_rate", "len_mean", "len_p50", "len_p90",
            "reflection_rate", "truncation_rate"]
    if df.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
    d = with_parts(df)
    d["reflects"] = reflects(d["completion"], phrases)
    d["truncated"] = d["finish_reason"] == "length"
    d["len"] = d["completion_tokens"].astype(float)
    g = d.groupby("step", sort=True)
    out = pd.DataFrame({
        "samples": g.size(),
        "reward_mean": g["reward"].mean().astype(float),
        "accuracy": g["accuracy"].mean(),
        "format_rate": g["format"].mean(),
        "len_mean": g["len"].mean(),
        "len_p50": g["len"].quantile(0.5),
        "len_p90": g["len"].quantile(0.9),
        "reflection_rate": g["reflects"].mean(),
        "truncation_rate": g["truncated"].mean(),
    })
    return out.reset_index()[cols]


def _answer_start(text: str) -> int:
    """Where the final answer begins: the last '<answer>' tag, else the end (tasks without tags: whole text)."""
    i = text.rfind("<answer>")
    return i if i >= 0 else len(text)


def aha_examples(df: pd.DataFrame, phrases: Sequence[str] = DEFAULT_PHRASES) -> pd.DataFrame:
    """Completions where a self-correction phrase comes before the final answer and the answer is correct.

    Columns: the trace columns plus `phrase` (the first phrase that fired, lower-cased) and `accuracy`.
    Correct means parts.accuracy >= 1 (or reason == "correct" for a task that reports no accuracy part).
    """
    if df.empty:
        return df.assign(phrase=pd.Series(dtype=str), accuracy=pd.Series(dtype=float))
    d = with_parts(df)
    correct = np.where(d["accuracy"].notna(), d["accuracy"] >= CORRECT, d["reason"] == "correct")
    rx = phrase_regex(phrases)
    found = []
    for text, ok in zip(d["completion"], correct, strict=True):
        m = rx.search(text or "") if ok else None
        # the phrase must precede the answer: reflecting *after* answering is not a self-correction
        found.append(" ".join(m.group(0).lower().split()) if m and m.start() < _answer_start(text) else None)
    d["phrase"] = found
    return d[d["phrase"].notna()].drop(columns=["format"]).reset_index(drop=True)


def aha_first_steps(aha: pd.DataFrame) -> pd.DataFrame:
    """Per phrase kind: the first step it appears in a correct self-correction, how often overall, one example
    (the earliest). Sorted by first step."""
    cols = ["phrase", "first_step", "count", "problem_id", "prompt", "completion", "reward"]
    if aha.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    ordered = aha.sort_values(["step", "group_id", "sample"], kind="stable")
    first = ordered.groupby("phrase", sort=False).head(1).set_index("phrase")
    counts = ordered.groupby("phrase").size()
    out = first.assign(first_step=first["step"], count=counts).reset_index()
    return out.sort_values(["first_step", "phrase"], kind="stable")[cols].reset_index(drop=True)


def prompt_history(df: pd.DataFrame, prompt: str) -> pd.DataFrame:
    """One prompt (exact text) across steps: samples, reward mean/max, accuracy, mean length, best completion.

    Keyed by prompt text, not problem_id: a task's stream gives every draw a fresh id, while the same question
    text recurs across steps.
    """
    d = with_parts(df[df["prompt"] == prompt])
    cols = ["step", "samples", "reward_mean", "reward_max", "accuracy", "len_mean", "best_completion"]
    if d.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    g = d.groupby("step", sort=True)
    best = d.sort_values("reward", ascending=False, kind="stable").groupby("step").head(1).set_index("step")
    out = pd.DataFrame({
        "samples": g.size(), "reward_mean": g["reward"].mean().astype(float),
        "reward_max": g["reward"].max().astype(float), "accuracy": g["accuracy"].mean(),
        "len_mean": g["completion_tokens"].mean().astype(float),
    })
    out["best_completion"] = best["completion"]
    return out.reset_index()[cols]


def most_changed(df: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """Prompts whose mean reward changed most between their first and last step of appearance (|delta|, desc).

    Columns: task, prompt, first_step, last_step, first_reward, last_reward, delta, first_completion,
    last_completion (the best sample at each end). Prompts seen at a single step are left out.
    """
    cols = ["task", "prompt", "first_step", "last_step", "first_reward", "last_reward", "delta",
            "first_completion", "last_completion"]
    if df.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    per = df.groupby(["task", "prompt", "step"], sort=True)["reward"].mean().astype(float).reset_index()
    best = (df.sort_values("reward", ascending=False, kind="stable")
            .groupby(["task", "prompt", "step"]).head(1).set_index(["task", "prompt", "step"])["completion"])
    rows = []
    for (task, prompt), g in per.groupby(["task", "prompt"], sort=False):
        if len(g) < 2:
            continue
        a, b = g.iloc[0], g.iloc[-1]
        rows.append((task, prompt, int(a["step"]), int(b["step"]), a["reward"], b["reward"],
                     b["reward"] - a["reward"], best[(task, prompt, a["step"])], best[(task, prompt, b["step"])]))
    out = pd.DataFrame(rows, columns=cols)
    if out.empty:
        return out
    order = out["delta"].abs().sort_values(ascending=False, kind="stable").index
    return out.loc[order].head(n).reset_index(drop=True)


def extremes(df: pd.DataFrame, n: int = 5, best: bool = True) -> pd.DataFrame:
    """The n highest- (best=True) or lowest-reward samples; ties go to the later step (the trained policy)."""
    if df.empty:
        return df
    d = df.sort_values(["reward", "step"], ascending=[not best, False], kind="stable")
    return d.head(n).reset_index(drop=True)
