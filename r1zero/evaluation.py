"""Held-out evaluation: `r1zero eval` (pass@1, maj@k, pass@k, best-of-n, lengths, a test-time scaling curve) and the
periodic evaluation the controller runs every `train.eval_every` steps.

Both sample the tasks' *test* split at the rollout temperature with a fixed sampler seed, score with the tasks' own
verifiers (the training reward's "accuracy" part), and count with the pure estimators of r1zero.eval_metrics.
vLLM and Ray are imported inside functions only: importing this module (the CLI does, for its subcommand list) is
cheap.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from r1zero import build
from r1zero import eval_metrics as est
from r1zero.config import Config, load_config
from tasks.overlap import seen_in_training

PASS = 1.0 - 1e-6  # a sample passes when its accuracy is 1 (partial credit, e.g. the digits task, does not pass)
EQUIV_TIMEOUT_S = 1.0  # per answer pair when clustering for majority votes
# a number not glued to a word or another number ("5-3" -> 5, 3), like the arithmetic reward's lenient extraction
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:/\d+)?(?![\d])")


# ------------------------------------------------------------------------------------- answers and results


def extract_vote(response: str) -> str | None:
    """The answer a response votes for: the math extractor's (<answer> tag, \\boxed{}, "the answer is"), else the
    last number after the reasoning, i.e. the same fallback as the arithmetic task's lenient reward, so a model that
    has not learned the format yet still votes for what it is scored on. response: the full assistant turn,
    including a prefilled '<think>'."""
    from rewards.math import extract_answer

    ans = extract_answer(response)
    if ans is not None:
        return ans
    found = _NUMBER.findall(response.rsplit("</think>", 1)[-1])
    return found[-1] if found else None


def _equivalent(rep: str, other: str) -> bool:
    from rewards.math import is_equivalent

    return is_equivalent(rep, other, timeout_s=EQUIV_TIMEOUT_S)


@dataclass
class ProblemResult:
    """The n scored samples of one problem (lists are [n], in sample order)."""

    problem_id: str
    task: str
    gold: str
    answers: list[str | None]  # extracted vote per sample
    clusters: list[int]  # equivalence cluster per sample (est.ABSTAIN for no answer)
    accuracy: list[float]  # the task verifier's accuracy part
    passed: list[float]  # 1.0 where accuracy == 1
    lengths: list[int]  # completion tokens
    truncated: list[bool]  # stopped by max_tokens
    formats: list[float]  # the task's format part (0 when the task has none)


def collect(problems: list, scored: list, tasks: dict[str, Any] | None = None) -> list[ProblemResult]:
    """Group scored rollouts by prompt (rollout.group_id = index into `problems`) and cluster their answers.
    problems: [P] Problem; scored: [P * n] ScoredRollout (votes are read from each rollout's full response);
    tasks: name -> Task; a task with an `extract_answer(response) -> str | None` method supplies its own votes (the
    answer its verifier grades), the others get extract_vote."""
    by_group: dict[int, list] = {}
    for s in scored:
        by_group.setdefault(s.rollout.group_id, []).append(s)
    out = []
    for g, p in enumerate(problems):
        samples = by_group.get(g, [])
        if not samples:
            raise RuntimeError(f"no samples came back for problem {p.id}")
        extract = getattr((tasks or {}).get(p.task), "extract_answer", None) or extract_vote
        answers = [extract(s.rollout.response) for s in samples]
        acc = [float(s.parts.get("accuracy", 0.0)) for s in samples]
        out.append(ProblemResult(
            p.id, p.task, p.answer, answers, est.cluster_answers(answers, _equivalent), acc,
            [1.0 if a >= PASS else 0.0 for a in acc], [len(s.rollout.completion_ids) for s in samples],
            [s.rollout.finish_reason == "length" for s in samples], [float(s.parts.get("format", 0.0)) for s in samples]))
    return out


def summarize(results: list[ProblemResult], k: int, *, seed: int = 0, max_subsets: int = 64) -> dict[str, Any]:
    """Headline metrics over problems, each with n >= k samples: pass@1 (mean over samples), maj@k, unbiased pass@k,
    best-of-n (oracle: any of the n samples accepted), mean accuracy (partial credit), format rate, lengths."""
    if not results:
        raise ValueError("no problems to summarize")
    counts = [(len(r.passed), int(sum(r.passed))) for r in results]
    lengths = [x for r in results for x in r.lengths]
    ok_len = [x for r in results for x, p in zip(r.lengths, r.passed) if p]
    bad_len = [x for r in results for x, p in zip(r.lengths, r.passed) if not p]
    out = {
        "problems": float(len(results)),
        "samples": float(len(lengths)),
        "pass@1": est.mean_pass_at_k(counts, 1),
        "maj@k": statistics.fmean(est.maj_at_k(r.clusters, r.passed, k, seed=(seed, i, k), max_subsets=max_subsets)
                                  for i, r in enumerate(results)),
        "pass@k": est.mean_pass_at_k(counts, k),
        "best_of_n": statistics.fmean(est.best_of_n(r.passed) for r in results),
        "accuracy_mean": statistics.fmean(a for r in results for a in r.accuracy),
        "format_rate": statistics.fmean(f for r in results for f in r.formats),
        "answer_rate": statistics.fmean(a is not None for r in results for a in r.answers),
        "truncation_rate": statistics.fmean(t for r in results for t in r.truncated),
        # None, not NaN, when there is no such sample: eval.json stays strict JSON for other readers
        "len_correct_mean": statistics.fmean(ok_len) if ok_len else None,
        "len_wrong_mean": statistics.fmean(bad_len) if bad_len else None,
    }
    out.update({f"len_{key}": v for key, v in est.length_stats(lengths).items()})
    return out


def scaling(results: list[ProblemResult], label: str, *, seed: int = 0, max_subsets: int = 64) -> dict[str, Any]:
    """The test-time scaling curve {"k", "pass_at_k", "maj_at_k", "label"} for k = 1, 2, 4, ... n."""
    n = min(len(r.passed) for r in results)
    curve = est.scaling_curve([(r.clusters[:n], r.passed[:n]) for r in results], est.scaling_ks(n), seed=seed,
                              max_subsets=max_subsets)
    return {**curve, "label": label}


# ------------------------------------------------------------------------------------- periodic evaluation


def eval_problems(cfg: Config, mixture: Any) -> tuple[list, int]:
    """The periodic eval's fixed test problems (step 0 of the mixture's stream over the test split: the same ones at
    every evaluation) and how many of them the run's training stream draws (0 when the splits are disjoint)."""
    problems = mixture.batch(0, cfg.train.eval_problems, split="test")
    return problems, seen_count(cfg, mixture, problems)


