"""Run untrusted Python (model-written code) in a jailed child process and collect its function's outputs.

    res = run_function(source, "add", [[1, 2], [3, 4]], timeout_s=4)
    res.status   # "ok" | "timeout" | "crashed" | "setup_error"
    res.outputs  # [{"value": 3}, {"value": 7}] or [{"error": "TypeError: ..."}] per call; None if the module failed
    res.load_error, res.violations, res.layers  # why it failed / what was blocked / which isolation layers held

The child is `python -I -S -B rewards/sandbox/child.py` (stdlib only, with jail.py and seccomp.py beside it); it
sets itself up, then runs the source as a module and calls `entry(*args)` for every call. The hidden *expected*
values never enter the child: it reports plain-JSON outputs and the caller compares them, so a solution cannot
fake a pass by printing or exiting early. Threat model and layers in detail: docs/security.md.

Layers, strongest first (each one is tried; `layers` says which held):
 1. namespaces: fresh network (no interfaces up: no TCP/UDP, not even loopback), PID (the solution is PID 1 of
    its own namespace, with its own /proc: no other process is visible, and everything left dies with it) and
    mount namespaces. In the mount namespace the child builds a new root and pivots into it: an empty read-only
    tmpfs holding only the Python installation (read-only binds), /dev/null|zero|urandom, its /proc, and a
    size-capped noexec tmpfs /tmp as working dir with an empty HOME in it. /etc, /home, /root, the repository
    (which holds the built-in hidden tests), the problem files and the `hide` dirs simply do not exist there.
    As root directly; otherwise through a user namespace (then all capabilities are dropped afterwards).
 2. uid: when started as root, the child drops to a per-sandbox unprivileged uid (BASE_UID + caller pid) with no
    groups and no_new_privs; after the run every process of that uid is SIGKILLed (kill(-1) as that uid).
 3. rlimits: address space (memory), CPU seconds, file size, open files, and RLIMIT_NPROC=1 (no fork, no threads).
 4. seccomp: an allow-list syscall filter (seccomp.py): escape-only syscalls (mount, unshare, setns, ptrace,
    execve, bpf, ...) kill the child, the rest not on the list (socket, clone, kill, ...) fail with EPERM.
 5. an audit hook (PEP 578) refusing sockets, fork/exec/subprocess, ctypes, and writes outside the working dir, so
    the usual attempts fail fast with a clear `violations` entry. Audit hooks are not a security boundary on their
    own (C code can bypass them); layers 1-4 are the boundary.
Always: allow-listed environment (PATH, LANG, HOME, TMPDIR), a new session, wall-clock timeout with SIGKILL of the
process group, PR_SET_PDEATHSIG (the child dies with its caller), bounded and escaped result and log reads.
A layer that cannot be set up is reported in `layers` and logged once per process as a warning, never silently.

Not guaranteed: no cgroup, so CPU is bounded in seconds but not in share; a kernel bug reachable through the
allowed syscalls escapes; without namespaces (no root, no user namespaces) there is no network or filesystem
isolation beyond seccomp and the audit hook, and without root no separate uid.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "child.py")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # holds the tests: hidden
BASE_UID = 1_500_000  # per-sandbox uids BASE_UID + pid: unused by real accounts, unique among concurrent callers
RESULT_CAP = 8 << 20  # bytes of result JSON read back at most
LOG_CAP = 4096  # bytes of the child's stdout/stderr kept (its tail) for error messages
ERROR_CAP = 300  # characters kept of any error / violation string the child reports
SETUP_FAILED = 3  # the child's exit status when it could not isolate itself (child.SETUP_FAILED)
# Layers a default sandbox should get; a missing one is logged once (a degraded machine must not go unnoticed).
EXPECTED_LAYERS = ("net", "pidns", "new_root", "seccomp")


@dataclass
class SandboxResult:
    status: str  # ok (the child finished and reported), timeout, crashed (killed by a signal / no report), setup_error
    outputs: list[dict] | None = None  # per call: {"value": plain JSON} or {"error": "Type: message"}
    load_error: str | None = None  # the module itself raised ("SyntaxError: ...", "MemoryError: ...")
    violations: list[str] = field(default_factory=list)  # audit-hook refusals ("socket.__new__"), "seccomp"
    layers: dict[str, Any] = field(default_factory=dict)  # isolation layers that held in the child
    log_tail: str = ""  # last bytes of the child's stdout+stderr (escaped)
    seconds: float = 0.0


# ------------------------------------------------------------------------------------------------------- caller side

def run_function(source: str, entry: str | None, calls: list[list], *, timeout_s: float = 4.0, memory_mb: int = 1024,
                 fsize_mb: int = 16, hide: tuple[str, ...] = (), namespaces: bool = True, audit: bool = True,
                 force_userns: bool = False, seccomp: bool = True) -> SandboxResult:
    """Run `source` as a module in a jailed child, then `entry(*args)` for each args list in `calls` (JSON data).

    entry=None only runs the module. hide: directories that must never be visible (besides this repository,
    which holds the built-in hidden tests): never bound into the child's root, covered if inside a bound dir.
    namespaces/audit/seccomp/force_userns switch layers off/on for tests.
    Never raises for anything the source does; the caller's process is never at risk.
    """
    start = time.monotonic()
    _sweep_stale()
    base = tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-")
    uid = _pick_uid() if os.geteuid() == 0 and not force_userns else None
    try:
        os.chmod(base, 0o711)  # the child may traverse, not list
        work = os.path.join(base, "work")
        os.mkdir(work, 0o700)
        if uid is not None:
            os.chown(work, uid, uid)
        for name in ("in", "log", "result"):  # root-only files: the child gets them as open fds, and no other
            os.close(os.open(os.path.join(base, name), os.O_CREAT | os.O_WRONLY, 0o600))  # sandbox can read them
        cfg = {"uid": uid, "memory_mb": memory_mb, "cpu_s": int(timeout_s) + 1, "wall_s": timeout_s + 0.3,
               "fsize_mb": fsize_mb,
               "namespaces": namespaces, "audit": audit, "seccomp": seccomp,
               "userns": force_userns or os.geteuid() != 0, "parent": os.getpid(),
               "hide": sorted({REPO, *(os.path.abspath(h) for h in hide)})}
        with open(os.path.join(base, "in"), "w+b") as fin, open(os.path.join(base, "log"), "r+b") as flog, \
                open(os.path.join(base, "result"), "r+b") as fres:
            cfg["result_fd"] = fres.fileno()  # inherited under the same number (pass_fds)
            # cfg and job on stdin, not in argv: /proc/1/cmdline inside the sandbox shows no hidden paths
            fin.write(json.dumps({"cfg": cfg, "job": {"source": source, "entry": entry, "calls": calls}}).encode())
            fin.seek(0)
            timed_out, rc = _spawn(cfg, fin, flog, fres, work, timeout_s)
            tail = _tail(flog)
            fres.seek(0)
            raw = fres.read(RESULT_CAP)
    finally:
        if uid is not None:
            kill_uid(uid)
        shutil.rmtree(base, ignore_errors=True)
    res = _parse_result(raw, timed_out, rc, tail)
    res.seconds = time.monotonic() - start
    if res.status == "ok" and namespaces and seccomp:
        _warn_degraded(res.layers)
    return res


_PREFIX = "r1zero-sbx-"
_swept = False
_warned: set[str] = set()


def _sweep_stale() -> None:
    """Once per process: remove the temp dirs of callers that died mid-run (a scoring worker SIGKILLed by its pool
    never reaches its cleanup); their names carry the caller's pid."""
    global _swept
    if _swept:
        return
    _swept = True
    tmp = tempfile.gettempdir()
    for name in os.listdir(tmp):
        pid = name[len(_PREFIX):].split("-", 1)[0]
        if name.startswith(_PREFIX) and pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            shutil.rmtree(os.path.join(tmp, name), ignore_errors=True)


