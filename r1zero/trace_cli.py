"""`r1zero traces RUN_DIR`: inspect the rollouts of a run (finished or still going) from its trace store.

Views: a per-step summary (default), a list of samples (when a content filter or --samples is given), one GRPO
group (--group STEP:GROUP_ID) and one prompt across steps (--follow). --json prints the same data for scripts.

Bad input raises ValueError / FileNotFoundError; r1zero.cli turns those into one line and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

import pandas as pd

from r1zero import emergence
from r1zero.traces import read_traces, require_run_dir, trace_steps, traces_dir

SNIPPET = 160  # characters of a completion shown per row in list views (--full shows all)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("traces", help="inspect rollouts: per-step summary, filters, one group, one prompt over steps",
                       description=__doc__.split("\n\n")[1])
    p.add_argument("run_dir", help="run directory (train.output_dir)")
    p.add_argument("--steps", metavar="A:B", help="only steps A..B inclusive (also A:, :B, or A)")
    p.add_argument("--task", help="only this task")
    p.add_argument("--min-reward", type=float, metavar="X", help="only samples with reward >= X")
    p.add_argument("--max-reward", type=float, metavar="X", help="only samples with reward <= X")
    p.add_argument("--grep", metavar="TEXT", help="only completions containing TEXT (case-insensitive)")
    p.add_argument("--regex", metavar="RE", help="only completions matching the Python regex RE (case-sensitive; "
                                                 "prefix (?i) to ignore case)")
    p.add_argument("--truncated", action="store_true", help="only completions cut at max_tokens")
    view = p.add_mutually_exclusive_group()
    view.add_argument("--samples", action="store_true", help="list samples even without a content filter")
    view.add_argument("--group", metavar="STEP:GROUP_ID", help="all samples of one prompt at one step")
    view.add_argument("--follow", metavar="PROBLEM_ID_OR_TEXT",
                      help="one prompt across steps (exact problem id, or a case-insensitive prompt substring)")
    p.add_argument("--limit", type=int, metavar="N", help="rows in a sample list (default 20; --json: all)")
    p.add_argument("--full", action="store_true", help="show whole completions, not the first %d characters" % SNIPPET)
    p.add_argument("--phrases", metavar="P1,P2", help="reflection phrases (default: %s)"
                   % ", ".join(emergence.DEFAULT_PHRASES))
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(fn=run)


def parse_steps(spec: str | None) -> tuple[int, int] | None:
    """'A:B', 'A:', ':B' or 'A' -> inclusive (lo, hi); None -> None."""
    if spec is None:
        return None
    m = re.fullmatch(r"\s*(\d*)\s*(:?)\s*(\d*)\s*", spec)
    if not m or not (m.group(1) or m.group(3)) or (not m.group(2) and m.group(3)):
        raise ValueError(f"--steps must look like A:B, A:, :B or A with step numbers (got {spec!r})")
    lo = int(m.group(1)) if m.group(1) else 0
    hi = int(m.group(3)) if m.group(3) else (10**9 if m.group(2) else lo)  # 'A:' = to the end
    if lo > hi:
        raise ValueError(f"--steps {spec!r}: the first step is after the last")
    return lo, hi


def load(run_dir: str, steps: tuple[int, int] | None) -> pd.DataFrame:
    """Trace rows of a run, with one-line errors for a missing run, a run without traces, an empty step range."""
    require_run_dir(run_dir)
    have = trace_steps(run_dir)
    if not have:
        raise ValueError(f"no traces yet in {traces_dir(run_dir)} (the run has not finished a step)")
    df = read_traces(run_dir, steps)
    if df.empty:
        hi = "" if steps[1] >= 10**9 else steps[1]
        raise ValueError(f"no traces in steps {steps[0]}..{hi}; the run has steps {have[0]}..{have[-1]}")
    return df


def apply_filters(df: pd.DataFrame, args: argparse.Namespace) -> pd.DataFrame:
    """Row filters: task, reward bounds, --grep, --regex, --truncated (all must hold)."""
    keep = pd.Series(True, index=df.index)
    if args.task is not None:
        if args.task not in set(df["task"]):
            raise ValueError(f"no task {args.task!r} in these traces; tasks: {', '.join(sorted(set(df['task'])))}")
        keep &= df["task"] == args.task
    if args.min_reward is not None and args.max_reward is not None and args.min_reward > args.max_reward:
        raise ValueError("--min-reward is above --max-reward")
    if args.min_reward is not None:
        keep &= df["reward"] >= args.min_reward
    if args.max_reward is not None:
        keep &= df["reward"] <= args.max_reward
    text = df["completion"].fillna("")
    if args.grep:
        keep &= text.str.lower().str.contains(args.grep.lower(), regex=False)
    if args.regex:
        try:
            rx = re.compile(args.regex)
        except re.error as e:
            raise ValueError(f"bad --regex {args.regex!r}: {e}") from None
        keep &= text.map(lambda s: rx.search(s) is not None).astype(bool)
    if args.truncated:
        keep &= df["finish_reason"] == "length"
    return df[keep]


def content_filtered(args: argparse.Namespace) -> bool:
    return any(v is not None for v in (args.min_reward, args.max_reward, args.grep, args.regex)) or args.truncated


def select_group(df: pd.DataFrame, spec: str) -> pd.DataFrame:
    m = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", spec)
    if not m:
        raise ValueError(f"--group must look like STEP:GROUP_ID, e.g. 3:0 (got {spec!r})")
    step, gid = int(m.group(1)), int(m.group(2))
    at = df[df["step"] == step]
    if at.empty:
        raise ValueError(f"no step {step} in these traces (steps {df['step'].min()}..{df['step'].max()})")
    g = at[at["group_id"] == gid]
    if g.empty:
        ids = sorted(set(at["group_id"]))
        raise ValueError(f"no group {gid} at step {step} (groups there: {ids[0]}..{ids[-1]})")
    return g.sort_values("sample")


def follow_prompt(df: pd.DataFrame, needle: str) -> str:
    """The prompt text an exact problem id or a unique prompt substring names."""
    by_id = df.loc[df["problem_id"] == needle, "prompt"]
    if len(by_id):
        return str(by_id.iloc[0])
    prompts = sorted(p for p in set(df["prompt"]) if needle.lower() in p.lower())
    if not prompts:
        raise ValueError(f"no problem id or prompt matches {needle!r}")
    if len(prompts) > 1:
        shown = "; ".join(repr(_oneline(p, 60)) for p in prompts[:3])
        raise ValueError(f"{needle!r} matches {len(prompts)} prompts ({shown}{'; ...' if len(prompts) > 3 else ''});"
                         f" give a longer substring or a problem id")
    return prompts[0]


# ---------------------------------------------------------------------------------------------------------------
# Output. Model text is wrapped in rich Text (never parsed as [markup]) with control characters made visible, so
# a completion cannot restyle or clear the terminal.


def clean(text: Any) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", "" if text is None else str(text))


def _oneline(text: Any, width: int | None) -> str:
    s = clean(text).replace("\n", " ⏎ ")
    return s if width is None or len(s) <= width else s[:width] + "…"


def _num(v: Any, fmt: str = "{:.3f}") -> str:
    return "-" if v is None or pd.isna(v) else fmt.format(v)


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows (NaN -> null, numpy scalars -> Python), parts expanded from its JSON string."""
    rows = json.loads(df.to_json(orient="records", force_ascii=False))
    for r in rows:
        if isinstance(r.get("parts"), str):
            r["parts"] = json.loads(r["parts"]) if r["parts"] else {}
    return rows


