"""Online preference objectives (r1zero.algo.objectives): pairs, golden losses and gradients worked by hand, the
learner's surrogate gradient against autograd of the true loss, and short runs on the tiny model in which the
policy's probability of the rewarded completions goes up."""

import math

import pytest
import torch

from r1zero.algo.advantages import ADVANTAGES
from r1zero.algo.losses import Normaliser
from r1zero.algo.objectives import PREFERENCE_OBJECTIVES, form_pairs, kto_labels, objective_options
from r1zero.batching import to_mini_batches
from r1zero.build import learner_kwargs
from r1zero.config import ConfigError, load_config
from r1zero.controller import mini_batches
from r1zero.learner import Learner, token_logprobs
from r1zero.types import Rollout, ScoredRollout

T = lambda *x: torch.tensor(x, dtype=torch.float64)  # noqa: E731
L = lambda *x: torch.tensor(x, dtype=torch.long)  # noqa: E731
sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731


def _loss(name, pol, ref, lengths, rewards, groups, **opts):
    pol = pol.clone().requires_grad_(True)
    loss, m = PREFERENCE_OBJECTIVES[name].fn(pol, ref, lengths, rewards, groups, **opts)
    (grad,) = torch.autograd.grad(loss, pol)
    return float(loss.detach()), grad.tolist(), m


# -- pairs ---------------------------------------------------------------------------------------------------------
def test_pairs_best_meets_worst_disjoint_and_deterministic():
    # group 0 = rows 0..2, rewards [1, 0, 0.5]: order 0 (1), 2 (0.5), 1 (0) -> (0, 1); a group of 3 has 1 pair.
    # group 1 = rows 3..5, rewards [0, 0, 1]: order 5, 3, 4 (tie: lower index first) -> (5, 4).
    c, r = form_pairs(T(1, 0, 0.5, 0, 0, 1), L(0, 0, 0, 1, 1, 1), 2)
    assert (c.tolist(), r.tolist()) == ([0, 5], [1, 4])
    four = T(1, 1, 0, 0)
    assert [x.tolist() for x in form_pairs(four, L(0, 0, 0, 0), 1)] == [[0], [3]]
    assert [x.tolist() for x in form_pairs(four, L(0, 0, 0, 0), 2)] == [[0, 1], [3, 2]]
    assert [x.tolist() for x in form_pairs(four, L(0, 0, 0, 0), 9)] == [[0, 1], [3, 2]]  # at most n // 2
    # the second pair would be 0.5 vs 0.5: not a preference, stop
    assert [x.tolist() for x in form_pairs(T(1, 0.5, 0.5, 0), L(0, 0, 0, 0), 2)] == [[0], [3]]
    # all-equal group and a group of one give nothing; groups in order of first appearance, ids need not be sorted
    assert [x.numel() for x in form_pairs(T(1, 1, 1, 5), L(2, 2, 2, 9), 4)] == [0, 0]
    assert [x.tolist() for x in form_pairs(T(0, 1, 1, 0), L(7, 3, 7, 3), 1)] == [[2, 1], [0, 3]]


def test_kto_labels_are_relative_to_the_group():
    # [1, 0.5, 0] mean 0.5: above / at / below; [0.1] * 3: equal (a float mean that is not exactly 0.1 labels none)
    want, unwanted = kto_labels(T(1, 0.5, 0, 0.1, 0.1, 0.1), L(0, 0, 0, 1, 1, 1))
    assert want.tolist() == [True, False, False, False, False, False]
    assert unwanted.tolist() == [False, False, True, False, False, False]


# -- golden values ------------------------------------------------------------------------------------------------
# Shared case: two groups, rows 0,1 (rewards 1, 0) and rows 2,3 (rewards 0, 1) -> pairs (0, 1) and (3, 2).
G, R = L(0, 0, 1, 1), T(1, 0, 0, 1)
POL, REF = T(-10, -12, -20, -14), T(-11, -11, -18, -16)  # log ratios pi - ref: 1, -1, -2, 2
LEN = T(5, 6, 7, 8)


