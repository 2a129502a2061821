"""Placement without a cluster: RAY_ADDRESS parsing, the dead-address probe, custom resources in the plan."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from r1zero.config import load_config
from r1zero.placement import PlacementError, _connect_failure, plan, probe, ray_address_endpoint, resources

ROOT = Path(__file__).resolve().parents[1]


def _closed_port() -> int:
    # Bound and released: nothing listens there for the next few seconds (the kernel does not hand it out at once).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("address, endpoint", [
    ("10.0.0.5:6380", ("10.0.0.5", 6380)),
    ("ray://head.example:10002", ("head.example", 10002)),
    ("ray://head.example", ("head.example", 10001)),
    ("http://127.0.0.1:8265/", ("127.0.0.1", 8265)),
    ("[::1]:7000", ("::1", 7000)),
    ("headnode", ("headnode", 6379)),
    ("local", None),
])
def test_address_endpoint(address, endpoint):
    assert ray_address_endpoint(address) == endpoint


def test_address_without_numeric_port_is_refused():
    with pytest.raises(PlacementError, match="not host:port"):
        ray_address_endpoint("127.0.0.1:http")


def test_probe_names_the_address_quickly():
    port = _closed_port()
    t0 = time.time()
    with pytest.raises(PlacementError, match=f"nothing listens at 127.0.0.1:{port}"):
        probe(f"127.0.0.1:{port}")
    assert time.time() - t0 < 5


def test_probe_passes_a_listening_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        probe(f"127.0.0.1:{s.getsockname()[1]}")  # no exception


def test_connect_failure_is_one_line_with_the_cause():
    # ray.init's ConnectionError says only "Failed to connect"; the reason is the last line of its cause.
    cause = RuntimeError("Failed to connect to GCS. Last connection error: Traceback (most recent call last):\n"
                         "  File x\nray.exceptions.AuthenticationError: RPC error: InvalidAuthToken: token missing\n")
    err = ConnectionError("Failed to connect to Ray cluster at 10.0.0.5:6379")
    err.__cause__ = cause
    msg = _connect_failure("10.0.0.5:6379", err)
    assert "\n" not in msg and "InvalidAuthToken: token missing" in msg and "RAY_AUTH_TOKEN" in msg
    assert _connect_failure("h:1", ConnectionError("refused")) == "RAY_ADDRESS=h:1: cannot join the Ray cluster: refused"


def test_custom_resources_reach_the_plan():
    cfg = load_config(ROOT / "configs/smoke.yaml", ["learner.ray_resources={learner_node: 1}",
                                                   "rollout.ray_resources={rollout_node: 0.5}", "rollout.num_workers=2"])
    assert resources(cfg)["learner"]["resources"] == {"learner_node": 1.0}
    actors = plan(cfg)
    assert [a["resources"] for a in actors] == [{"rollout_node": 0.5}, {"rollout_node": 0.5}, {"learner_node": 1.0}]
    assert resources(load_config(ROOT / "configs/smoke.yaml"))["rollout"]["resources"] == {}


def test_dead_ray_address_is_one_line_and_exit_2(tmp_path):
    port = _closed_port()
    env = {**os.environ, "RAY_ADDRESS": f"127.0.0.1:{port}", "OMP_WAIT_POLICY": "PASSIVE"}
    t0 = time.time()
    out = subprocess.run([sys.executable, "launch.py", "configs/smoke.yaml", f"train.output_dir={tmp_path / 'run'}"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    elapsed = time.time() - t0
    assert out.returncode == 2, out.stderr[-3000:]
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("r1zero: error: ") and f"127.0.0.1:{port}" in lines[0], lines
    assert "nothing listens" in lines[0]
    # ray.init on a dead address retries for minutes (3 min+ measured here, printing gRPC warnings). The probe
    # itself takes milliseconds (test_probe_names_the_address_quickly); what remains is start-up (imports, the
    # tokenizer): ~9 s on an idle 2-core machine, up to ~30 s when other test processes share the cores.
    assert elapsed < 45, elapsed
