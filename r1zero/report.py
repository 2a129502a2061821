"""`r1zero report RUN_DIR [-o FILE]`: one static, self-contained HTML page about a run (finished or in progress).

Plots are inline base64 PNGs drawn with matplotlib's Agg renderer; there is no script, no server and no external
URL. Every piece of model text goes through Jinja2 autoescaping, and a Content-Security-Policy meta tag forbids
scripts as a second wall: a completion that says `<script>` shows up as that text and nothing runs.
"""

from __future__ import annotations

import argparse
import base64
import datetime as _dt
import io
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from r1zero import emergence
from r1zero.metrics import ALARMS, ENTROPY_FLOOR, NO_GRADIENT_CEILING, alarm_metrics, read_metrics
from r1zero.trace_cli import clean
from r1zero.traces import read_traces, require_run_dir

# The page needs no JavaScript; the policy says so, so that even a bug in escaping cannot run model text.
CSP = ("default-src 'none'; script-src 'none'; object-src 'none'; img-src data:; style-src 'unsafe-inline'; "
       "base-uri 'none'; form-action 'none'; frame-src 'none'")
MAX_CHARS = 4000  # characters of one completion shown in the page (the trace store keeps all of it)
MAX_TABLE_STEPS = 40  # per-step table rows; longer runs show evenly spaced steps (always the first and last)
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write one self-contained HTML report of a run (plots, samples, emergence)")
    p.add_argument("run_dir", help="run directory (train.output_dir)")
    p.add_argument("-o", "--output", metavar="FILE", help="HTML file to write (default: RUN_DIR/report.html)")
    p.add_argument("--top", type=int, default=5, metavar="N", help="rows in the best/worst/most-changed tables")
    p.add_argument("--follow", metavar="PROBLEM_ID_OR_TEXT",
                   help="prompt to show across steps (default: the one whose reward changed most)")
    p.add_argument("--phrases", metavar="P1,P2", help="reflection phrases (default: %s)"
                   % ", ".join(emergence.DEFAULT_PHRASES))
    p.set_defaults(fn=run)


def run(args: argparse.Namespace) -> int:
    if args.top < 1:
        raise ValueError("--top must be at least 1")
    require_run_dir(args.run_dir)
    out = Path(args.output) if args.output else Path(args.run_dir) / "report.html"
    if not out.parent.is_dir():  # checked first: building the page is the slow part
        raise FileNotFoundError(f"no such directory for the report: {out.parent}")
    page = build_report(args.run_dir, phrases=emergence.parse_phrases(args.phrases), top=args.top,
                        follow=args.follow)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)  # a browser reloading the report never sees half a page
    print(f"report: {out}")
    return 0


# ---------------------------------------------------------------------------------------------------------------
# Inputs


def read_scaling(run_dir: str | Path) -> tuple[list[dict[str, Any]], str | None]:
    """RUN_DIR/eval/scaling.json (one object or a list): the curves, and a warning if the file is malformed.

    Optional section hook: test-time scaling (pass@k / maj@k against the number of samples k) is written by an
    evaluation tool, not by training; the report only draws what is there.
    """
    path = Path(run_dir) / "eval" / "scaling.json"
    if not path.is_file():
        return [], None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return [], f"{path} is not readable JSON ({e})"
    curves = data if isinstance(data, list) else [data]
    good = []
    for i, c in enumerate(curves):
        ks = c.get("k") if isinstance(c, dict) else None
        if not (isinstance(ks, list) and ks and all(_is_num(k) and k > 0 for k in ks)):
            return [], f"{path}: entry {i} needs 'k': a list of positive numbers"
        for key in ("pass_at_k", "maj_at_k"):
            v = c.get(key)
            if v is not None and not (isinstance(v, list) and len(v) == len(ks) and all(_is_num(x) for x in v)):
                return [], f"{path}: entry {i} '{key}' must be a list of numbers as long as 'k'"
        good.append({"label": str(c.get("label") or f"curve {i + 1}"), "k": ks, "pass_at_k": c.get("pass_at_k"),
                     "maj_at_k": c.get("maj_at_k")})
    return good, None


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