def test_dpo_golden():
    # h = (1 - (-1), 2 - (-2)) = (2, 4); beta = 0.5: beta h = (1, 2); loss = mean ln(1 + e^-bh)
    #   = (ln 1.367879 + ln 1.135335) / 2 = (0.313262 + 0.126928) / 2 = 0.220095
    # dL/dpi_c = -(1/2) beta sigmoid(-beta h): pair 1: -0.25 * 0.268941 = -0.067235; pair 2: -0.25 * 0.119203
    loss, grad, m = _loss("dpo", POL, REF, LEN, R, G, beta=0.5)
    assert loss == pytest.approx(0.2200948, abs=1e-6)
    assert grad == pytest.approx([-0.0672353, 0.0672353, 0.0298007, -0.0298007], abs=1e-6)
    assert m["pairs"] == 2 and m["pref_acc"] == 1.0
    assert m["implicit_margin"] == pytest.approx(1.5)  # mean beta h
    assert m["logp_margin"] == pytest.approx(4.0)  # ((-10 + 12) + (-14 + 20)) / 2
    assert m["reward_margin"] == pytest.approx(1.0)


def test_ipo_golden():
    # h = (2, 4), tau = 0.25: target 1 / (2 tau) = 2; loss = ((2 - 2)^2 + (4 - 2)^2) / 2 = 2
    # dL/dpi_c of pair 2 = 2 (h - 2) / 2 = 2, its rejected -2; pair 1 sits on the target: 0
    loss, grad, m = _loss("ipo", POL, REF, LEN, R, G, tau=0.25)
    assert loss == pytest.approx(2.0)
    assert grad == pytest.approx([0.0, 0.0, -2.0, 2.0])
    assert m["pairs"] == 2


def test_kto_golden():
    # desirable rows 0, 3; undesirable 1, 2. policy (-8, -12, -20, -12): rho = (3, -1, -2, 4), mean 1 -> z0 = 1.
    # beta = 0.5: v0 = s(0.5 * 2) = s(1) = 0.731059, v3 = s(1.5) = 0.817574; v1 = s(0.5 * (1 + 1)) = s(1),
    # v2 = s(0.5 * 3) = s(1.5). loss = mean(1 - v) = (2 * 0.268941 + 2 * 0.182426) / 4 = 0.225684
    # dL/drho_0 = -(1/4) beta s(1) (1 - s(1)) (z0 detached) = -0.125 * 0.196612 = -0.024576; rho_1: +0.024576
    loss, grad, m = _loss("kto", T(-8, -12, -20, -12), REF, LEN, R, G, beta=0.5)
    assert loss == pytest.approx(0.2256835, abs=1e-6)
    d1, d15 = 0.125 * sig(1) * (1 - sig(1)), 0.125 * sig(1.5) * (1 - sig(1.5))
    assert grad == pytest.approx([-d1, d1, d15, -d15], abs=1e-7)
    assert m["kl_z0"] == pytest.approx(1.0) and m["desirable"] == 2 and m["pref_acc"] == 1.0
    # lambda_d = 2 doubles the desirable rows' terms: (2 (1 - s(1)) + 2 (1 - s(1.5)) + (1 - s(1)) + (1 - s(1.5))) / 4
    #   = 3 * (0.268941 + 0.182426) / 4 = 0.338525
    assert _loss("kto", T(-8, -12, -20, -12), REF, LEN, R, G, beta=0.5, lambda_d=2.0)[0] == pytest.approx(0.3385253,
                                                                                                          abs=1e-6)
    # a negative batch mean of rho is clamped: z0 = 0 (rho = (1, -1, -2, -6) with policy (-10, -12, -20, -22))
    assert _loss("kto", T(-10, -12, -20, -22), REF, LEN, R, G)[2]["kl_z0"] == 0.0


