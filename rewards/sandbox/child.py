"""The sandbox child: `python -I -S -B rewards/sandbox/child.py`, stdlib only (it runs with no site-packages and no
project on sys.path), reading {"cfg": ..., "job": ...} JSON on stdin. The caller side is rewards/sandbox/__init__.py.

Order of events (each step is why the next one is safe):
 launcher  the process the caller started: reads the job, dies with the caller (PDEATHSIG), creates the namespaces
           (jail.unshare) and forks; it then only waits and passes on the child's exit status. Without namespaces
           (none allowed on this machine) there is no fork: the launcher runs the rest itself, degraded.
 PID 1     of the new PID namespace: pre-imports the stdlib modules solutions use, builds the new root and pivots
           into it (jail.new_root), sets rlimits and no_new_privs, drops to the sandbox uid (root path) or drops
           every capability (user-namespace path), dies with the launcher, installs the seccomp filter, points
           HOME at an empty dir, adds the audit hook, and only then runs the solution. When PID 1 exits, the
           kernel kills whatever else is left in its namespace.
The sibling files are loaded by path (not as a package): with -I the script's dir is not on sys.path, and
nothing of the repository may be importable by the solution.
"""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import signal
import sys
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))


def _sibling(name: str):
    spec = importlib.util.spec_from_file_location(f"_sandbox_{name}", os.path.join(_HERE, f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


jail = _sibling("jail")
seccomp = _sibling("seccomp")
SetupError = jail.SetupError

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
PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG = 38, 1
SETUP_FAILED = 3  # exit status (with "sandbox setup failed" on stderr): the caller reports setup_error


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


def _caller_alive(cfg: dict, alive_fd: int | None) -> bool:
    """Without a PID namespace: our parent is still the caller. In one (our parent, the launcher, is outside it
    and getppid() says 0): the launcher still holds the write end of the `alive` pipe, so a read finds no EOF."""
    if alive_fd is None:
        return os.getppid() == cfg["parent"]
    os.set_blocking(alive_fd, False)
    try:
        return os.read(alive_fd, 1) != b""
    except BlockingIOError:
        return True
    finally:
        os.close(alive_fd)


def _setup(cfg: dict, layers: dict, in_ns: bool, alive_fd: int | None) -> str:
    """Everything between start-up and the solution; returns the working dir. Raises OSError / SetupError, and
    the caller fails closed: the code never runs with less isolation than was set up for it."""
    work = os.getcwd()
    if in_ns:
        work = jail.new_root(work, cfg, layers)
    _limits(cfg)
    lib, ctypes = jail.libc()
    lib.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)  # no setuid binary can raise privileges again; lets seccomp in
    if cfg["uid"] is not None:
        _drop_uid(cfg["uid"])
        layers["uid"] = cfg["uid"]
    elif layers.get("userns"):
        jail.drop_caps()
    # die with our parent (the launcher, or the caller itself without namespaces: a scoring worker killed by its
    # pool must not leave us running); set after the uid change, which clears it, then check the parent is there
    lib.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if not _caller_alive(cfg, alive_fd):
        raise SetupError("the caller is gone")
    if cfg["seccomp"]:
        try:
            layers["seccomp"] = seccomp.install(lib, ctypes)
        except (OSError, KeyError, ValueError) as e:  # degraded, and said so: the caller logs a warning
            layers["seccomp"] = False
            layers["seccomp_error"] = _err(e)
    home = os.path.join(work, "home")
    os.mkdir(home, 0o700)
    os.environ.update(HOME=home, TMPDIR=work)  # the allow-listed environment, with a private, empty home
    return work


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


def _harness(job: dict) -> dict:
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


def _run(cfg: dict, job: dict, layers: dict, in_ns: bool, alive_fd: int | None) -> int:
    try:
        work = _setup(cfg, layers, in_ns, alive_fd)
    except (OSError, SetupError) as e:
        print(f"sandbox setup failed: {_err(e)}", file=sys.stderr)
        return SETUP_FAILED
    for mod in [m for m in sys.modules if m.split(".")[0] in _BLOCKED_MODULES or m in _BLOCKED_MODULES]:
        del sys.modules[mod]  # so that the solution's `import` of them reaches the audit hook and is refused
    violations: list[str] = []
    if cfg["audit"]:
        sys.addaudithook(_audit_hook(work, violations))
        layers["audit"] = True
    report = _harness(job)
    report.update(violations=violations, layers=layers)
    with os.fdopen(cfg["result_fd"], "w") as f:
        json.dump(report, f, default=str)
    return 0


def _relay(pid: int, wall_s: float) -> int:
    """The launcher's last job: wait for PID 1 (SIGKILLing it after wall_s) and exit the way it did (a signal
    death stays a signal death, so the caller can tell a SIGKILL / SIGXCPU / SIGSYS from an exit). The timeout is
    enforced here, not only by the caller, so that PID 1 is reaped by us: killed together with us it would be
    reparented to the host's init and linger there while its namespaces are torn down."""
    signal.signal(signal.SIGALRM, lambda *_: os.kill(pid, signal.SIGKILL))
    signal.setitimer(signal.ITIMER_REAL, wall_s)
    _, status = os.waitpid(pid, 0)  # retried after the handler ran (PEP 475)
    signal.setitimer(signal.ITIMER_REAL, 0)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.kill(os.getpid(), sig)
        return 128 + sig  # a signal we could not die of
    return os.WEXITSTATUS(status)


def main() -> int:
    data = json.load(sys.stdin)
    cfg, job = data["cfg"], data["job"]
    lib, _ = jail.libc()
    lib.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # the launcher dies with the caller
    if os.getppid() != cfg["parent"]:
        return SETUP_FAILED
    for name in PREIMPORT:  # before the new root and the uid drop (the stdlib may live under a root-only path),
        __import__(name)  # and before the fork, so the libraries they map are known to jail.python_sources()
    layers: dict[str, Any] = {"net": False, "pidns": False, "readonly_fs": False, "new_root": False, "uid": None,
                              "rlimits": True, "seccomp": False, "audit": False}
    in_ns = False
    if cfg["namespaces"]:
        try:
            jail.unshare(cfg["userns"], layers)
            in_ns = True
        except (OSError, SetupError) as e:  # the machine allows none: degraded (uid, rlimits, seccomp, audit hook)
            layers["namespace_error"] = _err(e)
    if not in_ns:
        return _run(cfg, job, layers, False, None)
    alive_r, alive_w = os.pipe()
    pid = os.fork()  # the child is PID 1 of the new PID namespace
    if pid:
        os.close(alive_r)
        return _relay(pid, cfg["wall_s"])
    os.close(alive_w)
    code = _run(cfg, job, layers, True, alive_r)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # no interpreter teardown in the forked copy


if __name__ == "__main__":
    sys.exit(main())