# What a control arm's banner says (r1zero.algo.controls): a reader must not take its curves for learning.
CONTROL_LABELS = {
    "random": "CONTROL ARM (reward.control=random): every reward was a coin flip independent of the completion; "
              "accuracy here is what the loop reaches without any signal about correctness",
    "format_only": "CONTROL ARM (reward.control=format_only): the reward paid the format only, never the answer; "
                   "accuracy here is what the format alone brings",
}


def control_label(cfg: dict[str, Any]) -> str:
    """The banner of a control-arm run ('' for a real run), from its config.json."""
    reward = cfg.get("reward") if isinstance(cfg.get("reward"), dict) else {}
    control = reward.get("control", "none")
    return CONTROL_LABELS.get(control, "") if isinstance(control, str) else ""


def _read_config(run_dir: Path) -> dict[str, Any]:
    try:
        cfg = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return cfg if isinstance(cfg, dict) else {}


# ---------------------------------------------------------------------------------------------------------------
# Plots: matplotlib Figure objects rendered straight to PNG bytes (no pyplot, so no global backend switch and no
# display needed).


def _png(draw: Callable[[Any], None], size: tuple[float, float] = (6.4, 3.2)) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100, layout="constrained")
    draw(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _safe_label(text: str) -> str:
    """Matplotlib parses $...$ as math (and raises on bad math): a label from a file is shown literally."""
    return text.replace("$", r"\$")


def _lines(ax, x, series: list[tuple[str, Any]], ylabel: str) -> None:
    for i, (label, y) in enumerate(series):
        # distinct dash styles too: reward and accuracy are often the same curve and must not hide each other
        ax.plot(x, y, marker="o" if len(x) < 30 else None, ms=3, color=PALETTE[i % len(PALETTE)], label=label,
                ls=("-", "--", ":")[i % 3])
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)


def make_plots(summary: pd.DataFrame, metrics: pd.DataFrame) -> list[dict[str, str]]:
    """[{title, src, note}] for reward/accuracy, length, behaviour rates, KL/entropy. src is '' when no data."""
    plots = []
    src = metrics if {"reward_mean", "accuracy"} <= set(metrics.columns) else summary
    plots.append({"title": "Reward and accuracy", "note": "from metrics.jsonl" if src is metrics else "from traces",
                  "src": _png(lambda f: _lines(f.subplots(), src["step"], [("reward", src["reward_mean"]),
                                                                            ("accuracy", src["accuracy"])], "mean"))
                  if len(src) else ""})
    have = len(summary) > 0
    plots.append({"title": "Response length (completion tokens)", "note": "mean, median, 90th percentile",
                  "src": _png(lambda f: _lines(f.subplots(), summary["step"], [
                      ("mean", summary["len_mean"]), ("p50", summary["len_p50"]), ("p90", summary["len_p90"])],
                      "tokens")) if have else ""})
    plots.append({"title": "Reflection, format and truncation rates", "note": "fraction of samples per step",
                  "src": _png(lambda f: _lines(f.subplots(), summary["step"], [
                      ("reflection", summary["reflection_rate"]), ("format", summary["format_rate"]),
                      ("truncated", summary["truncation_rate"])], "fraction")) if have else ""})
    kl = [k for k in ("kl", "approx_kl") if k in metrics.columns and metrics[k].notna().any()]
    ent = "entropy" in metrics.columns and metrics["entropy"].notna().any()

    def draw_kl(fig) -> None:
        ax = fig.subplots()
        if kl:
            _lines(ax, metrics["step"], [(k, metrics[k]) for k in kl], "KL")
        else:
            ax.set_xlabel("step")
        if ent:
            ax2 = ax.twinx() if kl else ax
            ax2.plot(metrics["step"], metrics["entropy"], color=PALETTE[3], ls="--", label="entropy (right)" if kl
                     else "entropy")
            ax2.set_ylabel("entropy (nats/token)")
            ax2.legend(loc="lower right", fontsize=8)

    plots.append({"title": "KL to the reference and policy entropy", "note": "from metrics.jsonl",
                  "src": _png(draw_kl) if (kl or ent) else ""})
    return plots


