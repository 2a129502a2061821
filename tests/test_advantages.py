"""Advantage estimators against numbers worked out by hand."""

import math

import pytest
import torch

from r1zero.algo.advantages import ADVANTAGES


def _run(name, rewards, groups):
    return ADVANTAGES[name](torch.tensor(rewards, dtype=torch.float32), torch.tensor(groups, dtype=torch.long))


def test_registry_has_required_names_and_unknown_fails_when_the_config_loads():
    from r1zero.config import ConfigError, load_config

    assert {"grpo", "dr_grpo", "rloo"} <= set(ADVANTAGES)
    with pytest.raises(ConfigError, match="algo.estimator.*grpo"):
        load_config(None, ["algo.estimator=ppo_gae"])


def test_grpo_bessel_std():
    # group 0: [1, 0, 0, 1] mean 0.5, unbiased var = (4 * 0.25) / 3 = 1/3, std = 0.577350
    # group 1: [1, 2, 3] mean 2, unbiased var = (1 + 0 + 1) / 2 = 1
    adv = _run("grpo", [1, 0, 0, 1, 1, 2, 3], [0, 0, 0, 0, 1, 1, 1])
    s = math.sqrt(1 / 3)
    expected = [0.5 / s, -0.5 / s, -0.5 / s, 0.5 / s, -1.0, 0.0, 1.0]
    assert adv.tolist() == pytest.approx(expected, abs=1e-5)


def test_dr_grpo_is_centered_only():
    adv = _run("dr_grpo", [1, 0, 0, 1, 1, 2, 3], [0, 0, 0, 0, 1, 1, 1])
    assert adv.tolist() == pytest.approx([0.5, -0.5, -0.5, 0.5, -1.0, 0.0, 1.0])


def test_rloo_leave_one_out():
    # r=1 in [1,0,0,1]: others mean 1/3 -> 2/3; r=0: others 2/3 -> -2/3. [1,2,3]: 1-2.5, 2-2, 3-1.5.
    adv = _run("rloo", [1, 0, 0, 1, 1, 2, 3], [0, 0, 0, 0, 1, 1, 1])
    assert adv.tolist() == pytest.approx([2 / 3, -2 / 3, -2 / 3, 2 / 3, -1.5, 0.0, 1.5])


@pytest.mark.parametrize("name", ["grpo", "dr_grpo", "rloo"])
def test_group_of_one_and_equal_rewards_get_zero(name):
    # group 7 has one member; group 3 all equal rewards (no signal); ids need not be contiguous or sorted
    adv = _run(name, [5.0, 1.0, 1.0, 1.0], [7, 3, 3, 3])
    assert adv.tolist() == [0.0, 0.0, 0.0, 0.0]


def test_interleaved_group_ids():
    adv = _run("dr_grpo", [1, 10, 3, 20], [0, 1, 0, 1])
    assert adv.tolist() == pytest.approx([-1.0, -5.0, 1.0, 5.0])


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="must both be"):
        ADVANTAGES["grpo"](torch.zeros(3), torch.zeros(4, dtype=torch.long))


def test_reinforce_pp_centres_in_the_group_then_whitens_over_the_batch():
    # centred: [0.5, -0.5, -0.5, 0.5, -1, 0, 1] (group means 0.5 and 2), batch mean 0;
    # population var = (4 * 0.25 + 1 + 0 + 1) / 7 = 3/7, std = 0.654654 -> centred / 0.654654
    adv = _run("reinforce_pp", [1, 0, 0, 1, 1, 2, 3], [0, 0, 0, 0, 1, 1, 1])
    s = math.sqrt(3 / 7)
    assert adv.tolist() == pytest.approx([0.5 / s, -0.5 / s, -0.5 / s, 0.5 / s, -1 / s, 0.0, 1 / s], abs=1e-5)
    # unlike GRPO, a group whose rewards barely differ keeps small advantages: [0, 0.1] next to [0, 1] gives
    # centred [-0.05, 0.05, -0.5, 0.5], std = sqrt((2 * 0.0025 + 2 * 0.25) / 4) = 0.355317
    adv = _run("reinforce_pp", [0, 0.1, 0, 1], [0, 0, 1, 1])
    s = math.sqrt(0.505 / 4)
    assert adv.tolist() == pytest.approx([-0.05 / s, 0.05 / s, -0.5 / s, 0.5 / s], abs=1e-5)
    grpo = _run("grpo", [0, 0.1, 0, 1], [0, 0, 1, 1])  # GRPO's per-group std makes both 0.707
    assert float(grpo[1]) == pytest.approx(float(grpo[3]), abs=1e-4)


def test_reinforce_pp_group_of_one_and_equal_rewards():
    # group 9 has one member (0 after centring, still counted in the std); group 3: [1, 0] centred [0.5, -0.5];
    # var = (0 + 0.25 + 0.25) / 3 = 1/6, std = 0.408248
    adv = _run("reinforce_pp", [5.0, 1.0, 0.0], [9, 3, 3])
    assert adv.tolist() == pytest.approx([0.0, 0.5 / math.sqrt(1 / 6), -0.5 / math.sqrt(1 / 6)], abs=1e-5)
    assert _run("reinforce_pp", [1.0, 1.0, 1.0, 1.0], [0, 0, 1, 1]).tolist() == [0.0] * 4
