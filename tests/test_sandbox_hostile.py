"""Hostile submissions: real programs a model could write, each run through the `code` task's scorer (and through
`run_function` to look at what came back). Every one must score 0 with a reason, leak nothing of the trainer's
world into what comes back, and leave nothing behind (no host files, no processes). Table: docs/security.md.
"""

from __future__ import annotations

import json
import os
import pwd
import socket
from pathlib import Path

import pytest

from rewards.sandbox import BASE_UID, ERROR_CAP, SandboxResult, run_function
from tasks.code import CodeTask, _reason

REPO = Path(__file__).resolve().parents[1]
SECRET = "r1zero-hostile-SECRET-4f1c9a"
LAYERS = run_function("x = 1", None, []).layers
needs_ns = pytest.mark.skipif(not LAYERS.get("new_root"), reason="no namespaces on this machine")
needs_seccomp = pytest.mark.skipif(not LAYERS.get("seccomp"), reason="no seccomp filter on this machine")
REASONS = {"wrong", "no_answer", "too_long", "syntax_error", "runtime_error", "missing_function", "timeout", "memory",
           "forbidden", "crashed", "sandbox_error"}


def _answer(code: str) -> str:
    return f"<think> plan </think> <answer>\n{code}\n</answer>"


def _hostile(body: str, *, audit: bool = True, task: CodeTask | None = None, problem=None, **kw) -> SandboxResult:
    """Score `body` (a module defining two_sum) with the code task, assert a zero with a known reason, and return
    the raw sandbox result of the same program for inspection."""
    task = task or CodeTask(timeout_s=1.5, memory_mb=512)
    problem = problem or task.problem("train", 0)  # two_sum
    scored = task.score(_answer(body), problem)
    assert scored.parts["accuracy"] == 0.0 and scored.reason in REASONS, scored
    assert SECRET not in repr(scored)  # only a fixed-vocabulary reason and floats reach traces
    res = run_function(body, problem.meta["entry"], [list(a) for a, _ in problem.meta["tests"]],
                       timeout_s=1.5, memory_mb=512, audit=audit, hide=task._hide, **kw)
    res.scored_reason = scored.reason  # type: ignore[attr-defined]
    res.reason = _reason(res, 0, len(problem.meta["tests"]))  # what the scorer makes of *this* run (audit may be off)
    return res


def _dump(res: SandboxResult) -> str:
    return json.dumps(res.__dict__, default=str)


def _values(res: SandboxResult) -> list:
    assert res.outputs, res
    return [o.get("value") for o in res.outputs]


