"""Entry points: launch.py / `r1zero train` resolve configs, print placement, and turn user mistakes into one line."""

import subprocess
import sys

from r1zero.cli import main

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def test_dry_run_prints_config_and_placement(capsys):
    assert main(["train", str(ROOT / "configs/default.yaml"), "rollout.num_workers=2", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "model.name = 'smollm2-135m'" in out and "# " in out
    assert out.count('"actor": "RolloutWorker[') == 2 and '"actor": "Learner"' in out


def test_user_mistakes_are_one_line_exit_2(capsys):
    assert main(["train", str(ROOT / "configs/smoke.yaml"), "algo.clip_hihg=0.3", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "algo.clip_hihg" in err and "clip_high" in err
    assert main(["train", "configs/nope.yaml", "--dry-run"]) == 2
    assert "no such config file" in capsys.readouterr().err


def test_launch_py_has_no_traceback_on_bad_type():
    out = subprocess.run([sys.executable, "launch.py", "configs/smoke.yaml", "rollout.n=lots", "--dry-run"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "rollout.n" in out.stderr


def test_every_shipped_config_resolves():
    for path in sorted((ROOT / "configs").rglob("*.yaml")):
        assert main(["train", str(path), "--dry-run"]) == 0, path


def test_options_may_precede_or_follow_overrides(capsys):
    assert main(["train", "--dry-run", str(ROOT / "configs/smoke.yaml"), "train.steps=3"]) == 0
    assert "train.steps = 3" in capsys.readouterr().out
    assert main(["train", str(ROOT / "configs/smoke.yaml"), "--dry-run", "train.steps=5", "rollout.n=3"]) == 0
    out = capsys.readouterr().out
    assert "train.steps = 5" in out and "rollout.n = 3" in out


def test_registry_names_fail_when_the_config_loads(capsys):
    for bad, key in (("algo.estimator=ppo2", "algo.estimator"), ("data.tasks={nosuch: {weight: 1}}", "nosuch"),
                     ("algo.agg=sum", "algo.agg"), ("algo.loss=nope", "algo.loss"), ("rollout.n=1", "rollout.n")):
        assert main(["train", str(ROOT / "configs/smoke.yaml"), bad, "--dry-run"]) == 2, bad
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and key in err, err