def seen_count(cfg: Config, mixture: Any, problems: list) -> int:
    """How many of `problems` the run's training stream draws. A curriculum draws each step's problems from a pool
    of `pool` x prompts_per_step candidates of the plain stream: a problem counts as seen when any candidate was it
    (an upper bound, whatever the draw)."""
    base, per = getattr(mixture, "base", mixture), cfg.data.prompts_per_step * getattr(mixture, "pool", 1)
    return seen_in_training(base, problems, cfg.train.steps, per)


def periodic_eval(cfg: Config, pool: Any, scorer: Any, render: Any, mixture: Any, show: Any = print,
                  problems: tuple[list, int] | None = None) -> dict[str, float]:
    """Evaluate the current policy on a fixed set of cfg.train.eval_problems test problems, rollout.n samples each,
    through the run's rollout workers (`pool`), scorer, prompt renderer and task mixture. `show` prints the summary
    line; `problems` is eval_problems(cfg, mixture), computed once per run. Returns "eval/..." metrics for the step's
    metrics line."""
    t0 = time.perf_counter()
    r = cfg.rollout
    problems, seen = problems or eval_problems(cfg, mixture)
    rollouts = pool.generate([render(p) for p in problems], list(range(len(problems))), [p.id for p in problems],
                             build.sampling_spec(cfg, seed=build.eval_seed(cfg)))
    scored, _ = scorer.score(rollouts, {p.id: p for p in problems})
    results = collect(problems, scored, mixture.tasks)
    s = summarize(results, r.n, seed=cfg.train.seed)
    m = {"eval/pass@1": s["pass@1"], "eval/maj@k": s["maj@k"], "eval/pass@k": s["pass@k"], "eval/k": float(r.n),
         "eval/accuracy_mean": s["accuracy_mean"], "eval/format_rate": s["format_rate"], "eval/len_mean": s["len_mean"],
         "eval/truncation_rate": s["truncation_rate"], "eval/seen_in_training": float(seen),
         "time/eval": time.perf_counter() - t0}
    show(f"eval: pass@1 {m['eval/pass@1']:.3f}  maj@{r.n} {m['eval/maj@k']:.3f}  pass@{r.n} {m['eval/pass@k']:.3f}  "
         f"len {m['eval/len_mean']:.0f}")
    return m


# ------------------------------------------------------------------------------------- which weights


@dataclass
class EvalModel:
    path: str  # an HF folder (or hub name) vLLM can load
    run_dir: Path | None  # the run it came from, if any (default output: RUN_DIR/eval)
    label: str


