"""The code sandbox: escapes fail with a clear reason, the caller goes on, and the host is untouched.

Most escape tests run with the audit hook off as well, so they prove the kernel-level layers (namespaces, uid,
rlimits, seccomp) and not only the Python-level hook. The hostile-submission suite is tests/test_sandbox_hostile.py.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from pathlib import Path

import pytest

from r1zero.types import Problem
from rewards.sandbox import BASE_UID, run_function
from tasks.code import CodeTask, extract_code

ROOT = os.geteuid() == 0
LAYERS = run_function("x = 1", None, []).layers
needs_ns = pytest.mark.skipif(not LAYERS.get("net"), reason="no namespaces on this machine")
needs_root = pytest.mark.skipif(not ROOT, reason="the uid layer needs root")


def _uid_processes(uid: int) -> list[int]:
    return [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc"))) if _uid_of(pid) == uid]


def test_a_good_function_runs_and_outputs_come_back_as_plain_data():
    res = run_function("def f(a, b):\n    return (a + b, {a, b})\n", "f", [[1, 2], [3, 3], [1]])
    assert res.status == "ok"
    assert res.outputs[0] == {"value": [3, [1, 2]]} and res.outputs[1] == {"value": [6, [3]]}
    assert res.outputs[2]["error"].startswith("TypeError")


@pytest.mark.parametrize("audit", [True, False])
def test_infinite_loop_times_out_and_the_caller_goes_on(audit):
    t0 = time.monotonic()
    res = run_function("while True:\n    pass\n", None, [], timeout_s=1, audit=audit)
    assert res.status == "timeout"
    assert time.monotonic() - t0 < 5
    assert run_function("def f():\n    return 1\n", "f", [[]]).outputs == [{"value": 1}]


@pytest.mark.parametrize("audit", [True, False])
def test_ten_gigabytes_is_a_memory_error(audit):
    res = run_function("x = bytearray(10 * 2**30)\n", None, [], memory_mb=512, audit=audit)
    assert res.status == "ok" and res.load_error.startswith("MemoryError")


@pytest.mark.parametrize("audit", [True, False])
def test_fork_bomb_is_stopped_and_leaves_nothing_behind(audit):
    src = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    res = run_function(src, None, [], timeout_s=1, audit=audit)
    assert res.status == "timeout" or "fork" in (res.load_error or "") + str(res.violations)
    if ROOT:
        assert _uid_processes(BASE_UID + os.getpid()) == []


def test_threads_and_subprocesses_are_refused():
    res = run_function("import threading\nthreading.Thread(target=print).start()\n", None, [], audit=False)
    assert res.load_error and "thread" in res.load_error.lower()
    res = run_function("import subprocess\nsubprocess.run(['true'])\n", None, [])
    assert res.violations and res.load_error.startswith("PermissionError")


@pytest.fixture
def listener():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    yield srv.getsockname()[1]
    srv.close()


def test_socket_is_forbidden_by_the_hook(listener):
    res = run_function(f"import socket\nsocket.create_connection(('127.0.0.1', {listener}), timeout=1)\n", None, [])
    assert res.violations == ["import socket"]
    assert "not allowed" in res.load_error


@needs_ns
def test_no_network_even_without_the_hook(listener):
    # force_userns keeps the caller's uid, so the stdlib socket module is importable: the namespace must stop it
    src = (f"import socket\ns = socket.socket()\ns.settimeout(1)\nerr = s.connect_ex(('127.0.0.1', {listener}))\n"
           "def f():\n    return err\n")
    res = run_function(src, "f", [[]], audit=False, force_userns=True, seccomp=False)
    assert res.layers["net"] is True
    assert res.outputs and res.outputs[0]["value"] != 0  # ENETUNREACH: not even loopback
    # with the seccomp filter on, socket() itself fails (EPERM)
    res = run_function(src, "f", [[]], audit=False, force_userns=True)
    assert res.load_error and res.load_error.startswith("PermissionError"), res


@needs_ns
@pytest.mark.parametrize("audit", [True, False])
@pytest.mark.parametrize("target", ["/tmp/r1zero_sandbox_escape", "{repo}/r1zero_sandbox_escape",
                                    "/dev/shm/r1zero_sandbox_escape", "/var/tmp/r1zero_sandbox_escape"])
def test_nothing_outside_the_temp_dir_is_writable(target, audit):
    path = target.format(repo=Path(__file__).resolve().parents[1])
    src = (f"open('inside.txt', 'w').write('ok')\nassert open('inside.txt').read() == 'ok'\n"
           f"open({path!r}, 'w').write('escaped')\n")
    res = run_function(src, None, [], audit=audit)
    if path.startswith("/tmp/") and res.layers.get("new_root"):
        assert res.status == "ok"  # the child's /tmp is its own tmpfs: the write lands there, not on the host
    else:
        assert res.load_error and any(s in res.load_error for s in ("Read-only", "not allowed", "Permission",
                                                                        "No such file")), res
    assert not os.path.exists(path)


@needs_root
def test_the_child_runs_unprivileged():
    res = run_function("import os\ndef f():\n    return [os.getuid(), os.geteuid(), os.getgroups()]\n", "f", [[]])
    uid = res.outputs[0]["value"][0]
    assert uid >= BASE_UID or uid == 65534
    assert res.outputs[0]["value"][1:] == [uid, []]


def test_user_namespace_path_also_isolates():
    lib = "/usr/lib/x86_64-linux-gnu/r1zero_userns_escape"  # bound read-only (where it exists) or on the ro root
    res = run_function(f"open({lib!r}, 'w')\n", None, [], audit=False, force_userns=True)
    if res.layers.get("readonly_fs"):
        assert "Read-only" in res.load_error
        assert not os.path.exists(lib)


def test_output_flood_is_capped():
    res = run_function("import sys\nfor _ in range(10**6):\n    sys.stdout.write('x' * 1000)\n", None, [],
                       timeout_s=3, fsize_mb=1)
    assert len(res.log_tail) <= 4096
    assert res.status in ("ok", "timeout")


def _problem(task: CodeTask) -> Problem:
    return task.problem("train", 0)  # two_sum


def _answer(code: str) -> str:
    return f"<think> plan </think> <answer>\n{code}\n</answer>"


@pytest.mark.parametrize("code,reason", [
    ("def two_sum(nums, target):\n    while True:\n        pass", "timeout"),
    ("def two_sum(nums, target):\n    return bytearray(10 * 2**30)", "memory"),
    ("import os\ndef two_sum(nums, target):\n    while True:\n        os.fork()", "forbidden"),
    ("import socket\ndef two_sum(nums, target):\n    return socket.socket()", "forbidden"),
    ("def two_sum(nums, target):\n    open('/etc/passwd', 'a').write('x')", "forbidden"),
    ("def two_sum(nums, target)\n    return [0, 1]", "syntax_error"),
    ("def twosum(nums, target):\n    return [0, 1]", "missing_function"),
    ("raise ValueError('boom')", "runtime_error"),
    ("def two_sum(nums, target):\n    return [0, 1]", "wrong"),
    ("import sys\nprint('ALL TESTS PASSED')\nsys.exit(0)", "runtime_error"),
])
def test_code_task_gives_zero_with_a_clear_reason(code, reason):
    task = CodeTask(timeout_s=1.5, memory_mb=512)
    res = task.score(_answer(code), _problem(task))
    assert (res.reason, res.parts["accuracy"]) == (reason, 0.0)


def test_code_task_gold_fence_and_partial_credit():
    task = CodeTask()
    p = _problem(task)
    assert task.score(_answer(f"```python\n{p.answer}```"), p).parts["accuracy"] == 1.0
    half = "def two_sum(nums, target):\n    return [0, 1]"  # right on the tests whose answer is [0, 1]
    part = CodeTask(partial=True).score(_answer(half), p)
    assert 0 < part.parts["accuracy"] < 1 and part.reason == "wrong"
    assert extract_code("<think>x</think> ```python\ndef f():\n    pass\n```") == "def f():\n    pass"
    assert extract_code("<think>x</think> ```python\ndef f(): pass\n```", lenient=False) is None


def test_code_task_reads_problems_from_a_file(tmp_path):
    path = tmp_path / "code.jsonl"
    path.write_text('{"entry": "sq", "prompt": "def sq(x): x squared", "solution": "def sq(x):\\n    return x*x",'
                    ' "tests": [{"args": [3], "expected": 9}, {"args": [-2], "expected": 4}]}\n')
    task = CodeTask(path=str(path))
    p = task.problem("test", 5)
    assert p.meta["entry"] == "sq" and task.score(_answer(p.answer), p).reason == "correct"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"entry": "sq", "prompt": "x", "tests": [{"args": 3}]}\n')
    with pytest.raises(ValueError, match="row 0.*'tests'"):
        CodeTask(path=str(bad)).problem("train", 0)


def test_a_killed_scoring_worker_takes_its_sandbox_with_it():
    from r1zero.rewarding import score_one
    from rewards.pool import ScoringPool

    task = CodeTask()
    p = _problem(task)
    sleeper = _answer("import time\ntime.sleep(60)\ndef two_sum(nums, target):\n    return [0, 1]")
    with ScoringPool(num_workers=1, timeout_s=1.5) as pool:
        res = pool.map(score_one, [("code", '{"timeout_s": 20.0}', 0, sleeper, p),
                                   ("code", "{}", 0, _answer(p.answer), p)])
    assert [r.reason for r in res] == ["timeout", "correct"]
    time.sleep(0.5)
    # the killed worker's temp dir was swept by its replacement (which scored the second item)
    stale = [d for d in os.listdir(tempfile.gettempdir())
             if d.startswith("r1zero-sbx-") and not os.path.exists(f"/proc/{d.split('-')[2]}")]
    assert stale == []
    if ROOT:  # the pool SIGKILLed the worker; the sandbox child must have died with it (PR_SET_PDEATHSIG)
        leftovers = [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
                     if BASE_UID <= _uid_of(pid) < BASE_UID + (1 << 22)]
        assert leftovers == []


def _uid_of(pid: int) -> int:
    """The uid of a live process (-1 for a zombie: it runs nothing, only its exit status waits for a reaper)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        if "\nState:\tZ" in status:
            return -1
        return int(status.split("\nUid:\t", 1)[1].split()[0])
    except (OSError, IndexError, ValueError):
        return -1


@needs_ns
def test_the_hidden_tests_in_the_repository_are_invisible(tmp_path):
    secret = tmp_path / "data"
    secret.mkdir()
    (secret / "tests.jsonl").write_text("expected answers")
    repo_file = Path(__file__).resolve().parents[1] / "tasks" / "code.py"
    src = "import os\ndef f(p):\n    return os.path.exists(p)\n"
    res = run_function(src, "f", [[str(repo_file)], [str(secret / "tests.jsonl")]], hide=(str(secret),))
    assert res.outputs == [{"value": False}, {"value": False}], res
    assert os.path.exists(repo_file)
