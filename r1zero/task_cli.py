"""`r1zero tasks list | check NAME | overlap TRAIN EVAL | gym-survey`: what tasks exist, whether a task's gold
answers verify and its splits are disjoint, and whether a data file is contaminated by another.

`check` builds the task, draws n problems from each split, renders a prompt, and requires, through the task's own
verifier (each answer written as `<think>…</think> <answer>ANSWER</answer>`):
  - every gold answer scores accuracy 1.0;
  - a wrong answer scores 0.0: another problem's gold that the verifier says is not this gold (compared by scoring,
    never as strings: "0.5" and "1/2" are one answer), near misses of a numeric gold (gold +- 1, two digits swapped)
    and hedges ("WRONG or GOLD", "GOLD or WRONG");
  - the splits are disjoint: no test problem is a training problem, exactly or by canonical form (same numbers,
    other wording), with the n-gram contamination report for data tasks (tasks.overlap).
It reports problems/s and scores/s and exits 1 when anything fails. `gym-survey` runs that check over reasoning-gym
generators, each in its own process with a time limit.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import re
import time
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

GOLD_TEMPLATE = "<think> checking the reference answer </think> <answer>{}</answer>"
_NUMERIC = re.compile(r"[-+]?\d+(?:\.\d+)?")


@dataclass
class CheckReport:
    name: str
    problems: int = 0
    gold_ok: int = 0
    wrong_ok: int = 0
    wrong_tried: int = 0  # other golds, near misses and hedges scored (each must score 0.0)
    problems_per_s: float = 0.0
    scores_per_s: float = 0.0
    build_s: float = 0.0
    prompt: str = ""
    overlap: str = ""  # the split-overlap line ("" when not measured)
    contamination: str = ""  # data tasks: the n-gram line
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and self.problems > 0


def list_tasks() -> list[tuple[str, str]]:
    from tasks.gym import GymTask
    from tasks.registry import TASKS, describe

    rows = [(name, describe(cls)) for name, cls in sorted(TASKS.items())]
    rows.append(("gym:<name>", describe(GymTask) + " (any of `r1zero tasks list --gym`)"))
    return rows


def _accuracy(res) -> float:
    return float(res.parts.get("accuracy", res.value))


def _scores(task, answer: str, problem) -> float:
    return _accuracy(task.score(GOLD_TEMPLATE.format(answer), problem))


def _other_gold(task, problems: list, i: int) -> str:
    """Another problem's gold that is a different answer by the task's own verifier (problem i's gold does not solve
    that problem), or plain prose when every other gold is the same answer."""
    gold = problems[i].answer.strip()
    for k in range(1, min(len(problems), 6)):  # a few candidates: each costs a score (a sandbox run for code)
        other = problems[(i + k) % len(problems)]
        text = other.answer.strip()
        if text and text != gold and _scores(task, gold, other) == 0.0:
            return text
    return "I do not know."


def near_misses(gold: str) -> list[str]:
    """Answers next to a numeric gold: gold - 1, gold + 1, and the first two differing adjacent digits swapped."""
    gold = gold.strip()
    if not _NUMERIC.fullmatch(gold):
        return []
    try:
        value = Decimal(gold)
    except InvalidOperation:
        return []
    out = [str(value - 1), str(value + 1)]
    for a in range(len(gold) - 1):
        if gold[a].isdigit() and gold[a + 1].isdigit() and gold[a] != gold[a + 1]:
            out.append(gold[:a] + gold[a + 1] + gold[a] + gold[a + 2:])
            break
    return out


def wrong_answers(task, problems: list, i: int) -> list[str]:
    """What problem i must score 0.0 for: another gold, the near misses, and two hedges of the gold with a wrong one."""
    other = _other_gold(task, problems, i)
    misses = near_misses(problems[i].answer)
    wrong = misses[0] if misses else other
    gold = problems[i].answer.strip()
    return [other, *misses, f"{wrong} or {gold}", f"{gold} or {wrong}"]


def _check_answers(task, problems: list, rep: CheckReport) -> None:
    for i, p in enumerate(problems):
        if not p.answer.strip():
            rep.failures.append(f"{p.id}: no gold answer")
            continue
        gold = task.score(GOLD_TEMPLATE.format(p.answer), p)
        if _accuracy(gold) == 1.0:
            rep.gold_ok += 1
        else:
            rep.failures.append(f"{p.id}: gold {p.answer[:80]!r} scored {_accuracy(gold)} ({gold.reason})")
        ok = True
        for text in wrong_answers(task, problems, i):
            rep.wrong_tried += 1
            wrong = task.score(GOLD_TEMPLATE.format(text), p)
            if _accuracy(wrong) != 0.0:
                ok = False
                rep.failures.append(f"{p.id}: wrong answer {text[:80]!r} scored {_accuracy(wrong)} ({wrong.reason})")
        rep.wrong_ok += ok


def _check_overlap(task, n: int, train_n: int, rep: CheckReport, allow_overlap: bool) -> None:
    from tasks.overlap import split_overlap

    ov = split_overlap(task, n, train_n)
    rep.overlap = ov.line()
    if ov.ngram is not None:
        rep.contamination = f"n-gram contamination of the test questions: {ov.ngram.line()}"
    if not ov.disjoint:
        msg = f"{ov.line()}; e.g. {', '.join(ov.examples)}"
        (rep.warnings if allow_overlap else rep.failures).append(msg)
    elif ov.ngram is not None and not ov.ngram.clean:
        rep.warnings.append(f"test questions close to training ones: {ov.ngram.line()}; e.g. {ov.ngram.examples[0]!r}")


def check_task(name: str, args: dict[str, Any] | None = None, n: int = 20, seed: int = 0,
               tokenizer: Any = None, overlap_n: int = 1000, allow_overlap: bool = False) -> CheckReport:
    """Build `name`, draw n problems per split, verify gold (accuracy 1.0) and wrong (0.0) answers, and measure the
    split overlap against overlap_n training problems (all of a finite split; 0 = skip)."""
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
    _check_answers(task, problems, rep)
    rep.scores_per_s = (rep.problems + rep.wrong_tried) / max(time.perf_counter() - t0, 1e-9)
    if overlap_n > 0:
        _check_overlap(task, n, overlap_n, rep, allow_overlap)
    return rep


def print_report(rep: CheckReport) -> None:
    print(f"task {rep.name}: {rep.problems} problems (train + test), built in {rep.build_s:.2f}s")
    print("prompt[0] (its end): …" + rep.prompt[-300:].replace("\n", "\n  "))
    print(f"gold answers scoring accuracy 1.0: {rep.gold_ok}/{rep.problems}; problems whose {rep.wrong_tried} "
          f"wrong answers (other golds, near misses, hedges) all score 0.0: {rep.wrong_ok}/{rep.problems}")
    for line in (rep.overlap, rep.contamination):
        if line:
            print(line)
    print(f"throughput: {rep.problems_per_s:,.0f} problems/s, {rep.scores_per_s:,.1f} scores/s")
    for w in rep.warnings:
        print("WARN " + w)
    for f in rep.failures[:10]:
        print("FAIL " + f)
    if len(rep.failures) > 10:
        print(f"... and {len(rep.failures) - 10} more failures")
    print("OK" if rep.ok else "FAILED")


def _survey_one(name: str, n: int, seed: int, size: int, queue) -> None:
    try:
        # no overlap measurement: some generators make ~1 problem/s, and the survey is about verifiers
        rep = check_task(f"gym:{name}", {"size": size}, n=n, seed=seed, overlap_n=0)
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


def parse_task_args(text: str | None) -> dict[str, Any]:
    """--args: a JSON object; anything else is one line saying what was wrong and what is expected."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"--args is not JSON ({e.msg} at character {e.pos}): {text[:80]!r}; write a JSON object, "
                         f"e.g. --args '{{\"digits\": 2}}'") from None
    if not isinstance(value, dict):
        raise ValueError("--args must be a JSON object, e.g. --args '{\"min_numbers\": 3}'")
    return value


