"""`r1zero eval` and periodic evaluation: input checking, checkpoint loading, and real runs on the tiny model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from r1zero.cli import main
from r1zero.config import load_config

ROOT = Path(__file__).resolve().parents[1]
TINY = ["model.name=tiny", "rollout.kv_cache_gib=0.25", "rollout.max_model_len=512", "rollout.max_tokens=8",
        "reward.num_workers=0", "train.wandb=disabled"]


def _cli(args: list[str], timeout: int = 240) -> subprocess.CompletedProcess:
    """The real command in a fresh process: vLLM's CPU thread binding stays out of the test process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "r1zero.cli", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, env=env)


@pytest.mark.parametrize("args, message", [
    (["-k", "4", "-n", "2"], "needs at least k samples"),
    (["-k", "0"], "k >= 1"),
    (["--problems", "0"], "--problems >= 1"),
    (["--model", "no/such/folder/here"], "no such file or directory"),
    (["--subsets", "0"], "--subsets must be >= 1"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, capsys, tmp_path):
    assert main(["eval", *TINY, "--out", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_model_that_is_a_file_or_not_a_model(tmp_path, capsys):
    (tmp_path / "x.txt").write_text("x")
    assert main(["eval", *TINY, "--model", str(tmp_path / "x.txt")]) == 2
    assert "got a file" in capsys.readouterr().err
    assert main(["eval", *TINY, "--model", str(tmp_path)]) == 2
    assert "not an HF model folder" in capsys.readouterr().err


def test_checkpoint_dir_becomes_an_hf_folder(tmp_path, tiny_path):
    """A checkpoint holds weights only: config and tokenizer come from the run's base model."""
    import shutil

    from transformers import AutoConfig, AutoTokenizer

    from r1zero.evaluation import _guess_run_dir, resolve_eval_model

    run = tmp_path / "run"
    ckpt = run / "checkpoints" / "step_000002"
    (ckpt / "learner").mkdir(parents=True)
    shutil.copy(Path(tiny_path) / "model.safetensors", ckpt / "learner" / "model.safetensors")
    cfg = load_config(None, ["model.name=tiny"])
    (run / "config.json").write_text(json.dumps(cfg.model_dump()))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    for arg in (ckpt, run):  # a run dir without final/ falls back to its newest checkpoint
        m = resolve_eval_model(str(arg), cfg, tmp)
        folder = Path(m.path)
        assert m.run_dir == run and m.label == "run step_000002"
        assert (folder / "model.safetensors").resolve() == (ckpt / "learner" / "model.safetensors").resolve()
        assert AutoConfig.from_pretrained(folder).model_type == "llama"
        assert AutoTokenizer.from_pretrained(folder)("1 + 2").input_ids
        shutil.rmtree(folder)
        assert _guess_run_dir(str(arg)) == run


def test_scaling_json_keeps_other_labels(tmp_path):
    from r1zero.evaluation import merge_scaling

    path = tmp_path / "scaling.json"
    base = {"k": [1, 2], "pass_at_k": [0.1, 0.2], "maj_at_k": [0.1, 0.1], "label": "base"}
    merge_scaling(path, base)
    assert json.loads(path.read_text()) == base  # one curve: a plain object
    trained = {**base, "pass_at_k": [0.5, 0.7], "label": "trained"}
    merge_scaling(path, trained)
    assert [c["label"] for c in json.loads(path.read_text())] == ["base", "trained"]
    merge_scaling(path, {**trained, "pass_at_k": [0.6, 0.8]})  # re-evaluating a label replaces its curve
    got = json.loads(path.read_text())
    assert [c["label"] for c in got] == ["base", "trained"] and got[1]["pass_at_k"] == [0.6, 0.8]


class _FakePool:
    """Stands in for the Ray rollout pool: per problem, 2 right answers then 2 copies of one wrong answer."""

    def __init__(self, problems_by_id):
        self.problems, self.calls = problems_by_id, []

    def generate(self, prompts, group_ids, problem_ids, spec):
        from r1zero.types import Rollout

        self.calls.append((list(problem_ids), spec.seed))
        out = []
        for g, pid in zip(group_ids, problem_ids):
            gold = int(self.problems[pid].answer)
            for j in range(spec.n):
                ans = gold if j < 2 else gold + 1
                out.append(Rollout(pid, g, [1], [5] * (3 + j), f" x </think> <answer>{ans}</answer>", [0.0] * (3 + j),
                                   "stop", 1, spec.prefill))
        return out


def test_periodic_eval_with_a_fake_pool():
    from r1zero import build
    from r1zero.evaluation import periodic_eval
    from r1zero.rewarding import RewardScorer
    from tasks.registry import TaskMixture

    cfg = load_config(None, [*TINY, "data.tasks={arithmetic: {}}", "rollout.n=4", "train.eval_problems=3"])
    mixture = TaskMixture({"arithmetic": (1.0, {})}, 0)
    pool = _FakePool({p.id: p for p in mixture.batch(0, 3, split="test")})
    shown: list[str] = []
    run_eval = lambda: periodic_eval(cfg, pool, RewardScorer({"arithmetic": {}}, 0, 0, 5.0), lambda p: p.prompt,  # noqa: E731
                                     mixture, shown.append)
    m = run_eval()
    # per problem: 2 of 4 right; the vote is a 2-2 tie won by the right answer (it comes first)
    assert m["eval/pass@1"] == pytest.approx(0.5)
    assert m["eval/pass@k"] == 1.0 and m["eval/maj@k"] == 1.0 and m["eval/k"] == 4.0
    assert m["eval/len_mean"] == pytest.approx(4.5) and m["eval/format_rate"] == 1.0
    run_eval()
    (ids1, seed1), (ids2, seed2) = pool.calls
    assert ids1 == ids2 == [f"arithmetic/test/{i}" for i in range(3)]  # the same held-out problems every time
    assert seed1 == seed2 == build.eval_seed(cfg)
    assert len(shown) == 2 and shown[0].startswith("eval: pass@1 0.500")


def test_a_task_can_supply_its_own_votes():
    from types import SimpleNamespace

    from r1zero.evaluation import collect
    from r1zero.types import Problem, Rollout, ScoredRollout

    p = Problem("t/test/0", "t", "q", "42")
    scored = [ScoredRollout(Rollout(p.id, 0, [1], [2], text, [0.0], "stop", 0), 1.0, {"accuracy": 1.0}, "correct", "t")
              for text in ("the answer is 41", "the answer is 41", "the answer is 42")]
    assert collect([p], scored)[0].answers == ["41", "41", "42"]  # the math extractor
    task = SimpleNamespace(extract_answer=lambda response: response[-1])  # a task's own parser
    assert collect([p], scored, {"t": task})[0].answers == ["1", "1", "2"]


def _check_outputs(out: Path, problems: int, n: int) -> dict:
    record = json.loads((out / "eval.json").read_text())
    assert record["n"] == n and len(record["per_problem"]) == problems
    m = record["metrics"]["arithmetic"]
    for key in ("pass@1", "maj@k", "pass@k", "best_of_n", "len_mean", "len_p90", "truncation_rate", "format_rate"):
        assert 0 <= m[key] <= (8 if key.startswith("len") else 1), (key, m[key])
    assert m["pass@1"] <= m["pass@k"] <= m["best_of_n"] + 1e-9
    assert len((out / "samples.jsonl").read_text().splitlines()) == problems * n
    curve = json.loads((out / "scaling.json").read_text())
    assert set(curve) == {"k", "pass_at_k", "maj_at_k", "label"}
    assert curve["pass_at_k"] == sorted(curve["pass_at_k"])  # pass@k never falls with k
    assert curve["pass_at_k"][0] == pytest.approx(m["pass@1"])
    assert (out / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return record


@pytest.mark.integration
def test_eval_cli_on_tiny_model(tmp_path):
    out = tmp_path / "eval"
    p = _cli(["eval", *TINY, "data.tasks={arithmetic: {}}", "-k", "4", "--problems", "4", "--out", str(out)])
    assert p.returncode == 0, p.stderr[-3000:]
    record = _check_outputs(out, problems=4, n=4)
    assert record["scaling"]["k"] == [1, 2, 4] and record["label"] == "tiny (base)"
    assert "maj@4" in p.stdout and "pass@4" in p.stdout


@pytest.mark.integration
def test_periodic_eval_during_training_then_eval_a_checkpoint(tmp_path, ray_cluster):
    from r1zero.controller import train
    from r1zero.metrics import read_metrics

    run = tmp_path / "run"
    cfg = load_config(None, [*TINY, "data.tasks={arithmetic: {}}", "train.steps=2", "train.eval_every=1",
                             "train.eval_problems=4", "data.prompts_per_step=2", "rollout.n=4",
                             "learner.micro_batch_tokens=2048", "train.checkpoint_every=1", f"train.output_dir={run}"])
    train(cfg)
    rows = read_metrics(run)
    assert [r["step"] for r in rows] == [0, 1]
    for r in rows:
        for key in ("eval/pass@1", "eval/maj@k", "eval/pass@k", "eval/len_mean", "eval/k", "time/eval"):
            assert key in r, key
        assert 0 <= r["eval/pass@1"] <= r["eval/pass@k"] <= 1 and r["eval/k"] == 4
        assert 0 < r["eval/len_mean"] <= 8
    # the same run's checkpoint through the CLI: config from RUN/config.json, output to RUN/eval
    p = _cli(["eval", "--model", str(run / "checkpoints" / "step_000001"), "-k", "2", "--problems", "2"])
    assert p.returncode == 0, p.stderr[-3000:]
    record = _check_outputs(run / "eval", problems=2, n=2)
    assert record["label"] == "run step_000001"