def _warn_degraded(layers: dict) -> None:
    missing = [k for k in EXPECTED_LAYERS if not layers.get(k) and k not in _warned]
    if missing:
        _warned.update(missing)
        why = {k: layers[k] for k in ("namespace_error", "seccomp_error", "proc") if k in layers}
        log.warning("code sandbox degraded on this machine: layers %s did not hold (%s); see docs/security.md",
                    missing, why)


def _spawn(cfg: dict, fin, flog, fres, work: str, timeout_s: float) -> tuple[bool, int]:
    # the whole environment of the child: nothing of the caller's (tokens, paths) is inherited
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": work, "TMPDIR": work}
    proc = subprocess.Popen([sys.executable, "-I", "-S", "-B", CHILD], stdin=fin, stdout=flog, stderr=flog,
                            pass_fds=(fres.fileno(),), cwd=work, env=env, start_new_session=True, close_fds=True)
    try:
        # + interpreter start-up, which is not the solution's time; the child's launcher enforces timeout_s + 0.3
        # itself (it reaps what it kills), this is the backstop
        return False, proc.wait(timeout=timeout_s + 1.0)
    except subprocess.TimeoutExpired:
        _killpg(proc.pid)
        return True, proc.wait()
    finally:
        _killpg(proc.pid)  # whatever the child left in its session


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _pick_uid() -> int:
    """BASE_UID + pid when the user namespace maps it (all uids on a plain host), else nobody."""
    uid = BASE_UID + os.getpid()  # pids are unique among live processes, and pid_max <= 2**22
    try:
        with open("/proc/self/uid_map") as f:
            ranges = [tuple(map(int, line.split())) for line in f if line.strip()]
    except OSError:
        return uid
    return uid if any(lo <= uid < lo + n for lo, _, n in ranges) else 65534


