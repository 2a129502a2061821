"""Step metrics: the JSONL record, the derived statistics, and wandb's offline mode without an API key."""

import json

import pytest

from r1zero.metrics import MetricsLogger, read_metrics, rollout_metrics
from r1zero.types import Rollout, ScoredRollout


def _s(group, reward, n_tokens, finish="stop", acc=None, fmt=0.0):
    r = Rollout("p", group, [1], [2] * n_tokens, "", [0.0] * n_tokens, finish, 0)
    return ScoredRollout(r, reward, {"accuracy": reward if acc is None else acc, "format": fmt}, "x")


def test_rollout_metrics_by_hand():
    from collections import Counter

    scored = [_s(0, 1.0, 4, fmt=1.0), _s(0, 0.0, 8, "length"), _s(1, 1.0, 2), _s(1, 1.0, 6)]
    m = rollout_metrics(scored, Counter({"correct": 3, "wrong": 1}))
    assert m["reward_mean"] == 0.75 and m["accuracy"] == 0.75 and m["format_rate"] == 0.25
    assert m["response_len_mean"] == 5.0 and m["response_len_max"] == 8.0 and m["truncation_rate"] == 0.25
    assert m["equal_reward_group_frac"] == 0.5  # group 1 is all 1.0, group 0 is mixed
    assert m["reason/correct"] == 0.75 and m["completion_tokens"] == 20.0


def test_jsonl_and_tolerant_reader(tmp_path):
    log = MetricsLogger(tmp_path, {}, "disabled", "r1zero", resume=False)
    log.log(0, {"reward_mean": 0.123456789, "n": 3})
    log.log(1, {"reward_mean": 0.5})
    log.log(1, {"reward_mean": 0.75})  # a step re-logged after a resume: the last one wins
    with (tmp_path / "metrics.jsonl").open("a") as f:
        f.write('{"step": 2, "rew')  # the trainer is mid-write
    rows = read_metrics(tmp_path)
    assert [r["step"] for r in rows] == [0, 1] and rows[1]["reward_mean"] == 0.75
    assert rows[0]["reward_mean"] == pytest.approx(0.123457)
    assert json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])["n"] == 3


def test_wandb_offline_without_api_key(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    log = MetricsLogger(tmp_path, {"model": "tiny"}, "auto", "r1zero-test", resume=False)
    log.log(0, {"reward_mean": 1.0})
    log.close()
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