def _checkpoint_folder(ckpt: Path, base: str, tmp: Path) -> str:
    """An HF folder for a training checkpoint: the base model's config and tokenizer files, linked, plus the
    checkpoint's learner/model.safetensors (checkpoints hold weights only)."""
    weights = ckpt / "learner" / "model.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"checkpoint {ckpt} has no learner/model.safetensors")
    if not Path(base).is_dir():
        raise FileNotFoundError(f"checkpoint {ckpt}: base model {base!r} is not a local folder")
    folder = tmp / ckpt.name
    folder.mkdir()
    for f in Path(base).iterdir():
        if f.is_file() and not (f.name.startswith(("model", "pytorch_model")) and f.suffix in (".safetensors", ".bin", ".json")):
            (folder / f.name).symlink_to(f.resolve())
    (folder / "model.safetensors").symlink_to(weights.resolve())
    return str(folder)


def _run_config(run_dir: Path, cfg: Config) -> Config:
    """The run's own config (run_dir/config.json, written at start) when present: its base model built the checkpoint."""
    path = run_dir / "config.json"
    return load_config(path) if path.is_file() else cfg


def resolve_eval_model(arg: str | None, cfg: Config, tmp: Path) -> EvalModel:
    """--model: None (the config's model.name), an HF folder, a run dir (RUN_DIR/final, else its latest
    checkpoint), a checkpoint dir (RUN_DIR/checkpoints/step_N), or a model name resolve_model knows."""
    from r1zero import checkpoint
    from r1zero.models import EMBEDDED, resolve_model

    if arg is None:
        return EvalModel(resolve_model(cfg.model.name, cfg.model.tiny_seed), None, f"{Path(cfg.model.name).name} (base)")
    p = Path(arg).expanduser()
    if not p.exists():
        if arg in EMBEDDED or (re.fullmatch(r"[\w.-]+/[\w.-]+", arg) and not Path(arg.split("/")[0]).is_dir()):
            return EvalModel(resolve_model(arg, cfg.model.tiny_seed), None, arg)  # embedded or hub name
        raise FileNotFoundError(f"--model {arg}: no such file or directory")
    if not p.is_dir():
        raise ValueError(f"--model {arg}: expected a folder (HF model, run dir or checkpoint), got a file")
    if _is_hf_folder(p):
        run = p.parent if p.name == "final" else None
        return EvalModel(str(p.resolve()), run, f"{run.name} final" if run else p.name)
    if _is_hf_folder(p / "final"):
        return EvalModel(str((p / "final").resolve()), p, f"{p.name} final")
    if (p / "learner").is_dir():
        run = p.parent.parent
        run_cfg = _run_config(run, cfg)
        base = resolve_model(run_cfg.model.name, run_cfg.model.tiny_seed)
        return EvalModel(_checkpoint_folder(p, base, tmp), run, f"{run.name} {p.name}")
    latest = checkpoint.latest(p)
    if latest is not None:  # a run dir whose final model was not written (interrupted): its newest checkpoint
        return resolve_eval_model(str(latest), cfg, tmp)
    raise FileNotFoundError(f"--model {arg}: not an HF model folder (config.json + weights), a run dir (final/ or "
                            f"checkpoints/) or a checkpoint dir (learner/model.safetensors)")


def _is_hf_folder(p: Path) -> bool:
    """config.json beside weights (a run dir also holds a config.json: the run's, without weights)."""
    return (p / "config.json").is_file() and any(
        f.suffix in (".safetensors", ".bin") or f.name.endswith(".index.json") for f in p.iterdir())


# ------------------------------------------------------------------------------------- `r1zero eval`


def held_out_problems(tasks: dict[str, Any], count: int) -> list:
    """The first `count` test problems of every task (a fixed set: comparable across models and runs)."""
    return [p for task in tasks.values() for p in task.problems("test", count)]


def sample_and_score(cfg: Config, model_path: str, tasks: dict[str, Any], problems: list, n: int,
                     seed: int) -> tuple[list, float]:
    """n samples per problem from one in-process RolloutWorker, scored by the tasks' verifiers (with the config's
    reward processes and timeouts). Returns ([P * n] ScoredRollout, generation seconds)."""
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")  # the engine's start-up warnings would bury the table
    render = build.renderer(cfg, build.load_tokenizer(model_path), tasks)
    worker = build.local_worker(cfg, model_path)
    t0 = time.perf_counter()
    rollouts = worker.generate([render(p) for p in problems], list(range(len(problems))), [p.id for p in problems],
                               build.sampling_spec(cfg, seed=seed, n=n))
    gen_seconds = time.perf_counter() - t0
    del worker  # the engine's memory goes back before scoring
    scorer = build.scorer(cfg)
    try:
        scored, _ = scorer.score(rollouts, {p.id: p for p in problems})
    finally:
        scorer.close()
    return scored, gen_seconds


