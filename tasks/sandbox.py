"""Run untrusted Python (model-written code) in a jailed child process and collect its function's outputs.

    res = run_function(source, "add", [[1, 2], [3, 4]], timeout_s=4)
    res.status   # "ok" | "timeout" | "crashed" | "setup_error"
    res.outputs  # [{"value": 3}, {"value": 7}] or [{"error": "TypeError: ..."}] per call; None if the module failed
    res.load_error, res.violations, res.layers  # why it failed / what was blocked / which isolation layers held

The child is `python -I -S -B tasks/sandbox.py` (this file, stdlib only); it sets itself up, then runs the source as
a module and calls `entry(*args)` for every call. The hidden *expected* values never enter the child: it reports
plain-JSON outputs and the caller compares them, so a solution cannot fake a pass by printing or exiting early.

Layers, strongest first (each one is tried; `layers` says which held):
 1. namespaces: a fresh network namespace (no interfaces up: no TCP/UDP, no host abstract unix sockets) and a private
    mount namespace where every mount is remounted read-only, the working dir is a fresh size-capped tmpfs, and
    this repository (which holds the built-in hidden tests) and the `hide` dirs are covered by empty tmpfs mounts.
    As root directly; otherwise through a user namespace (then all capabilities are dropped afterwards).
 2. uid: when started as root, the child drops to a per-sandbox unprivileged uid (BASE_UID + caller pid) with no
    groups and no_new_privs: root-owned files are not writable, other processes not signalable, and after the run
    every process of that uid is SIGKILLed (kill(-1) as that uid), which also catches anything that left the group.
 3. rlimits: address space (memory), CPU seconds, file size, open files, and RLIMIT_NPROC=1 (no fork, no threads).
 4. an audit hook (PEP 578) refusing sockets, fork/exec/subprocess, ctypes, and writes outside the working dir, so
    the usual attempts fail fast with a clear `violations` entry. Audit hooks are not a security boundary on their
    own (C code can bypass them); layers 1-3 are the boundary.
Always: a new session, wall-clock timeout with SIGKILL of the process group, PR_SET_PDEATHSIG (the child dies with
its caller), bounded result and log reads. Only the stdlib modules in PREIMPORT are guaranteed importable (the
interpreter may live under a root-only path).

Not guaranteed: no seccomp filter (the whole syscall surface is there: a kernel exploit escapes); no cgroup, so
CPU is bounded in seconds but not in share, and memory per process (one process: NPROC=1); world-readable files
outside the hidden dirs can be read (not written); without namespaces (no root, no user namespaces) there is no
network or filesystem isolation beyond the audit hook, and without root no separate uid.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # hidden from the child: it holds the tests
BASE_UID = 1_500_000  # per-sandbox uids BASE_UID + pid: unused by real accounts, unique among concurrent callers
RESULT_CAP = 8 << 20  # bytes of result JSON read back at most
LOG_CAP = 4096  # bytes of the child's stdout/stderr kept (its tail) for error messages
PREIMPORT = (
    "abc", "array", "bisect", "cmath", "collections", "collections.abc", "copy", "dataclasses", "datetime", "decimal",
    "enum", "fractions", "functools", "heapq", "io", "itertools", "json", "math", "numbers", "operator", "random",
    "re", "statistics", "string", "textwrap", "traceback", "typing", "unicodedata", "runpy", "pkgutil",
)
_BLOCKED_EVENTS = frozenset({
    "socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo", "socket.gethostbyname", "socket.sendto",
    "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.exec", "os.system", "subprocess.Popen",
    "ctypes.dlopen", "ctypes.dlsym", "ctypes.call_function", "pty.spawn", "os.chroot",
})
# Modules whose only use in a solution would be an escape attempt: refused at import with a clear violation.
_BLOCKED_MODULES = frozenset({
    "socket", "_socket", "ssl", "_ssl", "select", "selectors", "asyncio", "subprocess", "_posixsubprocess",
    "multiprocessing", "_multiprocessing", "ctypes", "_ctypes", "pty", "urllib.request", "http.client", "ftplib",
    "smtplib", "telnetlib", "xmlrpc.client", "resource",
})
_PATH_EVENTS = frozenset({"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.link",
                          "os.symlink", "os.truncate", "os.utime", "shutil.rmtree", "os.mkfifo", "os.mknod"})
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


@dataclass
class SandboxResult:
    status: str  # ok (the child finished and reported), timeout, crashed (killed by a signal / no report), setup_error
    outputs: list[dict] | None = None  # per call: {"value": plain JSON} or {"error": "Type: message"}
    load_error: str | None = None  # the module itself raised ("SyntaxError: ...", "MemoryError: ...")
    violations: list[str] = field(default_factory=list)  # audit-hook refusals, e.g. "socket.__new__"
    layers: dict[str, Any] = field(default_factory=dict)  # isolation layers that held in the child
    log_tail: str = ""  # last bytes of the child's stdout+stderr
    seconds: float = 0.0


# ------------------------------------------------------------------------------------------------------- caller side

def run_function(source: str, entry: str | None, calls: list[list], *, timeout_s: float = 4.0, memory_mb: int = 1024,
                 fsize_mb: int = 16, hide: tuple[str, ...] = (), namespaces: bool = True, audit: bool = True,
                 force_userns: bool = False) -> SandboxResult:
    """Run `source` as a module in a jailed child, then `entry(*args)` for each args list in `calls` (JSON data).

    entry=None only runs the module. hide: directories made invisible (an empty tmpfs over them) besides this
    repository, which holds the built-in hidden tests. namespaces/audit/force_userns switch layers off/on for tests.
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
        with open(os.path.join(base, "in"), "w") as fin:
            json.dump({"source": source, "entry": entry, "calls": calls}, fin)
        cfg = {"uid": uid, "memory_mb": memory_mb, "cpu_s": int(timeout_s) + 1, "fsize_mb": fsize_mb,
               "namespaces": namespaces, "audit": audit, "userns": force_userns or os.geteuid() != 0,
               "parent": os.getpid(), "hide": sorted({REPO, *(os.path.abspath(h) for h in hide)})}
        with open(os.path.join(base, "in"), "rb") as fin, open(os.path.join(base, "log"), "r+b") as flog, \
                open(os.path.join(base, "result"), "r+b") as fres:
            cfg["result_fd"] = fres.fileno()
            timed_out, rc = _spawn(cfg, work, fin, flog, fres, timeout_s)
            log = _tail(flog)
            fres.seek(0)
            raw = fres.read(RESULT_CAP)
    finally:
        if uid is not None:
            kill_uid(uid)
        shutil.rmtree(base, ignore_errors=True)
    res = _parse_result(raw, timed_out, rc, log)
    res.seconds = time.monotonic() - start
    return res


