"""Where a training step's time goes, and how much r1zero adds over the bare engines.

Runs a few real steps of a config, then redoes the last step's work with the raw tools in fresh processes:
  - rollout: `vllm.LLM.generate` on the same prompts and sampling settings (no Ray, no r1zero)
  - learner: a bare torch forward + backward + AdamW step on the same token batch (no r1zero)
and prints per-phase times and the overhead ratios (r1zero phase time / bare tool time).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/step_breakdown.py configs/default.yaml [--steps 3] [k=v ...]
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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def bare_vllm(args: dict) -> dict:
    """Raw vLLM: same model, prompts, n, temperature, max_tokens, stop."""
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    os.environ["OMP_NUM_THREADS"] = str(args["threads"])
    from vllm import LLM, SamplingParams

    llm = LLM(model=args["model"], dtype="float32", seed=0, max_model_len=args["max_model_len"], enforce_eager=True,
              kv_cache_memory_bytes=args["kv_bytes"])
    sp = SamplingParams(n=args["n"], temperature=args["temperature"], max_tokens=args["max_tokens"],
                        stop=args["stop"] or None, include_stop_str_in_output=True, logprobs=0)
    llm.generate(args["prompts"][:1], sp, use_tqdm=False)  # warm-up, as the loop's engine is warm
    times, tokens = [], 0
    for _ in range(args["repeats"]):
        t0 = time.perf_counter()
        outs = llm.generate(args["prompts"], sp, use_tqdm=False)
        times.append(time.perf_counter() - t0)
        tokens = sum(len(c.token_ids) for o in outs for c in o.outputs)
    return {"seconds": statistics.median(times), "tokens": tokens}


def bare_torch(args: dict) -> dict:
    """Bare torch: one forward + backward + AdamW step over the same sequences, same micro-batch split and precision,
    written the obvious way (full-vocabulary logits at every position, no shared-prefix reuse)."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(args["threads"])
    model = AutoModelForCausalLM.from_pretrained(args["model"], dtype=torch.float32)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-6)
    micro = args["micro_batches"]  # list of lists of (prompt_len, completion_len)
    times = []
    for _ in range(args["repeats"]):
        t0 = time.perf_counter()
        opt.zero_grad()
        for rows in micro:
            T = max(p + c for p, c in rows)
            ids = torch.randint(0, model.config.vocab_size, (len(rows), T))
            mask = torch.zeros(len(rows), T)
            for i, (p, c) in enumerate(rows):
                mask[i, p : p + c] = 1
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args["bf16"]):  # the learner's precision
                logits = model(input_ids=ids).logits[:, :-1]
            lp = torch.log_softmax(logits.float(), -1).gather(2, ids[:, 1:, None])[..., 0]
            loss = -(lp * mask[:, 1:]).sum() / mask.sum()
            loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return {"seconds": statistics.median(times)}


def _subprocess(part: str, args: dict) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(args, f)
    out = subprocess.run([sys.executable, __file__, "--part", part, f.name], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{part} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("overrides", nargs="*")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--part", default=None)
    a = ap.parse_args()
    if a.part:
        fn = {"vllm": bare_vllm, "torch": bare_torch}[a.part]
        print(json.dumps(fn(json.loads(Path(a.config).read_text()))))
        return
    from r1zero.batching import to_train_batches
    from r1zero.config import load_config
    from r1zero.controller import train
    from r1zero.metrics import read_metrics
    from r1zero.traces import read_traces

    run_dir = tempfile.mkdtemp(prefix="bench_")
    atexit.register(shutil.rmtree, run_dir, True)  # a run leaves ~2 GB (final model + learner state)
    cfg = load_config(a.config, [*a.overrides, f"train.steps={a.steps}", f"train.output_dir={run_dir}",
                                 "train.checkpoint_every=0", "train.wandb=disabled"])
    out = train(cfg)
    rows = read_metrics(run_dir)[1:]  # step 0 includes warm-up effects
    phases = ["generate", "score", "train", "sync"]
    med = {p: statistics.median(r[f"time/{p}"] for r in rows) for p in phases}
    step_s = statistics.median(r["step_seconds"] for r in rows)
    last = read_traces(run_dir, (a.steps - 1, a.steps - 1))
    import ray

    ray.shutdown()
    # the same prompts as the last step, rendered by the trainer's own build path
    from r1zero import build

    mix = build.mixture(cfg)
    probs = mix.batch(a.steps - 1, cfg.data.prompts_per_step)
    render = build.renderer(cfg, build.load_tokenizer(out["final_model"]), mix.tasks)
    prompts = [render(p) for p in probs]
    spec, wk = build.sampling_spec(cfg, seed=0), build.worker_kwargs(cfg, 0)
    gen = _subprocess("vllm", {"model": out["final_model"], "prompts": prompts, "n": spec.n, "temperature": spec.temperature,
                               "max_tokens": spec.max_tokens, "stop": spec.stop, "threads": wk["threads"],
                               "max_model_len": wk["max_model_len"], "kv_bytes": wk["kv_cache_bytes"],
                               "repeats": a.repeats})
    from r1zero.types import Rollout, ScoredRollout

    # the learner's own token-budget split of the last step's (prompt, completion) lengths
    rows = [ScoredRollout(Rollout("", 0, [0] * p, [0] * c, "", [0.0] * c, "stop", 0), 0.0, {}, "")
            for p, c in zip(last["prompt_tokens"].tolist(), last["completion_tokens"].tolist())]
    batches = to_train_batches(rows, [1.0] * len(rows), pad_id=0,
                               max_tokens_per_micro_batch=cfg.learner.micro_batch_tokens)
    micro = [[(int(b.attention_mask[i].sum() - b.loss_mask[i].sum()), int(b.loss_mask[i].sum()))
              for i in range(b.input_ids.shape[0])] for b in batches]
    bare = _subprocess("torch", {"model": out["final_model"], "micro_batches": micro, "threads": cfg.learner.threads,
                                 "repeats": a.repeats, "bf16": cfg.learner.autocast_bf16})
    print(f"\nstep breakdown: {a.config} {' '.join(a.overrides)}  ({len(rows)} timed steps, median)")
    print(f"{'phase':<12}{'seconds':>10}{'share':>8}")
    for p in phases:
        print(f"{p:<12}{med[p]:>10.2f}{med[p] / step_s:>8.0%}")
    print(f"{'step':<12}{step_s:>10.2f}")
    print(f"\n{'':<28}{'r1zero s':>10}{'bare s':>10}{'ratio':>8}")
    print(f"{'rollout (vllm.generate)':<28}{med['generate']:>10.2f}{gen['seconds']:>10.2f}{med['generate'] / gen['seconds']:>8.2f}")
    print(f"{'learner (fwd+bwd+AdamW)':<28}{med['train']:>10.2f}{bare['seconds']:>10.2f}{med['train'] / bare['seconds']:>8.2f}")
    print(f"completion tokens last step: {int(last['completion_tokens'].sum())}, raw vLLM: {gen['tokens']}")


if __name__ == "__main__":
    main()
