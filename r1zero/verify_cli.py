"""`r1zero verify-audit TASK [--args JSON] [-n N]`: a task verifier's false-negative rate.

Takes N test problems of the task, rewrites each gold answer into other valid forms
(`rewards.math.audit.rewrite_forms`: LaTeX <-> plain, decimal <-> fraction, reordered sets and
lists, `\\frac` vs a/b, added `$...$` / `\\boxed{}`), scores every form through the task's own
`score` as `<think> x </think> <answer>FORM</answer>` and prints the share that scored 0 (each is a
correct answer the verifier would punish) with the failing forms. Exits 1 when any form fails,
2 on a usage error (`r1zero: error: ...`).
"""

from __future__ import annotations

import argparse
import json
import sys

TEMPLATE = "<think> x </think> <answer>{}</answer>"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify-audit", help="false-negative rate of a task's verifier on rewritten gold answers",
                       description=__doc__.split("\n\n")[1])
    p.add_argument("task", help="task name (r1zero tasks list)")
    p.add_argument("--args", default="{}", metavar="JSON", help="task constructor arguments as a JSON object")
    p.add_argument("-n", type=int, default=50, metavar="N", help="test problems to audit (default 50)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=20, metavar="K", help="failing forms to print (default 20)")
    p.set_defaults(fn=run)


def audit(task, n: int) -> dict:
    """Score every rewritten form of N test golds; the counts and the failing (gold, form, reason)."""
    from rewards.math.audit import rewrite_forms

    problems = task.problems("test", n)
    tried, failures = 0, []
    for problem in problems:
        for form in rewrite_forms(str(problem.answer)):
            tried += 1
            res = task.score(TEMPLATE.format(form), problem)
            if res.parts.get("accuracy", res.value) < 1.0:
                failures.append((str(problem.answer), form, res.reason))
    return {"problems": len(problems), "forms": tried, "failures": failures,
            "fn_rate": len(failures) / tried if tried else 0.0}


def run(args: argparse.Namespace) -> int:
    from tasks.registry import make_task

    try:
        task_args = json.loads(args.args)
    except json.JSONDecodeError as e:
        return _usage(f"--args is not JSON: {e}")
    if not isinstance(task_args, dict):
        return _usage("--args must be a JSON object, e.g. '{\"data_file\": \"x.jsonl\"}'")
    if args.n < 1:
        return _usage("-n must be at least 1")
    try:
        task = make_task(args.task, seed=args.seed, **task_args)
        out = audit(task, args.n)
    except (KeyError, ValueError, FileNotFoundError) as e:
        return _usage(str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e))
    print(f"{args.task}: {out['problems']} test problems, {out['forms']} rewritten gold forms, "
          f"{len(out['failures'])} scored 0: false-negative rate {100 * out['fn_rate']:.1f}%")
    for gold, form, reason in out["failures"][:args.limit]:
        print(f"  gold {gold!r}  form {form!r}  -> {reason}")
    if len(out["failures"]) > args.limit:
        print(f"  ... {len(out['failures']) - args.limit} more")
    return 1 if out["failures"] else 0


def _usage(msg: str) -> int:
    print(f"r1zero: error: {msg}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (`python -m r1zero.verify_cli TASK ...`) until r1zero/cli.py registers it."""
    parser = argparse.ArgumentParser(prog="r1zero")
    add_parser(parser.add_subparsers(dest="cmd", required=True))
    args = parser.parse_args(["verify-audit", *(sys.argv[1:] if argv is None else argv)])
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