def _sandbox_processes() -> list[int]:
    """Live (non-zombie) processes of this caller's sandbox uid."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        uid = int(status.split("\nUid:\t", 1)[1].split()[0])
        if uid == BASE_UID + os.getpid() and "\nState:\tZ" not in status:
            out.append(int(pid))
    return out


@pytest.fixture(autouse=True)
def leaves_nothing_behind():
    mine = f"r1zero-sbx-{os.getpid()}-"
    yield
    leftovers = [p for d in ("/tmp", "/var/tmp", "/dev/shm", str(REPO), str(Path.home()))
                 for p in (os.listdir(d) if os.path.isdir(d) else []) if "r1zero_hostile" in p or p.startswith(mine)]
    assert leftovers == []
    if os.geteuid() == 0:
        assert _sandbox_processes() == []


# ----------------------------------------------------------------------------------------------- reading secrets

def test_env_secret_is_not_visible(monkeypatch):
    monkeypatch.setenv("R1ZERO_HOSTILE_TOKEN", SECRET)
    body = ("import os\n"
            "def two_sum(nums, target):\n"
            "    out = [dict(os.environ)]\n"
            f"    for p in ('/proc/self/environ', '/proc/1/environ', '/proc/{os.getpid()}/environ'):\n"
            "        try:\n"
            "            out.append(open(p, 'rb').read().decode('latin1'))\n"
            "        except OSError as e:\n"
            "            out.append(repr(e))\n"
            "    print(out)\n"
            "    return out\n")
    res = _hostile(body)
    assert SECRET not in _dump(res)
    assert set(_values(res)[0][0]) == {"PATH", "LANG", "HOME", "TMPDIR"}


def test_home_is_private_and_empty(tmp_path, monkeypatch):
    fake_home = tmp_path / "home"
    fake_home.mkdir()
    (fake_home / ".netrc").write_text(f"machine example.com password {SECRET}\n")
    monkeypatch.setenv("HOME", str(fake_home))
    real_home = pwd.getpwuid(os.getuid()).pw_dir
    body = ("import os\n"
            "def two_sum(nums, target):\n"
            "    home = os.path.expanduser('~')\n"
            "    out = [home, os.listdir(home)]\n"
            f"    for p in ('~/.netrc', {str(fake_home / '.netrc')!r}, {real_home + '/.netrc'!r}):\n"
            "        try:\n"
            "            out.append(open(os.path.expanduser(p)).read())\n"
            "        except OSError as e:\n"
            "            out.append(type(e).__name__)\n"
            f"    try:\n        out.append(sorted(os.listdir({real_home!r})))\n"
            "    except OSError as e:\n        out.append(type(e).__name__)\n"
            "    return out\n")
    res = _hostile(body)
    assert SECRET not in _dump(res)
    home, listing, *reads, real_listing = _values(res)[0]
    assert listing == [] and home != real_home and set(reads) <= {"FileNotFoundError", "PermissionError"}
    if LAYERS.get("new_root"):  # at most the first step of the path down to a Python installed under $HOME
        assert isinstance(real_listing, str) or len(real_listing) <= 1
        assert not {".netrc", ".cache", ".bashrc", ".config"} & set(real_listing if isinstance(real_listing, list)
                                                                        else [])


@needs_ns
@pytest.mark.parametrize("userns", [False, True])
def test_etc_passwd_is_not_there(userns):
    body = ("import os\n"
            "def two_sum(nums, target):\n"
            "    out = []\n"
            "    for p in ('/etc/passwd', '/etc/shadow', '/etc/hostname'):\n"
            "        try:\n            out.append(open(p).read())\n"
            "        except OSError as e:\n            out.append(type(e).__name__)\n"
            "    out.append(os.path.exists('/etc'))\n"
            "    return out\n")
    res = _hostile(body, audit=False, force_userns=userns)
    assert _values(res)[0] == ["FileNotFoundError"] * 3 + [False]
    assert "root:" not in _dump(res)


@needs_ns
@pytest.mark.parametrize("userns", [False, True])
def test_proc_shows_only_the_sandbox(userns):
    caller = os.getpid()
    body = ("import os\n"
            "def two_sum(nums, target):\n"
            "    out = [open('/proc/1/cmdline', 'rb').read().decode('latin1'), sorted(os.listdir('/proc'))]\n"
            f"    for p in ('/proc/{caller}/cmdline', '/proc/cmdline', '/proc/mounts'):\n"
            "        try:\n            out.append(open(p).read())\n"
            "        except OSError as e:\n            out.append(type(e).__name__)\n"
            "    return out\n")
    res = _hostile(body, audit=False, force_userns=userns)
    cmdline, listing, *rest = _values(res)[0]
    assert "pytest" not in cmdline and "child.py" in cmdline  # PID 1 is the sandbox itself
    assert [p for p in listing if p.isdigit()] == ["1"]
    if caller != 1:
        assert rest[0] == "FileNotFoundError"


@needs_ns
def test_repository_and_other_tasks_data_are_invisible():
    paths = [str(REPO / "pyproject.toml"), str(REPO / "tasks" / "code.py"), str(REPO / "tests" / "fixtures"),
             str(REPO / "tests" / "fixtures" / "gsm8k_mini.jsonl"), str(REPO / ".git")]
    body = ("import os\n"
            "def two_sum(nums, target):\n"
            f"    return [os.path.exists(p) for p in {paths!r}] + [os.listdir('/')]\n")
    res = _hostile(body, audit=False)
    *seen, root = _values(res)[0]
    assert seen == [False] * len(paths)
    assert REPO.parts[1] not in root or REPO.parts[1] in ("root", "usr", "tmp")


@needs_ns
def test_problem_file_and_its_hidden_tests_are_invisible(tmp_path):
    data = tmp_path / "problems"
    data.mkdir()
    expected = 987654321
    path = data / "code.jsonl"
    path.write_text(json.dumps({"entry": "sq", "prompt": "def sq(x)", "solution": "def sq(x):\n    return x*x",
                                "tests": [{"args": [31426], "expected": expected}]}) + "\n")
    task = CodeTask(path=str(path), timeout_s=1.5, memory_mb=512)
    body = ("import glob, os\n"
            "def sq(x):\n"
            f"    found = [f for d in ('/tmp', '/home', '/work', '/srv', '/data', '/mnt', {str(data)!r})\n"
            "             for f in glob.glob(d + '/**/*.jsonl', recursive=True)]\n"
            f"    found.append(os.path.exists({str(path)!r}))\n"
            f"    try:\n        found.append(open({str(path)!r}).read())\n"
            "    except OSError as e:\n        found.append(type(e).__name__)\n"
            "    return found\n")
    res = _hostile(body, task=task, problem=task.problem("train", 0), audit=False)
    assert str(expected) not in _dump(res)
    assert _values(res)[0][-2:] == [False, "FileNotFoundError"]


# ---------------------------------------------------------------------------------------------- doing things

@pytest.mark.parametrize("audit", [True, False])
def test_writes_outside_the_temp_dir_fail(audit):
    targets = ["/etc/r1zero_hostile", "/usr/r1zero_hostile", str(Path.home() / "r1zero_hostile"),
               str(REPO / "r1zero_hostile"), "/dev/shm/r1zero_hostile", "/var/tmp/r1zero_hostile"]
    body = ("def two_sum(nums, target):\n"
            "    out = []\n"
            f"    for p in {targets!r}:\n"
            "        try:\n            open(p, 'w').write('x')\n            out.append('wrote')\n"
            "        except OSError as e:\n            out.append(type(e).__name__)\n"
            "    open('/tmp/r1zero_hostile_inside', 'w').write('x')  # its own tmp: fine, and gone afterwards\n"
            "    return out\n")
    res = _hostile(body, audit=audit)
    assert "wrote" not in _values(res)[0]
    assert not any(os.path.exists(t) for t in targets)


@pytest.fixture
def listener():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    srv.settimeout(0.2)
    yield srv
    srv.close()


@pytest.mark.parametrize("audit", [True, False])
def test_network_is_unreachable(listener, audit):
    port = listener.getsockname()[1]
    body = ("import socket\n"
            "def two_sum(nums, target):\n"
            "    out = []\n"
            f"    for f in (lambda: socket.create_connection(('127.0.0.1', {port}), timeout=1),\n"
            "              lambda: socket.getaddrinfo('example.com', 443),\n"
            "              lambda: socket.socket(socket.AF_UNIX).connect('/run/systemd/journal/socket')):\n"
            "        try:\n            f()\n            out.append('connected')\n"
            "        except OSError as e:\n            out.append(type(e).__name__)\n"
            "    return out\n")
    res = _hostile(body, audit=audit)
    assert res.violations if audit else "connected" not in _values(res)[0]
    with pytest.raises(socket.timeout):
        listener.accept()  # nothing ever reached the host's loopback


@pytest.mark.parametrize("call", ["os.fork()", "os.system('id')", "subprocess.run(['/bin/true'])",
                                  "os.execv('/bin/sh', ['sh', '-c', 'id'])",
                                  "os.posix_spawn('/bin/true', ['true'], {})"])
@pytest.mark.parametrize("audit", [True, False])
def test_fork_exec_subprocess_are_refused(call, audit):
    imports = "os, subprocess" if "subprocess" in call else "os"  # so the hook must stop the call itself
    body = f"import {imports}\ndef two_sum(nums, target):\n    return [{call}]\n"
    res = _hostile(body, audit=audit)
    assert "uid=" not in res.log_tail  # `id` never ran
    if audit:
        assert res.violations and res.reason == "forbidden"
    elif "exec" in call and LAYERS.get("seccomp"):
        assert (res.status, res.violations, res.reason) == ("crashed", ["seccomp"], "forbidden")
    else:  # fork/clone fail with EPERM (seccomp) or EAGAIN (RLIMIT_NPROC); glibc's system() then reports
        assert all(o.get("value") in (None, [127 << 8]) for o in res.outputs), res  # "as if the shell exited 127"


@needs_seccomp
def test_ctypes_escape_syscalls_are_killed():
    body = ("import ctypes\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            "sock = libc.socket(2, 1, 0)\n"
            "def two_sum(nums, target):\n"
            "    return [sock, libc.unshare(0x10000000)]\n")  # CLONE_NEWUSER: not reached, the filter kills
    assert _hostile(body).violations == ["import ctypes"]  # the audit hook stops it first
    res = _hostile(body, audit=False)
    assert (res.status, res.violations, res.reason) == ("crashed", ["seccomp"], "forbidden")


def test_memory_bomb_is_a_memory_error():
    res = _hostile("x = []\nwhile True:\n    x.append(bytearray(1 << 24))\n", audit=False)
    assert res.reason == res.scored_reason == "memory" and res.load_error.startswith("MemoryError")


def test_cpu_busy_loop_times_out():
    res = _hostile("def two_sum(nums, target):\n    while True:\n        pass\n", audit=False)
    assert res.status == "timeout" and res.reason == res.scored_reason == "timeout"


# ---------------------------------------------------------------------------------------------- faking results

@pytest.mark.parametrize("body", [
    'import sys\nprint(\'{"outputs": [{"value": [0, 1]}], "load_error": null}\')\nsys.exit(0)\n',
    "import os\nprint('ALL TESTS PASSED')\nos._exit(0)\n",
    # a forged report straight into the result fd: it can only claim outputs, which are compared outside
    "import os\nfor fd in range(3, 64):\n    try:\n"
    "        os.write(fd, b'{\"outputs\": [{\"value\": \"PASS\"}], \"violations\": [], \"layers\": {}}')\n"
    "    except OSError:\n        pass\nos._exit(0)\n",
], ids=["print-report-exit0", "print-pass-os_exit", "forge-result-fd"])
def test_output_spoofing_scores_zero(body):
    res = _hostile(body)
    assert res.outputs is None or all(o.get("value") != [0, 1] for o in res.outputs)


def test_error_strings_are_capped_and_escaped():
    body = ("def two_sum(nums, target):\n"
            "    raise ValueError('\\x1b[2J\\x1b]0;pwned\\x07\\nINFO fake log line ' + 'A' * 5000)\n")
    res = _hostile(body)
    err = res.outputs[0]["error"]
    assert "\x1b" not in err and "\x07" not in err and "\n" not in err and len(err) <= ERROR_CAP + 3
    assert res.scored_reason == "wrong"