def _cmd_check(args: argparse.Namespace) -> int:
    task_args = parse_task_args(args.args)
    tokenizer = None
    if args.model:
        from transformers import AutoTokenizer

        from r1zero.models import resolve_model

        tokenizer = AutoTokenizer.from_pretrained(resolve_model(args.model))
    try:
        rep = check_task(args.name, task_args, n=args.n, seed=args.seed, tokenizer=tokenizer,
                         overlap_n=args.overlap_n, allow_overlap=args.allow_overlap)
    except (KeyError, ValueError, FileNotFoundError):
        raise  # already one line for the user (the CLI prints it)
    except Exception as e:  # noqa: BLE001 - the task's own code failed: one line, the traceback on request
        if args.traceback:
            raise
        raise ValueError(f"task {args.name!r} failed: {type(e).__name__}: {str(e)[:300]} "
                         f"(--traceback shows where)") from None
    print_report(rep)
    return 0 if rep.ok else 1


def _cmd_overlap(args: argparse.Namespace) -> int:
    from tasks.overlap import file_contamination

    rep = file_contamination(args.train, args.eval, args.field, n=args.ngram)
    print(f"{args.eval} against {args.train}: {rep.line()}")
    for text in rep.examples:
        print(f"  e.g. {text!r}")
    print("CLEAN" if rep.clean else "CONTAMINATED")
    return 0 if rep.clean else 1


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
    p = subparsers.add_parser("tasks", help="list tasks, check a task's verifier and splits, data contamination, "
                                            "survey reasoning-gym generators")
    sub = p.add_subparsers(dest="tasks_cmd", required=True)
    ls = sub.add_parser("list", help="task names with one-line descriptions")
    ls.add_argument("--gym", action="store_true", help="list every reasoning-gym generator (usable as gym:<name>)")
    ls.set_defaults(fn=_cmd_list)
    ck = sub.add_parser("check", help="gold answers must score 1.0, wrong ones 0.0, splits be disjoint; exit 1 if not")
    ck.add_argument("name", help="task name: a registry name, gym:<generator>, or package.module:Class")
    ck.add_argument("--args", default=None, help="constructor arguments as a JSON object")
    ck.add_argument("-n", type=int, default=20, help="problems per split (default 20)")
    ck.add_argument("--seed", type=int, default=0)
    ck.add_argument("--model", default=None, help="render the prompt with this model's chat template (e.g. tiny)")
    ck.add_argument("--overlap-n", type=int, default=1000,
                    help="training problems the test problems are compared with (a finite split: all; 0 = skip)")
    ck.add_argument("--allow-overlap", action="store_true", help="report overlapping splits without failing")
    ck.add_argument("--traceback", action="store_true", help="show the traceback when the task's code raises")
    ck.set_defaults(fn=_cmd_check)
    ov = sub.add_parser("overlap", help="exact and n-gram contamination of an eval file by a training file")
    ov.add_argument("train", help="training data: .jsonl / .json / .parquet / .csv")
    ov.add_argument("eval", help="evaluation data, same formats")
    ov.add_argument("--field", default=None, help="the text column (default: question, problem, prompt or text)")
    ov.add_argument("--ngram", type=int, default=8, help="n of the word n-grams (default 8)")
    ov.set_defaults(fn=_cmd_overlap)
    sv = sub.add_parser("gym-survey", help="run `check` over reasoning-gym generators, each with a time limit")
    sv.add_argument("-n", type=int, default=3, help="problems per split per generator (default 3)")
    sv.add_argument("--time-limit", type=float, default=20.0, help="seconds per generator (default 20)")
    sv.add_argument("--size", type=int, default=10_000, help="dataset size passed to each generator (the task default)")
    sv.add_argument("--jobs", type=int, default=1, help="generators checked in parallel")
    sv.add_argument("--seed", type=int, default=0)
    sv.add_argument("--only", default=None, help="comma-separated generator names (default: all)")
    sv.add_argument("--json", default=None, help="write the full results to this file")
    sv.set_defaults(fn=_cmd_survey)
