"""PPO with a critic (algo.estimator=gae): GAE, the clipped value loss and whitening against values worked by hand;
then the learner on the tiny model: the critic learns, the policy moves toward rewarded completions, micro-batching
is exact, the value head survives save/load, and the config refuses what cannot work."""

import math

import pytest
import torch

from r1zero.algo.gae import explained_variance, gae, outcome_rewards, outcome_token_rewards, value_loss, whiten
from r1zero.algo.losses import Normaliser, ppo_clip
from r1zero.batching import to_mini_batches, to_train_batches
from r1zero.build import learner_kwargs
from r1zero.config import ConfigError, load_config
from r1zero.controller import trace_advantages
from r1zero.critic import ROW_ADVANTAGES
from r1zero.learner import Learner, token_logprobs
from r1zero.types import Rollout, ScoredRollout

# ---- pure functions, by hand -----------------------------------------------------------------------------------

def test_gamma_lambda_one_gives_reward_minus_value():
    # prompt at position 0, completion at 1..3, reward 1 on the last token: A_t = R - V(s_t), returns = R
    mask = torch.tensor([[0.0, 1.0, 1.0, 1.0]])
    values = torch.tensor([[0.0, 0.2, 0.5, 0.9]])
    adv, ret = gae(outcome_token_rewards(torch.tensor([1.0]), mask), values, mask, 1.0, 1.0)
    assert adv.tolist()[0] == pytest.approx([0.0, 0.8, 0.5, 0.1])
    assert ret.tolist()[0] == pytest.approx([0.0, 1.0, 1.0, 1.0])


def test_gae_with_discount_and_lambda_by_hand():
    # gamma 0.9, lambda 0.5; completion at 0..2, padding at 3 (its value 7 must not leak in), reward 1 at 2:
    # t=2: delta = 1 + 0 - 0.8 = 0.2                       A2 = 0.2
    # t=1: delta = 0 + 0.9*0.8 - 0.4 = 0.32                 A1 = 0.32 + 0.45*0.2 = 0.41
    # t=0: delta = 0 + 0.9*0.4 - 0.5 = -0.14                A0 = -0.14 + 0.45*0.41 = 0.0445
    # second row: gamma = lambda = 1 would give R - V; here 1 token: A = -0.5 - 0.25 = -0.75
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    values = torch.tensor([[0.5, 0.4, 0.8, 7.0], [3.0, 3.0, 0.25, 0.0]])
    rewards = outcome_token_rewards(torch.tensor([1.0, -0.5]), mask)
    assert rewards.tolist() == [[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, -0.5, 0.0]]
    adv, ret = gae(rewards, values, mask, 0.9, 0.5)
    assert adv.tolist()[0] == pytest.approx([0.0445, 0.41, 0.2, 0.0])
    assert ret.tolist()[0] == pytest.approx([0.5445, 0.81, 1.0, 0.0])
    assert adv.tolist()[1] == pytest.approx([0.0, 0.0, -0.75, 0.0])
    assert ret.tolist()[1] == pytest.approx([0.0, 0.0, -0.5, 0.0])


def test_gae_skips_a_hole_in_the_mask():
    # a masked-out token in the middle is skipped: V(s_next) of position 0 is position 2's, A0 = 0.3 + 0.4 = R - V0
    mask = torch.tensor([[1.0, 0.0, 1.0]])
    adv, ret = gae(torch.tensor([[0.0, 5.0, 1.0]]), torch.tensor([[0.3, 9.0, 0.6]]), mask, 1.0, 1.0)
    assert adv.tolist()[0] == pytest.approx([0.7, 0.0, 0.4])
    assert ret.tolist()[0] == pytest.approx([1.0, 0.0, 1.0])


def test_lambda_zero_is_one_step_td():
    # lambda 0: A_t = r_t + gamma V(s_{t+1}) - V(s_t) -> [0.5*0.6 - 0.2, 2 - 0.6] = [0.1, 1.4]
    mask = torch.ones(1, 2)
    adv, _ = gae(torch.tensor([[0.0, 2.0]]), torch.tensor([[0.2, 0.6]]), mask, 0.5, 0.0)
    assert adv.tolist()[0] == pytest.approx([0.1, 1.4])