_PREFIX = "r1zero-sbx-"
_swept = False


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


def _spawn(cfg: dict, work: str, fin, flog, fres, timeout_s: float) -> tuple[bool, int]:
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": work, "TMPDIR": work}
    proc = subprocess.Popen([sys.executable, "-I", "-S", "-B", os.path.abspath(__file__), json.dumps(cfg)],
                            stdin=fin, stdout=flog, stderr=flog, pass_fds=(fres.fileno(),), cwd=work, env=env,
                            start_new_session=True, close_fds=True)
    try:
        return False, proc.wait(timeout=timeout_s + 0.5)  # + interpreter start-up, which is not the solution's time
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
    return f.read().decode("utf-8", "replace")


def _parse_result(raw: bytes, timed_out: bool, rc: int, log: str) -> SandboxResult:
    if timed_out or rc in (-signal.SIGXCPU, -signal.SIGKILL) and not raw:
        return SandboxResult("timeout", log_tail=log)
    if rc == 3 and "sandbox setup failed" in log:
        return SandboxResult("setup_error", log_tail=log)
    try:
        data = json.loads(raw)
    except ValueError:
        return SandboxResult("crashed", load_error=f"exit status {rc}", log_tail=log)
    if not isinstance(data, dict):
        return SandboxResult("crashed", load_error="malformed report", log_tail=log)
    outputs = data.get("outputs")
    return SandboxResult("ok", outputs if isinstance(outputs, list) else None, data.get("load_error"),
                         [str(v) for v in data.get("violations") or []], dict(data.get("layers") or {}), log)


def isolation_report() -> dict[str, Any]:
    """Which layers a default sandbox gets on this machine (runs a trivial child)."""
    return run_function("x = 1", None, []).layers


# -------------------------------------------------------------------------------------------------------- child side
# Everything below runs inside the child (this file as a script), first as the caller's user, then unprivileged.

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET = 0x00020000, 0x10000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = (
    1, 2, 4, 8, 32, 4096, 16384, 1 << 18)
