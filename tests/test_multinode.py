"""A real two-node Ray cluster on this machine: `ray start --head` plus `ray start --address=...` as a second node.

Each node offers one custom resource (learner_node / rollout_node); the smoke config, run through $RAY_ADDRESS with
learner.ray_resources / rollout.ray_resources, must put the Learner on the head and the RolloutWorker on the other
node, and train to the end. The same cluster then takes the smoke config through `ray job submit`.

The cluster is private to this module: its own temp dir, its own ports, its own auth token, and it is stopped by
signalling the process groups of the two `ray start --block` commands, never with `ray stop` (which stops every Ray
on the machine, other tests' included).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).parent / "ray")
START_TIMEOUT_S = 90

# Runs in a separate driver process so that this pytest process never joins the cluster (other tests start their
# own local Ray in it). It waits until every named custom resource is offered, then prints the alive nodes with the
# custom resources each offers and every actor the cluster has known, live or dead, with the node it ran on (the
# GCS keeps finished actors; the state API would need the dashboard on every node).
INSPECT = r"""
import json, sys, time
import ray
from ray._private import state

ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
want = json.loads(sys.argv[2])
deadline = time.time() + 60
while time.time() < deadline and not all(ray.cluster_resources().get(r, 0) >= 1 for r in want):
    time.sleep(0.5)
nodes = {n["NodeID"]: sorted(k for k in n["Resources"] if k in want) for n in ray.nodes() if n["Alive"]}
actors = [{"id": a["ActorID"], "class": a["ActorClassName"], "node": a["Address"]["NodeID"], "state": a["State"]}
          for a in state.actors().values()]
print("INSPECT " + json.dumps({"nodes": nodes, "actors": actors}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    address: str
    dashboard: str
    env: dict[str, str]
    temp_dir: str
    nodes: list[subprocess.Popen] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def inspect(self) -> dict:
        out = subprocess.run([sys.executable, "-c", INSPECT, self.address, json.dumps(["learner_node", "rollout_node"])],
                             env=self.env, capture_output=True, text=True, timeout=120)
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("INSPECT ")]
        assert out.returncode == 0 and lines, out.stderr[-3000:]
        return json.loads(lines[-1][len("INSPECT "):])

    def node_of(self, resource: str, info: dict) -> str:
        [node] = [n for n, res in info["nodes"].items() if resource in res]
        return node

    def tail(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-2000:] for p in self.logs if p.exists())


def _start_node(cluster: Cluster, name: str, args: list[str]) -> None:
    """`ray start --block` in a session of its own: the group holds gcs/raylet/agents, so teardown can signal it."""
    log = Path(cluster.temp_dir) / f"{name}.log"
    cluster.logs.append(log)
    with log.open("w") as fh:
        proc = subprocess.Popen([RAY, "start", "--block", "--disable-usage-stats", *args], env=cluster.env,
                                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True, cwd=cluster.temp_dir)
    cluster.nodes.append(proc)
    deadline = time.time() + START_TIMEOUT_S
    while "Ray runtime started" not in log.read_text(errors="replace"):
        assert proc.poll() is None, f"ray start ({name}) exited {proc.returncode}:\n{cluster.tail()}"
        assert time.time() < deadline, f"ray start ({name}) not up after {START_TIMEOUT_S}s:\n{cluster.tail()}"
        time.sleep(0.5)


def _node_ports() -> list[str]:
    # Two raylets on one machine: every per-node listener that has a fixed default port gets a free one instead.
    return [f"--dashboard-agent-listen-port={_free_port()}", f"--metrics-export-port={_free_port()}"]