def test_outcome_token_rewards_and_the_estimator_entry():
    mask = torch.tensor([[0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    out = outcome_token_rewards(torch.tensor([1.0, -0.5, 2.0]), mask)
    assert out.tolist() == [[0, 0, 1, 0], [0, 0, 0, -0.5], [0, 0, 0, 0]]  # a row with no completion gets nothing
    r = torch.tensor([1.0, 0.0, 0.5])
    assert outcome_rewards(r, torch.tensor([0, 0, 1])).tolist() == [1.0, 0.0, 0.5]


def test_clipped_value_loss_by_hand():
    # clip 0.2. tok0: V 0.5 from old 0 -> clipped 0.2; (0.5-1)^2 = 0.25 < (0.2-1)^2 = 0.64 -> 0.5*0.64 = 0.32, the
    # clipped branch (no gradient). tok1: within the clip, 0.5*(1-0)^2 = 0.5, grad (1-0)/3. tok2: 0.5*0.09 = 0.045,
    # grad (0-0.3)/3 = -0.1. token mean: 0.865/3.
    values = torch.tensor([[0.5, 1.0, 0.0]], requires_grad=True)
    old, ret, mask = torch.tensor([[0.0, 0.9, 0.0]]), torch.tensor([[1.0, 0.0, 0.3]]), torch.ones(1, 3)
    loss, m = value_loss(values, old, ret, mask, clip=0.2)
    assert loss.item() == pytest.approx(0.865 / 3)
    assert m["vf_clip_frac"] == pytest.approx(1 / 3)
    loss.backward()
    assert values.grad.tolist()[0] == pytest.approx([0.0, 1 / 3, -0.1])


def test_value_loss_takes_the_pessimistic_branch_and_respects_the_mask():
    # V -0.5 from old 0, R 0.1: clipped -0.2 -> (0.3)^2 = 0.09 < (0.6)^2 = 0.36: the unclipped branch, gradient -0.6;
    # the masked token (a huge error) counts nowhere; seq_sum_norm divides by seqs * max_tokens = 1 * 4
    values = torch.tensor([[-0.5, 100.0]], requires_grad=True)
    mask = torch.tensor([[1.0, 0.0]])
    loss, m = value_loss(values, torch.zeros(1, 2), torch.tensor([[0.1, 0.0]]), mask, clip=0.2)
    assert loss.item() == pytest.approx(0.18) and m["vf_clip_frac"] == 0.0
    loss.backward()
    assert values.grad.tolist()[0] == pytest.approx([-0.6, 0.0])
    loss, _ = value_loss(values, torch.zeros(1, 2), torch.tensor([[0.1, 0.0]]), mask, clip=0.2, agg="seq_sum_norm",
                         norm=Normaliser(1.0, 1, 4))
    assert loss.item() == pytest.approx(0.18 / 4)


def test_whiten_and_explained_variance():
    # mean 2.5, unbiased var 5/3
    s = math.sqrt(5 / 3)
    assert whiten(torch.tensor([1.0, 2.0, 3.0, 4.0])).tolist() == pytest.approx([-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s])
    r = torch.tensor([1.0, 0.0, 1.0, 0.0])
    assert explained_variance(r.clone(), r) == pytest.approx(1.0)
    assert explained_variance(torch.full((4,), 0.5), r) == pytest.approx(0.0)
    assert explained_variance(torch.tensor([0.0, 1.0, 0.0, 1.0]), r) == pytest.approx(-3.0)  # 1 - 1 / 0.25
    assert explained_variance(torch.zeros(4), torch.ones(4)) == 0.0  # nothing to explain
    assert explained_variance(torch.full((4,), 0.3), torch.tensor([0.0, 1e-10, 0.0, -1e-10])) == 0.0  # rounding only


def test_policy_loss_takes_token_advantages():
    # ratios 1.5 (A=+1: min(1.5, 1.2) -> -1.2) and 0.5 (A=-1: min(-0.5, -0.8) -> +0.8): mean -0.2, both clipped
    lp = torch.tensor([[math.log(1.5), math.log(0.5)]])
    loss, m = ppo_clip(lp, torch.zeros(1, 2), torch.tensor([[1.0, -1.0]]), torch.ones(1, 2))
    assert loss.item() == pytest.approx(-0.2) and m["clip_frac"] == pytest.approx(1.0)
    g = torch.Generator().manual_seed(0)
    lp, old, adv = torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g), torch.randn(3, generator=g)
    mask = (torch.rand(3, 5, generator=g) > 0.3).float()
    a, _ = ppo_clip(lp, old, adv, mask)
    b, _ = ppo_clip(lp, old, adv[:, None].expand(3, 5), mask)
    assert a.item() == pytest.approx(b.item())
    with pytest.raises(ValueError, match=r"\[B\] or \[B, T\]"):
        ppo_clip(lp, old, torch.zeros(3, 4), mask)


# ---- config --------------------------------------------------------------------------------------------------

def test_config_accepts_gae_and_refuses_bad_settings():
    cfg = load_config(None, ["algo.estimator=gae", "algo.lam=0.95", "algo.vf_coef=0.5"])
    assert (cfg.algo.estimator, cfg.algo.gamma, cfg.algo.lam, cfg.algo.vf_coef) == ("gae", 1.0, 0.95, 0.5)
    for bad, says in [("algo.lam=1.5", "algo.lam"), ("algo.gamma=-0.1", "algo.gamma"), ("algo.vf_coef=0", "vf_coef"),
                      ("algo.value_clip=0", "value_clip"), ("algo.critic_lr=-1", "critic_lr"),
                      ("learner.drop_zero_advantage=true", "drop_zero_advantage")]:
        with pytest.raises(ConfigError, match=says):
            load_config(None, ["algo.estimator=gae", bad])


# ---- the learner on the tiny model ---------------------------------------------------------------------------

def _learner(tiny_path, *overrides):
    cfg = load_config(None, ["model.name=tiny", "rollout.max_tokens=16", "algo.estimator=gae", *overrides])
    return Learner(tiny_path, **learner_kwargs(cfg))


def _groups(n_groups=3, seed=0):
    """Per prompt, two rewarded and two unrewarded completions (distinct random tokens); rewards 1 / 0."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for k in range(n_groups):
        p = torch.randint(3, 500, (5,), generator=g).tolist()
        for j in range(4):
            c = torch.randint(3, 500, (int(torch.randint(3, 8, (1,), generator=g)),), generator=g).tolist()
            out.append(ScoredRollout(Rollout(f"{k}", k, p, c, "", [-3.0] * len(c), "stop", 0), float(j < 2), {}, ""))
    return out


def _minis(scored, **kw):
    return to_mini_batches(scored, [s.reward for s in scored], pad_id=0, max_tokens_per_micro_batch=4096, **kw)


def test_the_critic_learns_on_a_fixed_batch(tiny_path):
    # the policy barely moves (lr 1e-9): the targets stay the rows' rewards, 1 or 0 on every token. V ~ 0 at first
    # (loss 0.5 * mean R^2 = 0.25); a constant V = mean R would reach 0.125 and explain no variance; the head must do
    # better than that from the hidden states (measured: 0.08 and 0.47 after 10 steps)
    learner = _learner(tiny_path, "learner.lr=1e-9", "algo.critic_lr=3e-3")
    scored = _groups()
    losses, ev = [], []
    for _ in range(10):
        m = learner.train_step(_minis(scored))
        assert len(m.pop(ROW_ADVANTAGES)) == len(scored)  # for the traces, not a metric
        losses.append(m["value_loss"])
        ev.append(m["explained_variance"])
        assert all(math.isfinite(v) for v in m.values()), m
    assert losses[0] == pytest.approx(0.25, abs=0.02)
    assert min(losses[-3:]) < 0.1 and ev[-1] > 0.3, (losses, ev)
    # gamma = lambda = 1: every token's return is its row's reward; the mean is over tokens
    tokens = [len(s.rollout.completion_ids) for s in scored]
    assert m["returns_mean"] == pytest.approx(sum(n for n, s in zip(tokens, scored) if s.reward) / sum(tokens))


def test_the_policy_moves_toward_rewarded_completions(tiny_path):
    learner = _learner(tiny_path, "learner.lr=3e-3", "algo.critic_lr=1e-2")
    scored = _groups(seed=1)
    rewarded = torch.tensor([s.reward == 1.0 for s in scored])

    def seq_logprobs():  # each row on its own (a micro-batch sorts its rows by length)
        out = []
        for s in scored:
            (b,) = to_train_batches([s], [s.reward], pad_id=0, max_tokens_per_micro_batch=4096)
            with torch.no_grad():
                out.append(float((token_logprobs(learner.model, b, 1.0)[0] * b.loss_mask).sum()))
        return torch.tensor(out)

    before = seq_logprobs()
    for _ in range(4):
        learner.train_step(_minis(scored))
    delta = seq_logprobs() - before
    # measured: rewarded rows +7..+21 nats, the others -1.6..-9.6
    assert (delta[rewarded] > 0.5).all() and (delta[~rewarded] < -0.5).all(), delta


def _grads(learner, minis):
    learner._prepare(minis)
    learner.model.zero_grad(set_to_none=True)
    learner.critic.zero_grad(set_to_none=True)
    for mb in minis:
        norm = Normaliser(mb.tokens, mb.seqs, learner.max_tokens)
        for b in mb.micro_batches:
            learner._micro_step(b, norm, {})
    params = list(learner.model.parameters())
    flat = lambda ps: torch.cat([p.grad.flatten() if p.grad is not None else torch.zeros(p.numel()) for p in ps])  # noqa: E731
    return flat(params), flat(learner.critic.parameters())


def test_micro_batches_whiten_over_the_whole_step(tiny_path):
    learner = _learner(tiny_path)
    with torch.no_grad():  # a critic that is not ~0, so the values matter
        learner.critic.head.weight.normal_(0, 0.3)
    scored = _groups()
    whole = to_mini_batches(scored, [s.reward for s in scored], pad_id=0, max_tokens_per_micro_batch=10_000)
    split = to_mini_batches(scored, [s.reward for s in scored], pad_id=0, max_tokens_per_micro_batch=30)
    assert len(whole[0].micro_batches) == 1 and len(split[0].micro_batches) >= 3
    for got, want in zip(_grads(learner, split), _grads(learner, whole)):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("trunk", [False, True])
def test_value_loss_reaches_the_policy_only_through_a_shared_trunk(tiny_path, trunk):
    a = _learner(tiny_path, "algo.vf_coef=0.01", f"algo.value_trunk_grad={trunk}")
    b = _learner(tiny_path, "algo.vf_coef=10", f"algo.value_trunk_grad={trunk}")
    for lrn in (a, b):
        with torch.no_grad():
            lrn.critic.head.weight.copy_(torch.linspace(-0.2, 0.2, lrn.critic.head.weight.numel()).view(1, -1))
    ga, ca = _grads(a, _minis(_groups()))
    gb, cb = _grads(b, _minis(_groups()))
    torch.testing.assert_close(cb, 1000 * ca, rtol=1e-4, atol=1e-7)  # the head's gradient scales with vf_coef
    if trunk:
        assert not torch.allclose(ga, gb, atol=1e-6)
    else:
        torch.testing.assert_close(ga, gb, atol=0, rtol=0)  # the policy's gradient is the policy loss's alone


def test_save_and_load_keep_the_value_head_and_resume_exactly(tiny_path, tmp_path):
    scored = _groups()
    one = _learner(tiny_path, "learner.lr=1e-3")
    one.train_step(_minis(scored))
    one.save_state(str(tmp_path / "ck"))
    two = _learner(tiny_path, "learner.lr=1e-3")
    assert not torch.equal(two.critic.head.weight, one.critic.head.weight)
    two.load_state(str(tmp_path / "ck"))
    torch.testing.assert_close(two.critic.head.weight, one.critic.head.weight, atol=0, rtol=0)
    m1, m2 = one.train_step(_minis(scored)), two.train_step(_minis(scored))
    assert m1["value_loss"] == m2["value_loss"] and m1["loss"] == m2["loss"]
    torch.testing.assert_close(two.critic.head.weight, one.critic.head.weight, atol=0, rtol=0)
    cfg = load_config(None, ["model.name=tiny", "rollout.max_tokens=16"])
    with pytest.raises(ValueError, match="value head"):
        Learner(tiny_path, **learner_kwargs(cfg)).load_state(str(tmp_path / "ck"))


def test_the_value_clip_acts_only_after_the_critic_has_moved(tiny_path):
    """Like the ratio clip: with one optimizer step per batch the values are the old ones (nothing to clip); with
    several, the head moves away from its pre-update values and the clip takes over on some tokens."""
    scored = _groups()
    one = _learner(tiny_path, "algo.critic_lr=3e-2", "algo.value_clip=0.05")
    assert one.train_step(_minis(scored))["vf_clip_frac"] == 0.0
    several = _learner(tiny_path, "algo.critic_lr=3e-2", "algo.value_clip=0.05", "algo.epochs=3")
    m = several.train_step(_minis(scored))
    assert m["optimizer_steps"] == 3 and m["vf_clip_frac"] > 0


def test_traces_get_each_rows_mean_token_advantage_not_its_reward(tiny_path, tmp_path):
    """The gae estimator passes the rewards through as TrainBatch.advantages; the traces must show the advantage the
    update used: each row's mean (whitened) token advantage, mapped back to the scored order through row_index
    although micro-batches sort rows by length and mini-batches split them; a row kept out of the loss gets 0."""
    import pyarrow.parquet as pq

    from r1zero.traces import write_step
    from r1zero.types import Problem

    scored = _groups()
    in_loss = [i != 5 for i in range(len(scored))]  # e.g. a truncated completion under overlong filtering
    split_kw = dict(max_tokens_per_micro_batch=30, mini_batches=3, in_loss=in_loss)
    split = to_mini_batches(scored, [s.reward for s in scored], pad_id=0, **split_kw)
    assert sum(len(mb.micro_batches) for mb in split) >= 4
    got = _learner(tiny_path, "algo.mini_batches=3").train_step(split)[ROW_ADVANTAGES]
    assert sorted(got) == [i for i in range(len(scored)) if in_loss[i]]
    for b in (b for mb in split for b in mb.micro_batches):  # the learner filled token_advantages in place (CPU)
        for j, i in enumerate(b.row_index.tolist()):
            sel = b.loss_mask[j].bool()
            assert b.input_ids[j][sel].tolist() == scored[i].rollout.completion_ids  # row_index finds the row
            assert got[i] == pytest.approx(float(b.token_advantages[j][sel].mean()), abs=1e-6)
    # pre-update values, so the same rows in one micro-batch give the same advantages (same seed, same critic)
    whole = _learner(tiny_path).train_step(_minis(scored, in_loss=in_loss))[ROW_ADVANTAGES]
    assert set(whole) == set(got) and all(whole[i] == pytest.approx(got[i], abs=1e-5) for i in got)
    # V ~ 0 at first, so A_t ~ R, whitened over the step's tokens: rewarded rows above 0, the others below
    lengths = {i: len(scored[i].rollout.completion_ids) for i in got}
    assert sum(got[i] * lengths[i] for i in got) == pytest.approx(0.0, abs=1e-4)  # whitened: token mean 0
    assert all((got[i] > 0) == (scored[i].reward == 1.0) for i in got), got
    # the controller's column: 0 for the row out of the loss; without a critic the estimator's values unchanged
    rewards = torch.tensor([s.reward for s in scored])
    column = trace_advantages(rewards, got)
    assert column[5] == 0.0 and column == [got.get(i, 0.0) for i in range(len(scored))]
    assert trace_advantages(rewards, None) == rewards.tolist()
    problems = {s.rollout.problem_id: Problem(s.rollout.problem_id, "arith", "q", "a") for s in scored}
    table = pq.read_table(write_step(tmp_path, 0, scored, column, problems)).to_pydict()
    assert table["advantage"] == pytest.approx(column, abs=1e-6)  # float32 column
    assert table["advantage"] != pytest.approx(table["reward"], abs=0.05)