def kill_uid(uid: int) -> None:
    """SIGKILL every process of `uid`: a forked helper becomes that uid and calls kill(-1), which the kernel applies
    atomically to all processes it may signal (those of the uid), so nothing can fork its way out of it."""
    pid = os.fork()
    if pid == 0:  # the helper: only syscalls, then _exit (no Python cleanup in a forked copy of the caller)
        code = 0
        try:
            os.setgid(uid)
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)
        except OSError:
            code = 1  # ESRCH: nothing left of that uid
        os._exit(code)
    os.waitpid(pid, 0)


def _tail(f) -> str:
    f.seek(0, os.SEEK_END)
    f.seek(max(0, f.tell() - LOG_CAP))
    return clean(f.read().decode("utf-8", "replace"), LOG_CAP, multiline=True)


def clean(text: Any, cap: int = ERROR_CAP, multiline: bool = False) -> str:
    """A string the child produced, safe to log or show: capped, and every non-printable character (terminal
    escapes, NULs, and newlines unless multiline) escaped, so it cannot forge log lines or drive a terminal."""
    s = str(text)
    s = s if len(s) <= cap else s[:cap] + "..."
    keep = "\n\t" if multiline else ""
    return "".join(c if c.isprintable() or c in keep else repr(c)[1:-1] for c in s)


def _outputs(data: Any) -> list[dict] | None:
    """The child's per-call outputs, keeping only well-formed entries (values stay data, errors get cleaned)."""
    if not isinstance(data, list):
        return None
    out = []
    for o in data:
        if isinstance(o, dict) and "value" in o:
            out.append({"value": o["value"]})
        else:
            out.append({"error": clean(o.get("error") if isinstance(o, dict) else "malformed output")})
    return out


def _parse_result(raw: bytes, timed_out: bool, rc: int, tail: str) -> SandboxResult:
    if timed_out or rc in (-signal.SIGXCPU, -signal.SIGKILL) and not raw:
        return SandboxResult("timeout", log_tail=tail)
    if rc == -signal.SIGSYS:  # the seccomp filter killed it: an escape-only syscall
        return SandboxResult("crashed", load_error="killed by the seccomp filter", violations=["seccomp"],
                             log_tail=tail)
    if rc == SETUP_FAILED and "sandbox setup failed" in tail:
        return SandboxResult("setup_error", log_tail=tail)
    try:
        data = json.loads(raw)
    except ValueError:
        return SandboxResult("crashed", load_error=f"exit status {rc}", log_tail=tail)
    if not isinstance(data, dict):
        return SandboxResult("crashed", load_error="malformed report", log_tail=tail)
    load_error, layers, violations = data.get("load_error"), data.get("layers"), data.get("violations")
    return SandboxResult("ok", _outputs(data.get("outputs")), None if load_error is None else clean(load_error),
                         [clean(v, 80) for v in violations[:20]] if isinstance(violations, list) else [],
                         dict(layers) if isinstance(layers, dict) else {}, tail)


def isolation_report() -> dict[str, Any]:
    """Which layers a default sandbox gets on this machine (runs a trivial child)."""
    return run_function("x = 1", None, []).layers


__all__ = ["BASE_UID", "ERROR_CAP", "SandboxResult", "clean", "isolation_report", "kill_uid", "run_function"]