def test_orpo_golden():
    # chosen: 4 tokens, pi = -4 ln 2 -> a = -ln 2, p = 1/2, odds 1, log odds 0
    # rejected: 2 tokens, pi = -2 ln 4 (the same sum) -> a = -ln 4, p = 1/4, odds 1/3, log odds -ln 3
    # L_OR = -ln s(ln 3) = -ln(3/4) = 0.287682; NLL = ln 2 = 0.693147; lam = 0.1: loss = 0.693147 + 0.028768
    # dL/dpi_c = -1/4 (NLL) + 0.1 * (-s(-ln 3) = -1/4) * dlogodds/da (= 1 / (1 - 1/2) = 2) * 1/4 = -0.2625
    # dL/dpi_r = 0.1 * (1/4) * (1 / (1 - 1/4)) * (1/2) = 0.0166667
    pol = T(-4 * math.log(2), -2 * math.log(4))
    loss, grad, m = _loss("orpo", pol, None, T(4, 2), T(1, 0), L(0, 0), lam=0.1)
    assert loss == pytest.approx(0.7219154, abs=1e-6)
    assert grad == pytest.approx([-0.2625, 1 / 60], abs=1e-6)
    assert m["implicit_margin"] == pytest.approx(math.log(3)) and m["nll"] == pytest.approx(math.log(2))
    assert m["logp_margin"] == pytest.approx(0.0, abs=1e-12)  # equal sums: only the length normalisation tells


def test_simpo_golden():
    # beta 2, gamma 1. pair 1: pi_c -4 / 4 tokens, pi_r -9 / 3 -> 2 * (-1) - 2 * (-3) = 4; ln(1 + e^-(4 - 1))
    #   = 0.048587. pair 2: pi_c -6 / 2, pi_r -2 / 2 -> -6 + 2 = -4; ln(1 + e^(4 + 1)) = 5.006715. mean 2.527651
    loss, grad, m = _loss("simpo", T(-4, -9, -2, -6), None, T(4, 3, 2, 2), T(1, 0, 0, 1), L(0, 0, 1, 1),
                          beta=2.0, gamma=1.0)
    assert loss == pytest.approx((math.log1p(math.exp(-3)) + math.log1p(math.exp(5))) / 2, abs=1e-7)
    assert loss == pytest.approx(2.527651, abs=1e-6)
    # dL/dpi_c of pair 1 = -(1/2) s(-3) * beta / 4 = -0.25 * 0.047426 = -0.011856
    assert grad[0] == pytest.approx(-0.25 * sig(-3), abs=1e-7)
    assert m["pref_acc"] == 0.5 and m["implicit_margin"] == pytest.approx(0.0)


@pytest.mark.parametrize("name", sorted(PREFERENCE_OBJECTIVES))
def test_no_pair_gives_zero_loss_and_zero_gradient(name):
    loss, grad, m = _loss(name, T(-3, -4, -5), T(-3, -3, -3), T(2, 2, 2), T(1, 1, 1), L(0, 0, 0))
    assert loss == 0.0 and grad == [0.0, 0.0, 0.0]


def test_objectives_needing_a_reference_refuse_none():
    with pytest.raises(ValueError, match="needs the reference"):
        PREFERENCE_OBJECTIVES["dpo"].fn(POL, None, LEN, R, G)
    assert {n for n, o in PREFERENCE_OBJECTIVES.items() if o.needs_ref} == {"dpo", "ipo", "kto"}


def test_config_checks_objective_options():
    cfg = load_config(None, ["algo.objective=dpo", "algo.objective_args={beta: 0.2, pairs_per_group: 2}"])
    assert cfg.algo.objective_args == {"beta": 0.2, "pairs_per_group": 2}
    assert set(objective_options("simpo")) == {"beta", "gamma", "pairs_per_group"}
    for bad, match in ((["algo.objective=rlhf"], "algo.objective"),
                       (["algo.objective=dpo", "algo.objective_args={tau: 0.1}"], "not options of objective 'dpo'"),
                       (["algo.objective=dpo", "algo.epochs=2"], "algo.epochs=1 and algo.mini_batches=1"),
                       (["algo.objective=orpo", "algo.mini_batches=2"], "algo.epochs=1 and algo.mini_batches=1"),
                       (["algo.objective=simpo", "algo.objective_args={pairs_per_group: 0}"], "pairs_per_group"),
                       (["algo.objective_args={beta: 0.1}"], "policy_gradient"),
                       (["algo.objective=kto", "algo.estimator=gae"], "critic")):
        with pytest.raises(ConfigError, match=match):
            load_config(None, bad)


# -- in the learner -------------------------------------------------------------------------------------------------
def _learner(tiny_path, *overrides):
    cfg = load_config(None, ["model.name=tiny", "rollout.max_tokens=16", *overrides])
    return Learner(tiny_path, **learner_kwargs(cfg)), cfg


