"""`r1zero tasks list | check NAME | gym-survey`: what tasks exist, and whether a task's gold answers verify.

`check` builds the task, draws n problems from each split, renders a prompt, and requires that every gold answer
(as `<think>…</think> <answer>GOLD</answer>`) scores accuracy 1.0 and a wrong one (another problem's differing gold)
scores 0.0; it reports problems/s and scores/s and exits 1 when anything fails. `gym-survey` runs that check over
reasoning-gym generators, each in its own process with a time limit.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
from dataclasses import asdict, dataclass, field
from typing import Any

GOLD_TEMPLATE = "<think> checking the reference answer </think> <answer>{}</answer>"


@dataclass
class CheckReport:
    name: str
    problems: int = 0
    gold_ok: int = 0
    wrong_ok: int = 0
    problems_per_s: float = 0.0
    scores_per_s: float = 0.0
    build_s: float = 0.0
    prompt: str = ""
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and self.problems > 0


def list_tasks() -> list[tuple[str, str]]:
    from tasks.registry import TASKS, describe
    from tasks.gym import GymTask

    rows = [(name, describe(cls)) for name, cls in sorted(TASKS.items())]
    rows.append(("gym:<name>", describe(GymTask) + " (any of `r1zero tasks list --gym`)"))
    return rows


def _accuracy(res) -> float:
    return float(res.parts.get("accuracy", res.value))


def _wrong_answer(problems: list, i: int) -> str:
    """Another problem's gold that differs from problem i's, or plain prose when every gold is the same."""
    gold = problems[i].answer.strip()
    for k in range(1, len(problems)):
        other = problems[(i + k) % len(problems)].answer.strip()
        if other and other != gold:
            return other
    return "I do not know."


def check_task(name: str, args: dict[str, Any] | None = None, n: int = 20, seed: int = 0,
               tokenizer: Any = None) -> CheckReport:
    """Build `name`, draw n problems per split, and verify gold (accuracy 1.0) and wrong (0.0) answers."""
    from tasks.base import SPLITS, render_prompt
    from tasks.registry import make_task

    rep = CheckReport(name)
    t0 = time.perf_counter()
    task = make_task(name, seed=seed, **(args or {}))
    counts = {split: min(n, task.num_problems(split) or n) for split in SPLITS}  # loads a dataset task's rows
    rep.build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    problems = [p for split in SPLITS for p in task.problems(split, counts[split])]
    rep.problems_per_s = len(problems) / max(time.perf_counter() - t0, 1e-9)
    rep.problems = len(problems)
    rep.prompt = render_prompt(task.question(problems[0]), tokenizer=tokenizer, chat=tokenizer is not None)
    if not rep.prompt.strip() or not task.question(problems[0]).strip():
        rep.failures.append(f"{problems[0].id}: empty prompt")
    t0 = time.perf_counter()
    for i, p in enumerate(problems):
        if not p.answer.strip():
            rep.failures.append(f"{p.id}: no gold answer")
            continue
        gold = task.score(GOLD_TEMPLATE.format(p.answer), p)
        if _accuracy(gold) == 1.0:
            rep.gold_ok += 1
        else:
            rep.failures.append(f"{p.id}: gold {p.answer[:80]!r} scored {_accuracy(gold)} ({gold.reason})")
        wrong_text = _wrong_answer(problems, i)
        wrong = task.score(GOLD_TEMPLATE.format(wrong_text), p)
        if _accuracy(wrong) == 0.0:
            rep.wrong_ok += 1
        else:
            rep.failures.append(f"{p.id}: wrong answer {wrong_text[:80]!r} scored {_accuracy(wrong)} ({wrong.reason})")
    rep.scores_per_s = 2 * len(problems) / max(time.perf_counter() - t0, 1e-9)
    return rep


def print_report(rep: CheckReport) -> None:
    print(f"task {rep.name}: {rep.problems} problems (train + test), built in {rep.build_s:.2f}s")
    print("prompt[0] (its end): …" + rep.prompt[-300:].replace("\n", "\n  "))
    print(f"gold answers scoring accuracy 1.0: {rep.gold_ok}/{rep.problems}; "
          f"wrong answers scoring 0.0: {rep.wrong_ok}/{rep.problems}")
    print(f"throughput: {rep.problems_per_s:,.0f} problems/s, {rep.scores_per_s:,.1f} scores/s")
    for f in rep.failures[:10]:
        print("FAIL " + f)
    if len(rep.failures) > 10:
        print(f"... and {len(rep.failures) - 10} more failures")
    print("OK" if rep.ok else "FAILED")


def _survey_one(name: str, n: int, seed: int, size: int, queue) -> None:
    try:
        rep = check_task(f"gym:{name}", {"size": size}, n=n, seed=seed)
        queue.put((name, asdict(rep) | {"ok": rep.ok}))
    except Exception as e:  # noqa: BLE001 - a generator that cannot be built is a survey finding, not a crash
        queue.put((name, {"ok": False, "failures": [f"cannot build: {type(e).__name__}: {str(e)[:200]}"]}))


def gym_survey(names: list[str], n: int = 3, time_limit_s: float = 20.0, seed: int = 0, size: int = 10_000,
               jobs: int = 1) -> dict[str, dict]:
    """check_task on each gym generator in its own forked process (killed after time_limit_s); name -> report."""
    ctx = mp.get_context("fork")  # the parent has imported reasoning_gym once; children start instantly
    import reasoning_gym  # noqa: F401 - imported before forking on purpose

    queue, results, todo, running = ctx.Queue(), {}, list(names), {}
    while todo or running:
        while todo and len(running) < jobs:
            name = todo.pop(0)
            proc = ctx.Process(target=_survey_one, args=(name, n, seed, size, queue), daemon=True)
            proc.start()
            running[name] = (proc, time.monotonic())
        time.sleep(0.05)
        while not queue.empty():
            name, rep = queue.get()
            results[name] = rep
        for name, (proc, started) in list(running.items()):
            if name in results or not proc.is_alive():
                proc.join(timeout=5)
                results.setdefault(name, {"ok": False, "failures": [f"died (exit code {proc.exitcode})"]})
                del running[name]
            elif time.monotonic() - started > time_limit_s:
                proc.kill()
                proc.join(timeout=5)
                results[name] = {"ok": False, "failures": [f"over the {time_limit_s:.0f}s time limit"]}
                del running[name]
    return results


def _cmd_list(args: argparse.Namespace) -> int:
    if args.gym:
        from tasks.gym import generator_names

        print("\n".join(f"gym:{g}" for g in generator_names()))
        return 0
    rows = list_tasks()
    width = max(len(r[0]) for r in rows)
    for name, desc in rows:
        print(f"{name:<{width}}  {desc}")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    task_args = json.loads(args.args) if args.args else {}
    if not isinstance(task_args, dict):
        raise ValueError("--args must be a JSON object, e.g. '{\"min_numbers\": 3}'")
    tokenizer = None
    if args.model:
        from transformers import AutoTokenizer

        from r1zero.models import resolve_model

        tokenizer = AutoTokenizer.from_pretrained(resolve_model(args.model))
    rep = check_task(args.name, task_args, n=args.n, seed=args.seed, tokenizer=tokenizer)
    print_report(rep)
    return 0 if rep.ok else 1


def _cmd_survey(args: argparse.Namespace) -> int:
    from tasks.gym import generator_names

    names = args.only.split(",") if args.only else generator_names()
    results = gym_survey(names, n=args.n, time_limit_s=args.time_limit, seed=args.seed, size=args.size,
                         jobs=args.jobs)
    failed = {k: v for k, v in sorted(results.items()) if not v["ok"]}
    for name, rep in sorted(results.items()):
        note = "" if rep["ok"] else "  " + (rep.get("failures") or ["?"])[0]
        speed = f"{rep.get('problems_per_s', 0):8.0f} problems/s {rep.get('scores_per_s', 0):8.0f} scores/s"
        print(f"{'ok  ' if rep['ok'] else 'FAIL'} gym:{name:<28} {speed}{note}")
    print(f"{len(results) - len(failed)}/{len(results)} generators pass; failing: {sorted(failed)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
    return 0 if not failed else 1


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("tasks", help="list tasks, check a task's verifier, survey reasoning-gym generators")
    sub = p.add_subparsers(dest="tasks_cmd", required=True)
    ls = sub.add_parser("list", help="task names with one-line descriptions")
    ls.add_argument("--gym", action="store_true", help="list every reasoning-gym generator (usable as gym:<name>)")
    ls.set_defaults(fn=_cmd_list)
    ck = sub.add_parser("check", help="gold answers must score 1.0 and wrong ones 0.0; exit 1 if not")
    ck.add_argument("name", help="task name: a registry name, gym:<generator>, or package.module:Class")
    ck.add_argument("--args", default=None, help="constructor arguments as a JSON object")
    ck.add_argument("-n", type=int, default=20, help="problems per split (default 20)")
    ck.add_argument("--seed", type=int, default=0)
    ck.add_argument("--model", default=None, help="render the prompt with this model's chat template (e.g. tiny)")
    ck.set_defaults(fn=_cmd_check)
    sv = sub.add_parser("gym-survey", help="run `check` over reasoning-gym generators, each with a time limit")
    sv.add_argument("-n", type=int, default=3, help="problems per split per generator (default 3)")
    sv.add_argument("--time-limit", type=float, default=20.0, help="seconds per generator (default 20)")
    sv.add_argument("--size", type=int, default=10_000, help="dataset size passed to each generator (the task default)")
    sv.add_argument("--jobs", type=int, default=1, help="generators checked in parallel")
    sv.add_argument("--seed", type=int, default=0)
    sv.add_argument("--only", default=None, help="comma-separated generator names (default: all)")
    sv.add_argument("--json", default=None, help="write the full results to this file")
    sv.set_defaults(fn=_cmd_survey)