_OPT_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": 1024, "nodiratime": 2048,
              "relatime": 1 << 21, "strictatime": 1 << 24}
PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG = 38, 1


class SetupError(RuntimeError):
    pass


def _libc():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    return libc, ctypes


def _mounts() -> list[tuple[str, int]]:
    """(mount point, per-mount flags to keep) for every mount, from /proc/self/mountinfo."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")  # \040 etc. are octal escapes
            flags = sum(_OPT_FLAGS.get(opt, 0) for opt in fields[5].split(","))
            out.append((point, flags))
    return out


def _hide(libc, paths: list[str], work: str) -> list[str]:
    """An empty read-only tmpfs over each directory (never over one that contains the working dir)."""
    hidden = []
    for path in paths:
        if os.path.isdir(path) and not (work + os.sep).startswith(path.rstrip(os.sep) + os.sep):
            flags = MS_RDONLY | MS_NOSUID | MS_NODEV
            if libc.mount(b"tmpfs", path.encode(), b"tmpfs", flags, b"size=4k,mode=755") == 0:
                hidden.append(path)
    return hidden


def _namespaces(work: str, size_mb: int, userns: bool, uid: int | None, layers: dict, hide: list[str]) -> None:
    """New net + mount namespaces: a tmpfs working dir, every other mount read-only; records progress in `layers`
    as it goes (a later failure must still see that a user namespace exists). Raises SetupError."""
    libc, ctypes = _libc()
    my_uid, my_gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNS | CLONE_NEWNET | (CLONE_NEWUSER if userns else 0)
    if libc.unshare(flags) != 0:
        raise SetupError(f"unshare: {os.strerror(ctypes.get_errno())}")
    layers.update(net=True, userns=userns)
    if userns:  # map ourselves to root inside so mount() is permitted; capabilities are dropped later
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {my_uid} 1"), ("gid_map", f"0 {my_gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:  # nothing we do may reach the host
        raise SetupError(f"make-private: {os.strerror(ctypes.get_errno())}")
    owner = f",uid={uid},gid={uid}" if uid is not None else ""
    opts = f"size={size_mb * 4}m,mode=700,nr_inodes=4096{owner}".encode()
    if libc.mount(b"tmpfs", work.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, opts) != 0:
        raise SetupError(f"tmpfs: {os.strerror(ctypes.get_errno())}")
    os.chdir(work)  # enter the new tmpfs (the old cwd is the directory underneath it)
    failed = []
    for point, keep in _mounts():
        if point == work or not point.startswith("/"):
            continue
        if libc.mount(None, point.encode(), None, MS_REMOUNT | MS_BIND | MS_RDONLY | keep, None) != 0:
            failed.append(point)
    if "/" in failed:
        raise SetupError("could not make / read-only")
    layers.update(readonly_fs=not failed, readonly_failed=failed[:8], tmpfs_work=True,
                  hidden=_hide(libc, hide, work))


def _drop_caps() -> None:
    """Clear every capability (user-namespace path: we are 'root' inside it and must not remount things back)."""
    libc, ctypes = _libc()
    hdr = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    data = (ctypes.c_uint32 * 6)()
    if libc.capset(hdr, data) != 0:
        raise SetupError(f"capset: {os.strerror(ctypes.get_errno())}")


def _limits(cfg: dict) -> None:
    mem = cfg["memory_mb"] << 20
    for res, value in ((resource.RLIMIT_AS, mem), (resource.RLIMIT_CPU, cfg["cpu_s"]),
                       (resource.RLIMIT_FSIZE, cfg["fsize_mb"] << 20), (resource.RLIMIT_NOFILE, 64),
                       (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NPROC, 1)):
        resource.setrlimit(res, (value, value))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails with EFBIG instead of killing us


def _drop_uid(uid: int) -> None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise SetupError("setuid did not take")


def _audit_hook(root: str, violations: list):
    root = os.path.realpath(root)

    def outside(path: Any) -> bool:
        if isinstance(path, int):
            return False  # an fd we already hold
        try:
            p = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return True
        return p != root and not p.startswith(root + os.sep)

    def hook(event: str, args: tuple) -> None:
        bad = event in _BLOCKED_EVENTS
        if event == "import" and args and args[0] in _BLOCKED_MODULES:
            event, bad = f"import {args[0]}", True
        elif event == "open" and len(args) >= 3:
            mode, flags = args[1] or "", args[2] or 0
            bad = (any(c in str(mode) for c in "wax+") or flags & _WRITE_FLAGS) and outside(args[0])
        elif event in _PATH_EVENTS:
            bad = any(outside(a) for a in args[:2] if isinstance(a, (str, bytes, os.PathLike)))
        if bad:
            violations.append(event)
            raise PermissionError(f"sandbox: {event} is not allowed")

    return hook


def _plain(x: Any, depth: int = 0) -> Any:
    """A function's return value as plain JSON data (tuples -> lists, sets -> sorted lists)."""
    if depth > 50:
        raise ValueError("output nested too deep")
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if isinstance(x, (list, tuple)):
        return [_plain(v, depth + 1) for v in x]
    if isinstance(x, (set, frozenset)):
        return sorted((_plain(v, depth + 1) for v in x), key=repr)
    if isinstance(x, dict):
        return {str(k): _plain(v, depth + 1) for k, v in x.items()}
    raise TypeError(f"output of type {type(x).__name__} is not plain data")