def _rollouts(rewards, group_size, seed=0, length=None):
    """Random token sequences (completions of `length` tokens, or 2..9); rows of a group share their prompt."""
    g = torch.Generator().manual_seed(seed)
    out, prompt = [], []
    for i, rew in enumerate(rewards):
        if i % group_size == 0:
            prompt = torch.randint(3, 500, (int(torch.randint(3, 9, (1,), generator=g)),), generator=g).tolist()
        n = length or int(torch.randint(2, 10, (1,), generator=g))
        c = torch.randint(3, 500, (n,), generator=g).tolist()
        lp = (-torch.rand(len(c), generator=g) * 5).tolist()
        out.append(ScoredRollout(Rollout(str(i), i // group_size, prompt, c, "", lp, "stop", 0), float(rew), {}, "x"))
    return out


def _true_loss_grad(learner, cfg, scored):
    """Autograd of the objective on sequence logprobs computed in one forward with grad (the reference)."""
    (b,) = to_mini_batches(scored, [0.0] * len(scored), pad_id=0, max_tokens_per_micro_batch=100_000)[0].micro_batches
    obj = PREFERENCE_OBJECTIVES[cfg.algo.objective]
    learner.model.zero_grad(set_to_none=True)
    pol = (token_logprobs(learner.model, b, 1.0)[0] * b.loss_mask).sum(1)
    ref = None
    if obj.needs_ref:
        with torch.no_grad():
            ref = (token_logprobs(learner.ref, b, 1.0)[0] * b.loss_mask).sum(1)
    loss, _ = obj.fn(pol, ref, b.loss_mask.sum(1), b.rewards, b.group_ids, **cfg.algo.objective_args)
    loss.backward()
    return float(loss.detach()), _flat_grad(learner)


def _flat_grad(learner):
    return torch.cat([p.grad.flatten() if p.grad is not None else torch.zeros(p.numel())
                      for p in learner.model.parameters()])


REWARDS = [1, 0, 0, 1, 0.5, 0.5, 0.5, 0.5, 0, 1, 1, 1]  # three groups of four: one all-equal, one 3-vs-1


@pytest.mark.parametrize("name", sorted(PREFERENCE_OBJECTIVES))
def test_surrogate_gradient_is_the_objectives_gradient(tiny_path, name):
    learner, cfg = _learner(tiny_path, f"algo.objective={name}", "learner.drop_zero_advantage=true",
                            "learner.micro_batch_tokens=30")
    if learner.ref is not None:  # a reference that differs from the policy: the log ratios are not all 0
        g = torch.Generator().manual_seed(3)
        with torch.no_grad():
            for p in learner.ref.parameters():
                p.add_(0.05 * torch.randn(p.shape, generator=g))
    scored = _rollouts(REWARDS, 4)
    rewards = torch.tensor(REWARDS, dtype=torch.float32)
    adv = ADVANTAGES["grpo"](rewards, torch.tensor([s.rollout.group_id for s in scored]))
    # the controller's batching, split over several micro-batches (the surrogate must accumulate exactly)
    minis = mini_batches(cfg, scored, adv, torch.ones(12, dtype=torch.bool), 0, rewards)
    assert len(minis[0].micro_batches) >= 3 and minis[0].skipped == 0  # nothing skipped before the learner
    metrics = learner._prepare(minis)
    learner.model.zero_grad(set_to_none=True)
    norm = Normaliser(minis[0].tokens, minis[0].seqs, learner.max_tokens)  # unused by the surrogate (no KL)
    for b in minis[0].micro_batches:
        learner._micro_step(b, norm, {})
    got = _flat_grad(learner)
    loss, want = _true_loss_grad(learner, cfg, scored)
    assert metrics["loss"] == pytest.approx(loss, rel=1e-5, abs=1e-6)
    assert want.abs().max() > 1e-4  # there is a gradient to match
    scale = float(want.abs().max())  # float32 sums in a different order: a tolerance relative to the gradient's size
    torch.testing.assert_close(got, want, atol=1e-5 * scale, rtol=1e-4)
    # pairs (ppg 4): group 0 -> (0, 2), (3, 1); group 1 none; group 2 -> (9, 8) only. KTO labels rows 0, 1, 2, 3
    # and 8..11 (group 2: mean 0.75). The rows with coefficient 0 left the micro-batches.
    assert minis[0].skipped == (4 if name == "kto" else 6)


def _rewarded_mass(learner, scored):
    """(expected reward, logprob margin): the mean over groups of the probability mass the policy puts on the rewarded
    completions among the group's fixed completions (the expected reward of sampling from the policy restricted to
    them), and the mean sequence logprob of the rewarded minus that of the unrewarded."""
    (b,) = to_mini_batches(scored, [0.0] * len(scored), pad_id=0, max_tokens_per_micro_batch=100_000)[0].micro_batches
    with torch.no_grad():
        s = (token_logprobs(learner.model, b, 1.0)[0] * b.loss_mask).sum(1).double()
    out = []
    for g in b.group_ids.unique():
        sel = b.group_ids == g
        out.append(float((torch.softmax(s[sel], 0) * b.rewards[sel]).sum()))
    return sum(out) / len(out), float(s[b.rewards > 0].mean() - s[b.rewards == 0].mean())


@pytest.mark.parametrize("name", ["dpo", "ipo", "kto", "orpo", "simpo", "reinforce_pp"])
def test_training_raises_the_rewarded_completions_probability(tiny_path, name):
    over = ["algo.estimator=reinforce_pp"] if name == "reinforce_pp" else [f"algo.objective={name}"]
    learner, cfg = _learner(tiny_path, *over, "learner.lr=1e-4")
    rewards = [1, 0, 0, 1, 0, 1, 0, 0]  # two prompts, four completions each
    # equal lengths: the random tiny model starts with comparable sequence logprobs (expected reward 0.34, not 0/1)
    scored = _rollouts(rewards, 4, seed=1, length=6)
    r = torch.tensor(rewards, dtype=torch.float32)
    adv = ADVANTAGES[cfg.algo.estimator](r, torch.tensor([s.rollout.group_id for s in scored]))
    before = _rewarded_mass(learner, scored)
    for _ in range(3):
        m = learner.train_step(mini_batches(cfg, scored, adv, torch.ones(8, dtype=torch.bool), 0, r))
    after = _rewarded_mass(learner, scored)
    # measured 2026-12 (lr 1e-4, 3 steps): expected reward 0.34 -> 0.90..0.998, margin -0.3 -> 5.4..8.3 nats
    assert after[0] > before[0] + 0.3 and after[1] > before[1] + 3.0, (before, after)
    if name != "reinforce_pp":
        assert m["objective/loss"] == m["loss"] and (m.get("objective/pairs", 0) > 0 or m["objective/desirable"] > 0)


def test_batches_carry_each_rows_reward_and_group():
    """The rows are re-ordered by length into micro-batches: each must keep its own shaped reward and group id."""
    scored = _rollouts(REWARDS, 4, seed=2)
    shaped = [10.0 + i for i in range(12)]  # distinct from each rollout's .reward: the argument wins
    minis = to_mini_batches(scored, [0.0] * 12, pad_id=0, max_tokens_per_micro_batch=30, rewards=shaped)
    by_completion = {tuple(s.rollout.completion_ids): (shaped[i], s.rollout.group_id) for i, s in enumerate(scored)}
    seen = 0
    for b in minis[0].micro_batches:
        for row in range(b.input_ids.shape[0]):
            completion = tuple(b.input_ids[row][b.loss_mask[row].bool()].tolist())
            assert (float(b.rewards[row]), int(b.group_ids[row])) == by_completion[completion]
            seen += 1
    assert seen == 12 and len(minis[0].micro_batches) >= 3


def test_bench_arm_specs_split_on_keys_only():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "objectives.py"
    spec = importlib.util.spec_from_file_location("bench_objectives", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.parse_arm("ctl:reward.control=random,algo.objective_args={beta: 0.1, pairs_per_group: 2}") == (
        "ctl", ["reward.control=random", "algo.objective_args={beta: 0.1, pairs_per_group: 2}"])
    arms = bench.arms_of("grpo,dpo", ["rnd:reward.control=random"])
    assert list(arms) == ["grpo", "dpo", "rnd"] and arms["dpo"] == ["algo.objective=dpo"]
    for name, overrides in bench.ARMS.items():  # every named arm is a valid config
        load_config(path.parents[1] / "configs" / "default.yaml", overrides)
    with pytest.raises(SystemExit):
        bench.arms_of("grpo,ppo", [])
