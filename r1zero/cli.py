"""The `r1zero` command: train / tasks / traces / report / eval. User mistakes print one line and exit 2."""

from __future__ import annotations

import argparse
import json
import sys

from r1zero import evaluation, report, task_cli, trace_cli, verify_cli
from r1zero.config import ConfigError, describe, load_config
from r1zero.placement import PlacementError


def _train(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.overrides)
    if args.dry_run:
        from r1zero.placement import plan

        print("\n".join(describe(cfg)))
        print("\nplacement (Ray " + ("cluster at $RAY_ADDRESS" if _ray_address() else "local") + "):")
        for a in plan(cfg):
            print("  " + json.dumps(a))
        return 0
    if _ray_address():
        from r1zero.placement import probe

        probe(_ray_address())  # a dead address is one line in seconds, before the slow imports and model loading
    from r1zero.controller import RunStopped, train

    resume, restarts = args.resume, 0
    while True:
        try:
            out = train(cfg, resume=resume)
            break
        except RunStopped as e:
            command = " ".join(["python launch.py", *([args.config] if args.config else []), *args.overrides,
                                f"train.output_dir={cfg.train.output_dir}", "--resume"])
            where = f"last complete checkpoint: {e.checkpoint}" if e.checkpoint else "no checkpoint yet"
            if restarts < cfg.train.auto_resume:
                restarts += 1
                print(f"r1zero: {e.why}; {where}; resuming by itself ({restarts} of train.auto_resume="
                      f"{cfg.train.auto_resume})", file=sys.stderr)
                resume = True
                continue
            print(f"r1zero: run stopped: {e.why}; {where}; resume with: {command}", file=sys.stderr)
            return 1
    run = out["run_dir"]
    print(f"done. metrics: {run}/metrics.jsonl  traces: {run}/traces/  checkpoints: {run}/checkpoints/  "
          f"final model: {out['final_model']}")
    return 0


def _ray_address() -> str | None:
    import os

    return os.environ.get("RAY_ADDRESS")


COMMANDS = ("train", "tasks", "traces", "report", "eval", "verify-audit")
# Commands whose options may come before, between or after their positional overrides (`--resume train.steps=1`).
INTERMIXED = ("train", "eval")


def build_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    p = argparse.ArgumentParser(prog="r1zero", description="R1-Zero-style pure-RL trainer")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train with a config (YAML overrides of r1zero/config.py defaults)")
    t.add_argument("config", nargs="?", default=None, help="YAML file (optional)")
    t.add_argument("overrides", nargs="*", help="dotted overrides, e.g. algo.clip_high=0.28")
    t.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in train.output_dir")
    t.add_argument("--dry-run", action="store_true", help="print the resolved config and the actor placement")
    t.set_defaults(fn=_train)
    for module in (task_cli, trace_cli, report, evaluation, verify_cli):
        module.add_parser(sub)
    return p, sub


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, sub = build_parser()
    # `r1zero CONFIG.yaml k=v` (no subcommand) means train, like launch.py
    if argv and argv[0] not in COMMANDS and not argv[0].startswith("-"):
        argv = ["train", *argv]
    if argv and argv[0] in INTERMIXED:
        args = sub.choices[argv[0]].parse_intermixed_args(argv[1:])
    else:
        args = parser.parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except (ConfigError, FileNotFoundError, FileExistsError, KeyError, ValueError, PlacementError) as e:
        msg = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        print(f"r1zero: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
