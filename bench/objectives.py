"""The objectives bake-off: the same task, model, seed and step budget for each objective, one run after the other.

    OMP_WAIT_POLICY=PASSIVE VLLM_ENABLE_V1_MULTIPROCESSING=0 .venv/bin/python bench/objectives.py --out runs/bakeoff \
        [--config configs/default.yaml] [--steps 40] [--eval-every 5] \
        [--objectives grpo,dr_grpo,rloo,reinforce_pp,dpo,ipo,kto,orpo,simpo,gae] \
        [--arm random:reward.control=random --arm fmt:reward.control=format_only] [key=value ...]

Each arm is the config plus the trailing key=value overrides (all arms) plus the arm's own overrides; a named
objective's overrides are in ARMS below, an `--arm name:key=val,key=val` is any override set (control arms). Every arm
writes its run to OUT/<arm>/ (a finished one is reused, a partial one resumed from its last checkpoint) and the
periodic held-out evaluation (train.eval_every) gives pass@1 over the run. Writes OUT/objectives.md (one table),
OUT/objectives.png (held-out pass@1 against samples generated and against training minutes) and OUT/results.json.

Samples: prompts_per_step x rollout.n per step plus dynamic sampling's extra generations. Minutes: the sum of the
steps' step_seconds (generation, scoring, training, sync, logging; the periodic eval is not in them). Entropy,
training format rate and response length: means over the last three steps.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# A named objective -> its overrides (applied over the config, so an arm changes only what defines it). dr_grpo sets
# its aggregation explicitly: configs/default.yaml sets algo.agg, which would win over the dr-grpo preset.
ARMS: dict[str, list[str]] = {
    "grpo": ["algo.estimator=grpo"],
    "dr_grpo": ["algo.estimator=dr_grpo", "algo.agg=seq_sum_norm"],
    "rloo": ["algo.estimator=rloo"],
    "reinforce_pp": ["algo.estimator=reinforce_pp"],
    "dpo": ["algo.objective=dpo"],
    "ipo": ["algo.objective=ipo"],
    "kto": ["algo.objective=kto"],
    "orpo": ["algo.objective=orpo"],
    "simpo": ["algo.objective=simpo"],
    "gae": ["algo.estimator=gae", "learner.drop_zero_advantage=false"],  # a critic's token advantages are not 0
}
DEFAULT_OBJECTIVES = "grpo,dr_grpo,rloo,reinforce_pp,dpo,ipo,kto,orpo,simpo,gae"


def parse_arm(spec: str) -> tuple[str, list[str]]:
    """'name:key=val,key=val' -> (name, ['key=val', ...]). A comma splits only before the next `key=`, so a value
    may hold commas ('algo.objective_args={beta: 0.1, pairs_per_group: 2}')."""
    name, sep, rest = spec.partition(":")
    if not sep or not re.fullmatch(r"[\w.-]+", name):
        raise SystemExit(f"--arm {spec!r}: expected name:key=val,key=val")
    overrides = [x.strip() for x in re.split(r",(?=\s*[\w.]+=)", rest) if x.strip()]
    if not all("=" in o for o in overrides):
        raise SystemExit(f"--arm {spec!r}: every override needs key=value")
    return name, overrides


def arms_of(objectives: str, extra: list[str]) -> dict[str, list[str]]:
    arms: dict[str, list[str]] = {}
    for name in (x.strip() for x in objectives.split(",") if x.strip()):
        if name not in ARMS:
            raise SystemExit(f"unknown objective {name!r}; known: {', '.join(ARMS)} (or pass --arm name:key=val)")
        arms[name] = ARMS[name]
    for spec in extra:
        name, overrides = parse_arm(spec)
        arms[name] = overrides
    return arms


def run_arm(config: str, common: list[str], arm: list[str], out: Path, steps: int, eval_every: int) -> list[dict]:
    """Train one arm (or reuse / resume its run in `out`); its metrics records."""
    import ray

    from r1zero.config import load_config
    from r1zero.controller import train
    from r1zero.metrics import read_metrics

    done = read_metrics(out)
    if len(done) >= steps:
        return done
    cfg = load_config(config, [*common, *arm, f"train.steps={steps}", f"train.output_dir={out}",
                               f"train.eval_every={eval_every}", "train.wandb=disabled"])
    try:
        train(cfg, resume=bool(done))
    finally:
        ray.shutdown()
    return read_metrics(out)


def summarize(records: list[dict], samples_per_step: int) -> dict:
    """The curve (samples, minutes, pass@1 at each periodic eval) and the end-of-run figures of one arm."""
    samples = minutes = 0.0
    curve = []
    for r in records:
        samples += samples_per_step + r.get("dynamic/extra_generations", 0.0)
        minutes += r.get("step_seconds", 0.0) / 60
        if "eval/pass@1" in r:
            curve.append({"step": r["step"] + 1, "samples": samples, "minutes": minutes, "pass@1": r["eval/pass@1"],
                          "format": r.get("eval/format_rate"), "len": r.get("eval/len_mean")})
    tail = records[-3:]
    last3 = lambda k: statistics.fmean(r[k] for r in tail) if tail and all(k in r for r in tail) else None  # noqa: E731
    return {"steps": len(records), "samples": samples, "minutes": minutes, "curve": curve,
            "pass@1": curve[-1]["pass@1"] if curve else None, "eval_format": curve[-1]["format"] if curve else None,
            "entropy": last3("entropy"), "format_rate": last3("format_rate"), "response_len": last3("response_len_mean"),
            "reward_mean": last3("reward_mean")}


def _f(x: float | None, fmt: str = ".3f") -> str:
    return "-" if x is None else format(x, fmt)


def table(results: dict[str, dict], header: str) -> str:
    lines = [header, "",
             "| arm | held-out pass@1 (end) | pass@1 over the run | samples | minutes | eval format rate (end) | "
             "train format rate | entropy | response tokens | train reward |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, s in results.items():
        if "error" in s:
            lines.append(f"| {name} | failed: {s['error']} | | | | | | | | |")
            continue
        over = " → ".join(f"{p['pass@1']:.2f}" for p in s["curve"]) or "-"
        lines.append(f"| {name} | {_f(s['pass@1'])} | {over} | {s['samples']:.0f} | {s['minutes']:.1f} | "
                     f"{_f(s['eval_format'])} | {_f(s['format_rate'])} | {_f(s['entropy'])} | "
                     f"{_f(s['response_len'], '.1f')} | {_f(s['reward_mean'])} |")
    lines += ["", "Entropy, train format rate, response tokens, train reward: means over the last three steps. "
              "Minutes: training steps only (the periodic eval excluded)."]
    return "\n".join(lines) + "\n"


def plot(results: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for name, s in results.items():
        if "error" in s or not s["curve"]:
            continue
        for ax, x in zip(axes, ("samples", "minutes")):
            ax.plot([p[x] for p in s["curve"]], [p["pass@1"] for p in s["curve"]], marker="o", ms=3, label=name)
    axes[0].set_xlabel("samples generated")
    axes[1].set_xlabel("training minutes")
    axes[0].set_ylabel("held-out pass@1")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("overrides", nargs="*", help="key=value overrides for every arm")
    ap.add_argument("--out", required=True, help="folder for the runs, the table and the plot")
    ap.add_argument("--config", default="configs/default.yaml")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--eval-every", type=int, default=5, help="held-out eval every N steps (should divide --steps)")
    ap.add_argument("--objectives", default=DEFAULT_OBJECTIVES, help="comma-separated names from ARMS ('' for none)")
    ap.add_argument("--arm", action="append", default=[], help="name:key=val,key=val (any override set)")
    a = ap.parse_args()
    if a.steps % a.eval_every:
        raise SystemExit(f"--eval-every {a.eval_every} does not divide --steps {a.steps}: no eval at the end")
    from r1zero.config import load_config

    arms = arms_of(a.objectives, a.arm)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    for name, arm in arms.items():
        cfg = load_config(a.config, [*a.overrides, *arm])  # a mistake in an arm fails here, before anything runs
        print(f"== arm {name}: {' '.join(arm)}", flush=True)
        try:
            records = run_arm(a.config, a.overrides, arm, out / name, a.steps, a.eval_every)
        except Exception as e:  # noqa: BLE001 - one failed arm must not lose the hour of the others
            results[name] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:200]}
            print(f"   arm {name} failed: {results[name]['error']}", flush=True)
            continue
        results[name] = {**summarize(records, cfg.data.prompts_per_step * cfg.rollout.n), "overrides": arm}
        (out / "results.json").write_text(json.dumps(results, indent=1))
    header = (f"# Objectives bake-off\n\n`{a.config}` {' '.join(a.overrides)}, {a.steps} steps, held-out eval every "
              f"{a.eval_every} steps. Arms: " + "; ".join(f"**{n}** `{' '.join(o)}`" for n, o in arms.items()))
    (out / "objectives.md").write_text(table(results, header))
    (out / "results.json").write_text(json.dumps(results, indent=1))
    plot(results, out / "objectives.png")
    print((out / "objectives.md").read_text())


if __name__ == "__main__":
    main()