def _stop(cluster: Cluster) -> None:
    """SIGTERM to each node's process group, SIGKILL after a short grace: on SIGTERM `ray start --block` drains for
    up to 30 s, which a throwaway cluster does not need. Actor processes (a group of their own) exit with their
    raylet."""
    for proc in reversed(cluster.nodes):  # worker node first, then the head
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in cluster.nodes:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever of the group is left (gcs_server, monitor, ...)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def cluster():
    # A short path: Ray's unix sockets live under it and a socket path is limited to 107 bytes.
    temp_dir = tempfile.mkdtemp(prefix="r1zmn-", dir="/tmp")
    port, dashboard_port, client_port = _free_port(), _free_port(), _free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "OMP_WAIT_POLICY": "PASSIVE",
           # token auth as a real cluster has it, with a token of this cluster's own (not ~/.ray/auth_token)
           "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": uuid.uuid4().hex}
    env.pop("RAY_ADDRESS", None)
    c = Cluster(f"127.0.0.1:{port}", f"http://127.0.0.1:{dashboard_port}", env, temp_dir)
    try:
        # The head carries the dashboard: `ray job submit` talks to its job server.
        _start_node(c, "head", ["--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=1",
                                "--resources=" + json.dumps({"learner_node": 1}), f"--temp-dir={temp_dir}",
                                "--include-dashboard=true", "--dashboard-host=127.0.0.1",
                                f"--dashboard-port={dashboard_port}", f"--ray-client-server-port={client_port}",
                                *_node_ports()])
        _start_node(c, "worker", [f"--address={c.address}", "--node-ip-address=127.0.0.1", "--num-cpus=2",
                                  "--resources=" + json.dumps({"rollout_node": 1}), *_node_ports()])
        yield c
    finally:
        _stop(c)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _assert_trained(run: Path, steps: int) -> None:
    rows = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines() if ln.strip()]
    assert sorted({r["step"] for r in rows if "step" in r}) == list(range(steps)), rows
    assert (run / "final").is_dir() and any((run / "final").iterdir())


def _assert_placed(cluster: Cluster, before: dict, after: dict) -> None:
    """The run's new actors: the Learner on the learner_node node, every RolloutWorker on the rollout_node one."""
    seen = {a["id"] for a in before["actors"]}
    new = [a for a in after["actors"] if a["id"] not in seen and a["class"] in ("Learner", "RolloutWorker")]
    learner_node, rollout_node = cluster.node_of("learner_node", after), cluster.node_of("rollout_node", after)
    assert learner_node != rollout_node
    assert sorted(a["class"] for a in new) == ["Learner", "RolloutWorker"], new
    for a in new:
        assert a["node"] == (learner_node if a["class"] == "Learner" else rollout_node), (a, after["nodes"])


OVERRIDES = ["learner.ray_resources={learner_node: 1}", "rollout.ray_resources={rollout_node: 1}"]


def test_smoke_through_ray_address_places_actors_on_their_nodes(cluster, tmp_path):
    before = cluster.inspect()
    assert len(before["nodes"]) == 2, before["nodes"]
    run = tmp_path / "run"
    out = subprocess.run([sys.executable, "launch.py", "configs/smoke.yaml", f"train.output_dir={run}", *OVERRIDES],
                         cwd=ROOT, env={**cluster.env, "RAY_ADDRESS": cluster.address}, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-4000:] + cluster.tail()
    _assert_trained(run, 4)
    _assert_placed(cluster, before, cluster.inspect())


def test_missing_custom_resource_fails_in_one_line(cluster, tmp_path):
    # No node offers gpu_node: the run must stop at once, naming it, instead of waiting for the actor deadline.
    t0 = time.time()
    out = subprocess.run([sys.executable, "launch.py", "configs/smoke.yaml", f"train.output_dir={tmp_path / 'r'}",
                          "learner.ray_resources={gpu_node: 1}"], cwd=ROOT,
                         env={**cluster.env, "RAY_ADDRESS": cluster.address}, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2, out.stderr[-3000:]
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("r1zero: error:")]
    assert len(errors) == 1 and "gpu_node" in errors[0], out.stderr[-3000:]
    assert "Traceback" not in out.stderr
    assert time.time() - t0 < 60


def test_ray_job_submit(cluster, tmp_path):
    before = cluster.inspect()
    run = tmp_path / "job"
    # The entrypoint runs on the head in the job server's directory: cd to the checkout (same machine).
    entry = f"cd {ROOT} && exec {sys.executable} launch.py configs/smoke.yaml train.output_dir={run} train.steps=2 " \
            + " ".join(f"'{o}'" for o in OVERRIDES)
    out = subprocess.run([RAY, "job", "submit", "--address", cluster.dashboard, "--submission-id",
                          f"r1zero-{uuid.uuid4().hex[:8]}", "--", "bash", "-c", entry],
                         env=cluster.env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "succeeded" in out.stdout + out.stderr
    _assert_trained(run, 2)
    _assert_placed(cluster, before, cluster.inspect())
