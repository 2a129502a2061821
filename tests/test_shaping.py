"""Cut-off completions (finish_reason 'length'), one policy each, against values worked by hand."""

import pytest
import torch

from r1zero.algo.advantages import TRUNCATION
from r1zero.config import load_config
from r1zero.controller import shaped_rewards
from r1zero.types import Rollout, ScoredRollout

REWARDS = torch.tensor([1.5, 1.0, 0.5, 0.0])
LENGTHS = torch.tensor([10, 13, 16, 16])
TRUNC = torch.tensor([False, False, True, True])  # max_tokens 16: the last two were cut off


def _run(mode, **kw):
    r, keep = TRUNCATION[mode](REWARDS, LENGTHS, TRUNC, **kw)
    return r.tolist(), keep.tolist()


def test_keep_zero_mask():
    assert _run("keep") == ([1.5, 1.0, 0.5, 0.0], [True] * 4)
    assert _run("zero") == ([1.5, 1.0, 0.0, 0.0], [True] * 4)
    assert _run("mask") == ([1.5, 1.0, 0.5, 0.0], [True, True, False, False])


def test_soft_overlong_punishment():
    # buffer 4 before max 16: free up to 12; 13 -> -(1/4), 16 -> -1 (DAPO eq. 13), times the penalty
    r, keep = _run("soft", max_tokens=16, buffer=4, penalty=1.0)
    assert r == pytest.approx([1.5, 0.75, -0.5, -1.0]) and all(keep)
    r, _ = _run("soft", max_tokens=16, buffer=4, penalty=0.5)
    assert r == pytest.approx([1.5, 0.875, 0.0, -0.5])
    with pytest.raises(ValueError, match="buffer"):
        _run("soft", max_tokens=16, buffer=0)


def test_the_config_default_and_the_step_function():
    cfg = load_config(None, ["rollout.max_tokens=4"])
    assert cfg.reward.truncated == "zero"  # Dr. GRPO's choice, stated in r1zero/config.py
    cut = ScoredRollout(Rollout("p", 0, [1], [2, 3, 4, 5], "<think> 3 + 4 = 7 and then 7", [0.0] * 4, "length", 0),
                        1.0, {"accuracy": 1.0}, "correct")
    done = ScoredRollout(Rollout("p", 0, [1], [2, 3], "x", [0.0] * 2, "stop", 0), 1.0, {"accuracy": 1.0}, "correct")
    rewards, in_loss = shaped_rewards(cfg, [cut, done])
    assert rewards.tolist() == [0.0, 1.0] and in_loss.tolist() == [True, True]
    rewards, in_loss = shaped_rewards(load_config(None, ["rollout.max_tokens=4", "reward.truncated=mask"]), [cut, done])
    assert rewards.tolist() == [1.0, 1.0] and in_loss.tolist() == [False, True]
