"""Trace store reads (also while a run writes), emergence metrics, and the `r1zero traces` command."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from r1zero import emergence
from r1zero.cli import main
from r1zero.traces import SCHEMA, TraceTail, read_traces, step_files, trace_steps, write_step
from r1zero.types import Problem, Rollout, ScoredRollout

# ---------------------------------------------------------------------------------------------------------------
# Synthetic runs (shared with test_report*.py): real trace files written by write_step, no model needed.


def scored(pid: str, gid: int, text: str, reward: float, parts: dict | None = None, *, reason: str = "wrong",
           finish: str = "stop", tokens: int | None = None, task: str = "arith", version: int = 0) -> ScoredRollout:
    n = len(text.split()) if tokens is None else tokens
    r = Rollout(pid, gid, [1, 2, 3], list(range(n)), text, [0.0] * n, finish, version)
    return ScoredRollout(r, reward, {"accuracy": reward, "format": 1.0} if parts is None else parts, reason, task)


def write_synthetic_step(run: Path, step: int, extra: list[str] = ()) -> None:
    """Two prompts that recur every step (fresh problem ids, as a task stream gives): prompt A gets better, prompt
    B gets worse; from step 2 on, correct completions of A reflect ('Wait, let me check') before answering."""
    problems, items = {}, []
    for g, (prompt, good) in enumerate((("What is 2 + 2?", step >= 1), ("What is 3 + 5?", step == 0))):
        pid = f"arith/train/{step * 2 + g}"
        problems[pid] = Problem(pid, "arith", prompt, "4" if g == 0 else "8")
        for k in range(4):
            right = good and k < 3
            think = "2 + 2 = 5. Wait, let me check: 2 + 2 = 4." if (g == 0 and step >= 2) else "adding"
            text = f"<think> {think} {'x ' * (step * 4)}</think> <answer>{4 if right else 7}</answer>"
            items.append(scored(pid, g, text, 1.0 if right else 0.0, reason="correct" if right else "wrong",
                                finish="length" if k == 3 else "stop", version=step))
    for text in extra:  # planted texts: a third group, rewarded 0.5
        pid = f"arith/train/x{step}"
        problems[pid] = Problem(pid, "arith", "planted prompt <b>bold?</b>", "1")
        items.append(scored(pid, 2, text, 0.5, reason="wrong", version=step))
    adv = [s.reward - 0.5 for s in items]
    write_step(run, step, items, adv, problems)


def make_run(root: Path, steps: int = 4, metrics: bool = True, extra: list[str] = ()) -> Path:
    run = root / "run"
    for s in range(steps):
        write_synthetic_step(run, s, extra)
    if metrics:
        lines = [{"step": s, "reward_mean": 0.4 + 0.1 * s, "accuracy": 0.4 + 0.1 * s, "kl": 0.01 * s,
                  "approx_kl": 0.02 * s, "entropy": 2.0 - 0.1 * s} for s in range(steps)]
        (run / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return run


@pytest.fixture
def run(tmp_path) -> Path:
    return make_run(tmp_path)


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["traces", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------------------------------------------------
# Store


def test_read_write_roundtrip_and_step_range(run):
    df = read_traces(run)
    assert list(df.columns) == SCHEMA.names
    assert len(df) == 4 * 8 and trace_steps(run) == [0, 1, 2, 3]
    assert sorted(set(read_traces(run, (1, 2))["step"])) == [1, 2]
    assert list(read_traces(run, columns=["step", "reward"]).columns) == ["step", "reward"]
    assert json.loads(df["parts"].iloc[0]) == {"accuracy": 0.0, "format": 1.0}


def test_empty_store_keeps_column_types(tmp_path):
    df = read_traces(tmp_path / "nothing")
    assert df.empty and list(df.columns) == SCHEMA.names
    assert df["reward"].dtype == "float32"  # so filters and means on it still work
    assert emergence.step_summary(df).empty


def test_temp_and_stray_files_are_ignored(run):
    (run / "traces" / ".step_000009.parquet.tmp").write_bytes(b"half a file")
    (run / "traces" / "step_notes.parquet").write_bytes(b"not ours")
    assert trace_steps(run) == [0, 1, 2, 3]
    assert len(read_traces(run)) == 32


def test_vanished_file_is_skipped_and_corrupt_file_is_named(run, monkeypatch):
    files = step_files(run)
    files[7] = run / "traces" / "step_000007.parquet"  # listed, then gone (replaced by a resume) before the read
    monkeypatch.setattr("r1zero.traces.step_files", lambda *a, **k: files)
    assert len(read_traces(run)) == 32
    monkeypatch.undo()
    (run / "traces" / "step_000005.parquet").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="step_000005.parquet"):
        read_traces(run)


def test_reader_sees_only_whole_steps_while_the_run_writes(tmp_path):
    run = tmp_path / "live"
    stop = threading.Event()

    def writer() -> None:
        for s in range(25):
            write_synthetic_step(run, s)
        stop.set()

    t = threading.Thread(target=writer)
    t.start()
    seen = 0
    while not stop.is_set() or seen < 25:
        df = read_traces(run)
        counts = df.groupby("step").size()
        assert (counts == 8).all(), counts  # never a partial step
        assert list(counts.index) == list(range(len(counts)))
        seen = len(counts)
    t.join()


def test_tail_returns_new_and_replaced_steps_only(tmp_path):
    run = make_run(tmp_path, steps=2)
    tail = TraceTail(run)
    assert sorted(set(tail.poll()["step"])) == [0, 1]
    assert tail.poll().empty
    write_synthetic_step(run, 2)
    assert sorted(set(tail.poll()["step"])) == [2]
    write_synthetic_step(run, 1, extra=["again"])  # a resume rewrote step 1
    assert len(tail.poll()) == 9


# ---------------------------------------------------------------------------------------------------------------
# Emergence metrics


def test_reflection_phrases_are_word_bounded_and_case_insensitive():
    rx = emergence.phrase_regex(emergence.DEFAULT_PHRASES)
    hits = ["Wait, no.", "let me\n  check", "Let me verify.", "I re-examine", "DOUBLE-CHECK it"]
    misses = ["await it", "waiting", "verifying", "doublecheck", "let me checkout"]
    assert all(rx.search(s) for s in hits)
    assert not any(rx.search(s) for s in misses)
    assert emergence.reflects(["hmm?", "no"], ["hmm?"]).tolist() == [True, False]
    assert emergence.parse_phrases("hmm, oh no ,") == ("hmm", "oh no")
    with pytest.raises(ValueError):
        emergence.parse_phrases(" , ")


def test_step_summary(run):
    s = emergence.step_summary(read_traces(run)).set_index("step")
    assert s.loc[0, "samples"] == 8 and s.loc[1, "reward_mean"] == pytest.approx(3 / 8)
    assert s.loc[1, "accuracy"] == pytest.approx(3 / 8) and s.loc[1, "format_rate"] == 1.0
    assert s.loc[0, "reflection_rate"] == 0 and s.loc[2, "reflection_rate"] == 0.5  # prompt A's 4 of 8
    assert s.loc[0, "truncation_rate"] == 0.25
    assert list(s["len_mean"]) == sorted(s["len_mean"]) and s.loc[3, "len_p90"] >= s.loc[3, "len_p50"]


def test_aha_needs_reflection_before_a_correct_answer(run):
    df = read_traces(run)
    aha = emergence.aha_examples(df)
    assert set(aha["step"]) == {2, 3} and (aha["accuracy"] == 1).all()
    assert set(aha["phrase"]) == {"wait"}  # the first phrase that fires in each completion
    first = emergence.aha_first_steps(aha)
    assert first.iloc[0]["phrase"] == "wait" and first.iloc[0]["first_step"] == 2 and first.iloc[0]["count"] == 6
    after = df.assign(completion="<answer>4</answer> wait, let me check")  # reflecting after answering
    assert emergence.aha_examples(after).empty
    no_acc = df.assign(parts="{}")  # a task without an accuracy part: reason == "correct" decides
    assert len(emergence.aha_examples(no_acc)) == 6


def test_most_changed_and_prompt_history(run):
    df = read_traces(run)
    mc = emergence.most_changed(df)
    assert list(mc["prompt"]) == ["What is 2 + 2?", "What is 3 + 5?"]
    assert mc.iloc[0]["delta"] == pytest.approx(0.75) and mc.iloc[1]["delta"] == pytest.approx(-0.75)
    h = emergence.prompt_history(df, "What is 2 + 2?")
    assert list(h["step"]) == [0, 1, 2, 3] and list(h["reward_max"]) == [0, 1, 1, 1]
    best = emergence.extremes(df, 2)
    assert (best["reward"] == 1).all() and (best["step"] == 3).all()


# ---------------------------------------------------------------------------------------------------------------
# CLI


def test_summary_table_and_json(run, capsys):
    code, out, _ = cli(capsys, run)
    assert code == 0 and "per-step summary" in out and "reflect" in out
    code, out, _ = cli(capsys, run, "--json", "--steps", "2:")
    rows = json.loads(out)
    assert [r["step"] for r in rows] == [2, 3] and rows[0]["reflection_rate"] == 0.5


@pytest.mark.parametrize("args, n", [
    (["--grep", "LET ME CHECK"], 8), (["--regex", r"answer>7<"], 20), (["--min-reward", "1"], 12),
    (["--max-reward", "0", "--steps", "0"], 5), (["--truncated"], 8), (["--task", "arith", "--samples"], 32),
    (["--grep", "wait", "--truncated"], 2), (["--grep", "no such text"], 0),
])
def test_filters(run, capsys, args, n):
    code, out, _ = cli(capsys, run, "--json", *args)
    assert code == 0 and len(json.loads(out)) == n


def test_sample_table_shows_model_text_literally(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # wide enough that rich does not wrap the planted text
    run = make_run(tmp_path, steps=1, extra=["[bold red]markup[/] and \x1b[2J clear"])
    code, out, _ = cli(capsys, run, "--grep", "markup", "--full")
    assert code == 0 and "[bold red]markup[/]" in out
    assert "\x1b" not in out and "\\x1b" in out  # a terminal escape from the model is shown, not obeyed


def test_group_view(run, capsys):
    code, out, _ = cli(capsys, run, "--group", "3:1", "--json")
    rows = json.loads(out)
    assert [r["sample"] for r in rows] == [0, 1, 2, 3] and rows[0]["parts"]["format"] == 1.0
    assert all(r["prompt"] == "What is 3 + 5?" and r["advantage"] == -0.5 for r in rows)
    code, out, _ = cli(capsys, run, "--group", "3:1")
    assert code == 0 and "What is 3 + 5?" in out and "sample 3" in out


def test_follow_by_problem_id_and_substring(run, capsys):
    code, out, _ = cli(capsys, run, "--follow", "arith/train/0", "--json")
    by_id = json.loads(out)
    assert by_id["prompt"] == "What is 2 + 2?" and [s["step"] for s in by_id["steps"]] == [0, 1, 2, 3]
    code, out, _ = cli(capsys, run, "--follow", "2 + 2", "--json")
    assert json.loads(out) == by_id
    code, out, _ = cli(capsys, run, "--follow", "2 + 2")
    assert code == 0 and "What is 2 + 2?" in out


@pytest.mark.parametrize("args, message", [
    (["{tmp}/missing"], "no such run directory"),
    (["{tmp}/empty"], "no traces yet"),
    (["{run}", "--regex", "("], "bad --regex"),
    (["{run}", "--steps", "x"], "--steps must look like"),
    (["{run}", "--steps", "5:2"], "first step is after the last"),
    (["{run}", "--steps", "9:"], "the run has steps 0..3"),
    (["{run}", "--group", "1"], "STEP:GROUP_ID"),
    (["{run}", "--group", "1:9"], "no group 9 at step 1"),
    (["{run}", "--group", "8:0"], "no step 8"),
    (["{run}", "--follow", "What is"], "matches 2 prompts"),
    (["{run}", "--follow", "nothing like it"], "no problem id or prompt matches"),
    (["{run}", "--task", "nope"], "no task 'nope'"),
    (["{run}", "--min-reward", "1", "--max-reward", "0"], "--min-reward is above"),
    (["{run}", "--phrases", ","], "no reflection phrases"),
])
def test_bad_input_is_one_line_and_exit_2(run, tmp_path, capsys, args, message):
    (tmp_path / "empty").mkdir()
    code, out, err = cli(capsys, *(a.format(tmp=tmp_path, run=run) for a in args))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("r1zero: error: ") and message in err, err