def _err(e: BaseException) -> str:
    return f"{type(e).__name__}: {str(e)[:200]}"


def _harness(job: dict, violations: list) -> dict:
    import runpy

    out: dict[str, Any] = {"outputs": None, "load_error": None}
    with open("solution.py", "w") as f:
        f.write(job["source"])
    try:
        ns = runpy.run_path("solution.py", run_name="solution")
    except BaseException as e:  # noqa: BLE001 - whatever the model's module does (SystemExit too) is its failure
        out["load_error"] = _err(e)
        return out
    if job["entry"] is None:
        out["outputs"] = []
        return out
    fn = ns.get(job["entry"])
    if not callable(fn):
        out["load_error"] = f"MissingFunction: no function named {job['entry']!r}"
        return out
    results = []
    for args in job["calls"]:
        try:
            value = _plain(fn(*args))
            if len(json.dumps(value)) > 1 << 20:
                raise ValueError("output larger than 1 MiB")
            results.append({"value": value})
        except BaseException as e:  # noqa: BLE001 - one failing call fails that test only
            results.append({"error": _err(e)})
    out["outputs"] = results
    return out


def _setup(cfg: dict, work: str, layers: dict) -> None:
    """Namespaces (best effort: recorded in layers), pre-imports, rlimits, then the uid drop (must succeed)."""
    if cfg["namespaces"]:
        try:
            _namespaces(work, cfg["fsize_mb"], cfg["userns"], cfg["uid"], layers, cfg["hide"])
        except (OSError, SetupError) as e:
            layers["namespace_error"] = _err(e)  # degraded: the uid drop, rlimits and audit hook still apply
    for name in PREIMPORT:
        __import__(name)
    _limits(cfg)
    from ctypes import CDLL

    libc = CDLL(None)
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)  # no setuid binary can raise privileges again
    if cfg["uid"] is not None:
        _drop_uid(cfg["uid"])
        layers["uid"] = cfg["uid"]
    elif layers.get("userns"):
        _drop_caps()
    # die with the caller (a scoring worker killed by its pool's timeout must not leave us running); set after the
    # uid change, which clears it
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != cfg["parent"]:
        raise SetupError("the caller is gone")


def _child_main(cfg: dict) -> int:
    job = json.load(sys.stdin)
    work = os.getcwd()
    layers: dict[str, Any] = {"net": False, "readonly_fs": False, "uid": None, "rlimits": True, "audit": False}
    try:
        _setup(cfg, work, layers)
    except (OSError, SetupError) as e:
        print(f"sandbox setup failed: {_err(e)}", file=sys.stderr)
        return 3  # fail closed: never run the code with less isolation than was set up for it
    for mod in [m for m in sys.modules if m.split(".")[0] in _BLOCKED_MODULES or m in _BLOCKED_MODULES]:
        del sys.modules[mod]  # so that the solution's `import` of them reaches the audit hook and is refused
    violations: list[str] = []
    if cfg["audit"]:
        sys.addaudithook(_audit_hook(work, violations))
        layers["audit"] = True
    report = _harness(job, violations)
    report.update(violations=violations, layers=layers)
    with os.fdopen(cfg["result_fd"], "w") as f:
        json.dump(report, f, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(json.loads(sys.argv[1])))