def merge_scaling(path: Path, curve: dict[str, Any]) -> list[dict[str, Any]]:
    """Curves to keep in scaling.json: those already there with other labels (e.g. 'base' before training), then
    this one. Written as one object when it is the only curve, else as a list."""
    old: list = []
    if path.is_file():
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError:
            data = []
        old = data if isinstance(data, list) else [data]
    keep = [c for c in old if isinstance(c, dict) and c.get("label") != curve["label"] and "k" in c]
    curves = [*keep, curve]
    path.write_text(json.dumps(curves[0] if len(curves) == 1 else curves, indent=1))
    return curves


def save_plot(curves: list[dict[str, Any]], path: Path) -> None:
    """The report's scaling plot, as a PNG file."""
    from matplotlib.figure import Figure

    from r1zero.report import draw_scaling

    fig = Figure(figsize=(6, 4), dpi=120, layout="constrained")
    draw_scaling(fig, curves)
    fig.savefig(path)


def print_tables(console: Any, summaries: dict[str, dict[str, Any]], curve: dict[str, Any], k: int, n: int) -> None:
    from rich.table import Table

    t = Table(title=f"r1zero eval: {curve['label']}  (k={k}, n={n} samples per problem; bo = best-of-n)")
    # short headers: the table must fit 80 columns (CI logs, pipes); eval.json has the long names
    for col in ("task", "probs", "pass@1", f"maj@{k}", f"pass@{k}", f"bo{n}", "fmt", "len", "len90", "trunc"):
        t.add_column(col, justify="left" if col == "task" else "right")
    for name, s in summaries.items():
        t.add_row(name, f"{s['problems']:.0f}", f"{s['pass@1']:.3f}", f"{s['maj@k']:.3f}", f"{s['pass@k']:.3f}",
                  f"{s['best_of_n']:.3f}", f"{s['format_rate']:.2f}", f"{s['len_mean']:.1f}", f"{s['len_p90']:.0f}",
                  f"{s['truncation_rate']:.2f}")
    console.print(t)
    c = Table(title="scaling")
    for col in ("k", "pass@k", "maj@k"):
        c.add_column(col, justify="right")
    for k_, p, m in zip(curve["k"], curve["pass_at_k"], curve["maj_at_k"]):
        c.add_row(str(k_), f"{p:.3f}", f"{m:.3f}")
    console.print(c)


def _guess_run_dir(arg: str | None) -> Path | None:
    """The run dir a --model argument points into (run dir, RUN_DIR/final, or a checkpoint), if any."""
    if arg is None:
        return None
    p = Path(arg).expanduser()
    for cand in (p, p.parent, p.parent.parent):
        if (cand / "config.json").is_file() and ((cand / "metrics.jsonl").is_file() or (cand / "checkpoints").is_dir()):
            return cand
    return None