def _print_table(title: str, columns: list[str], rows: list[list[Any]], *, wrap_last: bool = True) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    t = Table(title=Text(title), show_lines=False, expand=False)
    for i, c in enumerate(columns):
        last = i == len(columns) - 1
        t.add_column(c, justify="left" if last or c in ("task", "finish", "reason") else "right",
                     overflow="fold" if last and wrap_last else "ellipsis", no_wrap=not last)
    for r in rows:
        t.add_row(*(Text(clean(v)) for v in r))
    Console().print(t)


def show_summary(df: pd.DataFrame, phrases: tuple[str, ...], as_json: bool) -> None:
    s = emergence.step_summary(df, phrases)
    if as_json:
        print(json.dumps(_records(s), indent=1))
        return
    rows = [[int(r.step), int(r.samples), _num(r.reward_mean), _num(r.accuracy), _num(r.format_rate),
             _num(r.len_mean, "{:.1f}"), _num(r.len_p50, "{:.0f}"), _num(r.len_p90, "{:.0f}"),
             _num(r.reflection_rate), _num(r.truncation_rate)] for r in s.itertuples()]
    _print_table("per-step summary", ["step", "n", "reward", "acc", "format", "len", "p50", "p90", "reflect",
                                      "trunc"], rows, wrap_last=False)