def draw_scaling(fig: Any, curves: list[dict[str, Any]]) -> None:
    """Accuracy against samples k (log2 axis): pass@k solid, maj@k dashed, one colour per curve. The one scaling
    plot: the report embeds it, `r1zero eval` saves it as scaling.png."""
    ax = fig.subplots()
    for i, c in enumerate(curves):
        color, label = PALETTE[i % len(PALETTE)], _safe_label(c["label"])
        if c["pass_at_k"]:
            ax.plot(c["k"], c["pass_at_k"], marker="o", color=color, label=f"{label} pass@k")
        if c["maj_at_k"]:
            ax.plot(c["k"], c["maj_at_k"], marker="s", ls="--", color=color, label=f"{label} maj@k")
    ks = sorted({k for c in curves for k in c["k"]})
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_xlabel("samples per problem k")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)


def scaling_plot(curves: list[dict[str, Any]]) -> str:
    return _png(lambda fig: draw_scaling(fig, curves))


# ---------------------------------------------------------------------------------------------------------------
# Tables: plain dicts of strings/numbers for the template (which escapes them).


def _text(s: Any) -> str:
    """Model text for the page: control characters made visible, long text cut (the template escapes it)."""
    t = clean(s)
    return t if len(t) <= MAX_CHARS else t[:MAX_CHARS] + f"\n… ({len(t) - MAX_CHARS} more characters)"


def _fmt(v: Any, spec: str = "{:.3f}") -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) or pd.isna(v) else spec.format(v)


def sample_rows(df: pd.DataFrame) -> list[dict[str, str]]:
    return [{"step": str(r.step), "group": str(r.group_id), "sample": str(r.sample), "task": _text(r.task),
             "reward": _fmt(r.reward), "advantage": _fmt(r.advantage, "{:+.3f}"), "reason": _text(r.reason),
             "tokens": str(r.completion_tokens), "finish": _text(r.finish_reason), "prompt": _text(r.prompt),
             "answer": _text(r.answer), "completion": _text(r.completion)} for r in df.itertuples()]


def summary_rows(summary: pd.DataFrame) -> tuple[list[dict[str, str]], bool]:
    """Rows of the per-step table, thinned to at most MAX_TABLE_STEPS; the flag says whether it was thinned."""
    s = summary
    if len(s) > MAX_TABLE_STEPS:
        idx = sorted({round(i * (len(s) - 1) / (MAX_TABLE_STEPS - 1)) for i in range(MAX_TABLE_STEPS)})
        s = s.iloc[idx]
    rows = [{"step": str(int(r.step)), "samples": str(int(r.samples)), "reward": _fmt(r.reward_mean),
             "accuracy": _fmt(r.accuracy), "format": _fmt(r.format_rate), "len": _fmt(r.len_mean, "{:.1f}"),
             "p50": _fmt(r.len_p50, "{:.0f}"), "p90": _fmt(r.len_p90, "{:.0f}"),
             "reflection": _fmt(r.reflection_rate), "truncated": _fmt(r.truncation_rate)} for r in s.itertuples()]
    return rows, len(s) < len(summary)


def follow_section(df: pd.DataFrame, changed: pd.DataFrame, follow: str | None) -> dict[str, Any] | None:
    from r1zero.trace_cli import follow_prompt

    if df.empty:
        return None
    if follow:
        prompt = follow_prompt(df, follow)
    elif len(changed):
        prompt = changed.iloc[0]["prompt"]
    else:  # no prompt recurs: show the first one (a one-step history is still a sample of the policy)
        prompt = df.iloc[0]["prompt"]
    h = emergence.prompt_history(df, prompt)
    return {"prompt": _text(prompt), "answer": _text(df.loc[df["prompt"] == prompt, "answer"].iloc[0]),
            "rows": [{"step": str(int(r.step)), "samples": str(int(r.samples)), "reward": _fmt(r.reward_mean),
                      "max": _fmt(r.reward_max), "accuracy": _fmt(r.accuracy), "len": _fmt(r.len_mean, "{:.1f}"),
                      "completion": _text(r.best_completion)} for r in h.itertuples()]}