def run_eval(cfg: Config, *, model: str | None, k: int, n: int, problems: int, out: str | None, label: str | None,
             seed: int, max_subsets: int = 64, console: Any = None) -> dict[str, Any]:
    """The whole `r1zero eval`: sample, score, estimate, write eval.json / samples.jsonl / scaling.json / scaling.png.
    Returns the eval.json record."""
    from rich.console import Console

    if k < 1 or problems < 1:
        raise ValueError(f"eval needs k >= 1 and --problems >= 1, got k={k}, problems={problems}")
    if n < k:
        raise ValueError(f"eval: k={k} needs at least k samples per problem, got -n {n}")
    if max_subsets < 1:
        raise ValueError(f"eval: --subsets must be >= 1, got {max_subsets}")
    # a pipe or log file gets 120 columns (rich's 80 would truncate the headers); a terminal keeps its width
    console = console or Console(width=None if sys.stdout.isatty() else 120)
    tmp = Path(tempfile.mkdtemp(prefix="r1zero-eval-"))
    try:
        em = resolve_eval_model(model, cfg, tmp)
        out_dir = Path(out) if out else (em.run_dir / "eval" if em.run_dir else Path("eval"))
        out_dir.mkdir(parents=True, exist_ok=True)
        label = label or em.label
        tasks = build.tasks(cfg)
        probs = held_out_problems(tasks, problems)
        seen = seen_count(cfg, build.mixture(cfg), probs)
        console.print(f"eval: {seen} of {len(probs)} test problems were drawn by the config's training stream "
                      f"({cfg.train.steps} steps x {cfg.data.prompts_per_step} prompts)", markup=False)
        console.print(f"eval: {label} ({em.path}) on {len(probs)} test problems x {n} samples, T={cfg.rollout.temperature}",
                      markup=False)
        t0 = time.perf_counter()
        scored, gen_seconds = sample_and_score(cfg, em.path, tasks, probs, n, seed)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results = collect(probs, scored, tasks)
    by_task: dict[str, list[ProblemResult]] = {}
    for r in results:
        by_task.setdefault(r.task, []).append(r)
    summaries = {name: summarize(rs, k, seed=seed, max_subsets=max_subsets) for name, rs in by_task.items()}
    if len(by_task) > 1:
        summaries["all"] = summarize(results, k, seed=seed, max_subsets=max_subsets)
    curve = scaling(results, label, seed=seed, max_subsets=max_subsets)
    record = {
        "label": label, "model": em.path, "model_arg": model, "date": datetime.date.today().isoformat(), "k": k, "n": n,
        "seed": seed, "problems_per_task": problems, "seen_in_training": seen, "tasks": {t: s.args for t, s in cfg.data.tasks.items()},
        "sampling": {"temperature": cfg.rollout.temperature, "top_p": cfg.rollout.top_p,
                     "max_tokens": cfg.rollout.max_tokens, "stop": list(cfg.rollout.stop)},
        "metrics": summaries, "scaling": curve, "generate_seconds": gen_seconds,
        "seconds": time.perf_counter() - t0, "per_problem": [asdict(r) for r in results],
    }
    (out_dir / "eval.json").write_text(json.dumps(record, indent=1))
    with (out_dir / "samples.jsonl").open("w") as f:
        in_problem_order = sorted(scored, key=lambda x: x.rollout.group_id)  # stable: collect()'s order
        for s, ans in zip(in_problem_order, [a for r in results for a in r.answers]):
            f.write(json.dumps({"problem_id": s.rollout.problem_id, "response": s.rollout.response, "vote": ans,
                                "reward": s.reward, "parts": s.parts, "reason": s.reason,
                                "tokens": len(s.rollout.completion_ids), "finish_reason": s.rollout.finish_reason}) + "\n")
    curves = merge_scaling(out_dir / "scaling.json", curve)
    save_plot(curves, out_dir / "scaling.png")
    print_tables(console, summaries, curve, k, n)
    console.print(f"wrote {out_dir}/eval.json, samples.jsonl, scaling.json, scaling.png", markup=False)
    return record


def add_parser(sub: Any) -> None:
    e = sub.add_parser("eval", help="evaluate a model on the config's test split: pass@1, maj@k, pass@k, scaling curve")
    e.add_argument("config", nargs="?", default=None,
                   help="YAML file (optional; default: the run's config.json when --model is a run, else the defaults)")
    e.add_argument("overrides", nargs="*", help="dotted overrides, e.g. rollout.temperature=0.6")
    e.add_argument("--model", default=None, help="HF folder, run dir (uses RUN_DIR/final), checkpoint dir "
                   "(RUN_DIR/checkpoints/step_N), or a model name; default: the config's model.name")
    e.add_argument("-k", type=int, default=8, help="k of maj@k and pass@k (default 8)")
    e.add_argument("-n", "--samples", type=int, default=None, help="samples per problem, >= k (default k)")
    e.add_argument("--problems", type=int, default=None, help="test problems per task (default train.eval_problems)")
    e.add_argument("--out", default=None, help="output folder (default RUN_DIR/eval for a run, else ./eval)")
    e.add_argument("--label", default=None, help="curve label in scaling.json (default: from the model)")
    e.add_argument("--seed", type=int, default=None, help="sampler seed (default train.seed + 7777777)")
    e.add_argument("--subsets", type=int, default=64, help="random size-k subsets per problem for maj@k (default 64)")
    e.set_defaults(fn=_cmd)


def _cmd(args: argparse.Namespace) -> int:
    config, overrides = args.config, list(args.overrides)
    if config is not None and "=" in config and not Path(config).is_file():
        config, overrides = None, [config, *overrides]  # `r1zero eval model.name=tiny ...`: no config file given
    if config is None:
        run = _guess_run_dir(args.model)
        config = str(run / "config.json") if run is not None else None
    cfg = load_config(config, overrides)
    n = args.samples if args.samples is not None else args.k
    run_eval(cfg, model=args.model, k=args.k, n=n, problems=args.problems if args.problems is not None else cfg.train.eval_problems, out=args.out,
             label=args.label, seed=args.seed if args.seed is not None else build.eval_seed(cfg),
             max_subsets=args.subsets)
    return 0