def show_samples(df: pd.DataFrame, limit: int | None, full: bool, as_json: bool) -> None:
    d = df.sort_values(["step", "group_id", "sample"], kind="stable")
    if as_json:
        print(json.dumps(_records(d if limit is None else d.head(limit)), indent=1, ensure_ascii=False))
        return
    limit = 20 if limit is None else limit
    rows = [[r.step, r.group_id, r.sample, r.task, _num(r.reward), _num(r.advantage, "{:+.3f}"),
             r.completion_tokens, r.finish_reason, _oneline(r.completion, None if full else SNIPPET)]
            for r in d.head(limit).itertuples()]
    _print_table(f"{len(d)} matching samples" + (f" (first {limit}; --limit)" if len(d) > limit else ""),
                 ["step", "grp", "smp", "task", "reward", "adv", "tok", "finish", "completion"], rows)


def show_group(g: pd.DataFrame, as_json: bool) -> None:
    if as_json:
        print(json.dumps(_records(g), indent=1, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.panel import Panel
    from rich.text import Text

    con, first = Console(), g.iloc[0]
    con.print(Text(f"step {first.step}  group {first.group_id}  problem {clean(first.problem_id)}  "
                   f"task {clean(first.task)}\nprompt: {clean(first.prompt)}\nanswer: {clean(first.answer)}"))
    # one panel per sample: completions are long and multi-line, a table column would squeeze them to nothing
    for r in g.itertuples():
        head = (f"sample {r.sample}  reward {_num(r.reward)}  adv {_num(r.advantage, '{:+.3f}')}  {clean(r.reason)}"
                f"  {clean(r.finish_reason)}  {r.completion_tokens} tok  parts {clean(r.parts)}")
        con.print(Panel(Text(clean(r.completion)), title=Text(head), title_align="left"))


def show_follow(df: pd.DataFrame, prompt: str, full: bool, as_json: bool) -> None:
    h = emergence.prompt_history(df, prompt)
    if as_json:
        print(json.dumps({"prompt": prompt, "answer": str(df.loc[df["prompt"] == prompt, "answer"].iloc[0]),
                          "steps": _records(h)}, indent=1, ensure_ascii=False))
        return
    rows = [[int(r.step), int(r.samples), _num(r.reward_mean), _num(r.reward_max), _num(r.accuracy),
             _num(r.len_mean, "{:.1f}"), _oneline(r.best_completion, None if full else SNIPPET)]
            for r in h.itertuples()]
    _print_table(f"prompt: {_oneline(prompt, 100)}", ["step", "n", "reward", "max", "acc", "len",
                                                       "best completion"], rows)


def run(args: argparse.Namespace) -> int:
    phrases = emergence.parse_phrases(args.phrases)
    if args.limit is not None and args.limit < 1:
        raise ValueError("--limit must be at least 1")
    df = apply_filters(load(args.run_dir, parse_steps(args.steps)), args)
    try:
        if args.group:
            show_group(select_group(df, args.group), args.json)
        elif args.follow:
            show_follow(df, follow_prompt(df, args.follow), args.full, args.json)
        elif df.empty:
            print("[]" if args.json else "no samples match these filters", file=sys.stdout)
        elif args.samples or content_filtered(args):
            show_samples(df, args.limit, args.full, args.json)
        else:
            show_summary(df, phrases, args.json)
        sys.stdout.flush()
    except BrokenPipeError:
        # `r1zero traces ... | head`: the reader left; stop quietly, and keep Python's exit flush from complaining
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