def _ranges(steps: list[int]) -> str:
    """[1, 2, 3, 7] -> '1-3, 7'."""
    runs: list[list[int]] = []
    for s in steps:
        if runs and s == runs[-1][1] + 1:
            runs[-1][1] = s
        else:
            runs.append([s, s])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def alarm_rows(records: list[dict[str, Any]]) -> list[dict[str, str]]:
    """One row per alarm that fired: its message, the steps, whether it still held at the last step. A record that
    has no alarm/* keys (a run from before the alarms) is judged from its entropy and group metrics."""
    fired: dict[str, list[int]] = {k: [] for k in ALARMS}
    for rec in records:
        computed = alarm_metrics(rec)
        for key in ALARMS:
            value = rec.get(key, computed[key])
            if _is_num(value) and value > 0:
                fired[key].append(int(rec["step"]))
    last = records[-1]["step"] if records else None
    text = {"entropy_floor": ENTROPY_FLOOR, "no_gradient_ceiling": NO_GRADIENT_CEILING}
    return [{"message": ALARMS[k].format(**text), "steps": _ranges(steps), "count": str(len(steps)),
             "of": str(len(records)), "now": "yes" if steps[-1] == last else "no"}
            for k, steps in fired.items() if steps]


# ---------------------------------------------------------------------------------------------------------------
# Assembly


def _template() -> str:
    """The page (r1zero/templates/report.html, a package file). Autoescaped Jinja2: never mark model text `|safe`.
    The only unescaped-looking values are data: URIs of PNGs we drew ourselves (and those are escaped too: base64
    has no HTML-special characters)."""
    from importlib.resources import files

    return files("r1zero").joinpath("templates/report.html").read_text(encoding="utf-8")


def build_report(run_dir: str | Path, phrases: tuple[str, ...] = emergence.DEFAULT_PHRASES, top: int = 5,
                 follow: str | None = None) -> str:
    """The HTML page as a string. Raises FileNotFoundError / ValueError (one line) on a missing or empty run."""
    run = require_run_dir(run_dir)
    df = read_traces(run)
    records = read_metrics(run)
    metrics = pd.DataFrame(records)
    if df.empty and metrics.empty:
        raise ValueError(f"nothing to report yet in {run}: no trace steps under traces/ and no metrics.jsonl rows")
    if metrics.empty:
        metrics = pd.DataFrame({"step": pd.Series(dtype=int)})
    summary = emergence.step_summary(df, phrases)
    changed = emergence.most_changed(df, top)
    aha = emergence.aha_first_steps(emergence.aha_examples(df, phrases))
    curves, scaling_warning = read_scaling(run)
    if scaling_warning:
        print(f"r1zero report: warning: {scaling_warning}", file=sys.stderr)
    cfg = _read_config(run)
    steps_done = sorted(set(summary["step"].astype(int)) | set(metrics["step"].astype(int)))
    planned = cfg.get("train", {}).get("steps") if isinstance(cfg.get("train"), dict) else None
    table, thinned = summary_rows(summary)
    from jinja2 import Environment

    # autoescape=True: every {{ value }} is HTML-escaped, which is what keeps model text inert
    env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    return env.from_string(_template()).render(
        csp=CSP, run_name=run.resolve().name, run_dir=str(run), generated=_dt.datetime.now().isoformat(" ", "seconds"),
        model=cfg.get("model", {}).get("name", "?") if isinstance(cfg.get("model"), dict) else "?",
        tasks=", ".join(cfg.get("data", {}).get("tasks", {}) or []) if isinstance(cfg.get("data"), dict) else "",
        control=control_label(cfg),
        steps_done=len(steps_done), last_step=steps_done[-1] if steps_done else None, planned=planned,
        finished=(run / "final").is_dir(), traced_steps=len(summary), samples=len(df),
        phrases=", ".join(phrases), plots=make_plots(summary, metrics), summary=table, thinned=thinned,
        alarms=alarm_rows(records),
        aha=[{"phrase": r.phrase, "first_step": str(r.first_step), "count": str(r.count), "prompt": _text(r.prompt),
              "completion": _text(r.completion), "reward": _fmt(r.reward)} for r in aha.itertuples()],
        best=sample_rows(emergence.extremes(df, top, best=True)),
        worst=sample_rows(emergence.extremes(df, top, best=False)),
        changed=[{"task": _text(r.task), "prompt": _text(r.prompt), "first_step": str(r.first_step),
                  "last_step": str(r.last_step), "first_reward": _fmt(r.first_reward),
                  "last_reward": _fmt(r.last_reward), "delta": _fmt(r.delta, "{:+.3f}"),
                  "first_completion": _text(r.first_completion), "last_completion": _text(r.last_completion)}
                 for r in changed.itertuples()],
        follow=follow_section(df, changed, follow),
        scaling={"src": scaling_plot(curves) if curves else "", "warning": scaling_warning,
                 "labels": [c["label"] for c in curves]},
    )
