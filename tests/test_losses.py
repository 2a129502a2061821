"""Clipped surrogate, aggregation modes and KL estimators against hand-computed values and gradients."""

import math

import pytest
import torch

from r1zero.algo.losses import kl_penalty, policy_loss, truncated_is_weights


def _lp(ratios):
    return torch.tensor([[math.log(r) for r in ratios]], dtype=torch.float64, requires_grad=True)


def test_positive_advantage_clips_high_ratio():
    # ratios 1.5, 0.5, 1.0 with A=+1, eps=0.2: min(1.5, 1.2)=1.2, min(0.5, 0.8)=0.5, min(1,1)=1 -> loss -(2.7)/3
    lp = _lp([1.5, 0.5, 1.0])
    loss, m = policy_loss(lp, torch.zeros(1, 3, dtype=torch.float64), torch.tensor([1.0]), torch.ones(1, 3))
    assert loss.item() == pytest.approx(-0.9)
    assert m["clip_frac"] == pytest.approx(1 / 3)
    loss.backward()
    # d(-ratio*A/3)/dlogp = -ratio/3 where unclipped; 0 on the clipped token
    assert lp.grad.tolist()[0] == pytest.approx([0.0, -0.5 / 3, -1.0 / 3])


def test_negative_advantage_clips_low_ratio():
    # A=-1: ratio 1.5 -> min(-1.5, -1.2) = -1.5 (unclipped, gradient flows); ratio 0.5 -> min(-0.5, -0.8) = -0.8
    lp = _lp([1.5, 0.5])
    loss, m = policy_loss(lp, torch.zeros(1, 2, dtype=torch.float64), torch.tensor([-1.0]), torch.ones(1, 2))
    assert loss.item() == pytest.approx((1.5 + 0.8) / 2)
    assert m["clip_frac"] == pytest.approx(0.5)
    loss.backward()
    assert lp.grad.tolist()[0] == pytest.approx([1.5 / 2, 0.0])


def test_decoupled_clip_high():
    lp = _lp([1.25])
    loss, m = policy_loss(lp, torch.zeros(1, 1, dtype=torch.float64), torch.tensor([2.0]), torch.ones(1, 1),
                          clip_low=0.2, clip_high=0.28)
    assert loss.item() == pytest.approx(-2.5)  # 1.25 < 1.28: not clipped
    assert m["clip_frac"] == 0.0


def test_mask_excludes_tokens_and_their_gradient():
    lp = _lp([2.0, 1.0, 3.0])
    mask = torch.tensor([[0.0, 1.0, 0.0]])
    loss, _ = policy_loss(lp, torch.zeros(1, 3, dtype=torch.float64), torch.tensor([1.0]), mask)
    assert loss.item() == pytest.approx(-1.0)
    loss.backward()
    assert lp.grad.tolist()[0] == pytest.approx([0.0, -1.0, 0.0])


def _two_seqs():
    # seq 0: 1 valid token with term -1 (ratio 1, A=1); seq 1: 3 valid tokens with term +2 each (ratio 1, A=-2)
    lp = torch.zeros(2, 4, dtype=torch.float64)
    mask = torch.tensor([[1.0, 0, 0, 0], [1.0, 1, 1, 0]])
    return lp, mask, torch.tensor([1.0, -2.0])


def test_aggregation_modes():
    lp, mask, adv = _two_seqs()
    tm, _ = policy_loss(lp, lp, adv, mask, agg="token_mean")
    assert float(tm) == pytest.approx((-1 + 6) / 4)
    sm, _ = policy_loss(lp, lp, adv, mask, agg="seq_mean_token_mean")
    assert float(sm) == pytest.approx((-1 + 2) / 2)
    ss, _ = policy_loss(lp, lp, adv, mask, agg="seq_sum_norm", max_tokens=10)
    assert float(ss) == pytest.approx((-1 + 6) / (2 * 10))
    with pytest.raises(ValueError, match="max_tokens"):
        policy_loss(lp, lp, adv, mask, agg="seq_sum_norm")
    with pytest.raises(ValueError, match="valid"):
        policy_loss(lp, lp, adv, mask, agg="sum")


def test_approx_kl_and_is_weights():
    lp = torch.tensor([[math.log(2.0)]], dtype=torch.float64)
    _, m = policy_loss(lp, torch.zeros(1, 1, dtype=torch.float64), torch.tensor([1.0]), torch.ones(1, 1))
    # KL(old || new) from tokens sampled by old, r = new/old = 2: (r - 1) - log r = 1 - 0.693147 (Schulman's k3 in
    # the sampling direction; the audit found the reverse, exp(-log r) + log r - 1 = 0.193, in use)
    assert m["approx_kl"] == pytest.approx(1.0 - math.log(2))
    w = truncated_is_weights(torch.tensor([[0.0, 0.0]]), torch.tensor([[math.log(4.0), -math.log(4.0)]]), cap=2.0)
    assert w.tolist()[0] == pytest.approx([0.25, 2.0])
    loss, _ = policy_loss(torch.zeros(1, 2), torch.zeros(1, 2), torch.tensor([1.0]), torch.ones(1, 2), is_weights=w)
    assert loss.item() == pytest.approx(-(0.25 + 2.0) / 2)


def test_kl_estimators():
    lp, ref = torch.tensor([[-1.0]]), torch.tensor([[-2.0]])
    assert kl_penalty(lp, ref, "k1").item() == pytest.approx(1.0)
    assert kl_penalty(lp, ref, "k2").item() == pytest.approx(0.5)
    assert kl_penalty(lp, ref, "k3").item() == pytest.approx(math.exp(-1) + 1 - 1)
    assert kl_penalty(ref, ref, "k3").item() == 0.0
    with pytest.raises(ValueError, match="k1"):
        kl_penalty(lp, ref, "k4")


def test_exponents_are_clamped():
    """A token far from the reference (or from the old policy) gives a finite loss and gradient, not inf / NaN."""
    lp = torch.tensor([[60.0, -60.0]], requires_grad=True)
    k3 = kl_penalty(lp, torch.zeros(1, 2), "k3")
    assert torch.isfinite(k3).all()
    loss, m = policy_loss(lp, torch.zeros(1, 2), torch.tensor([1.0]), torch.ones(1, 2), clip_high=1e9)
    (loss + k3.sum()).backward()
    assert torch.isfinite(loss) and torch.isfinite(lp.grad).all() and math.isfinite(m["approx_kl"])
    w = truncated_is_weights(torch.tensor([[80.0]]), torch.tensor([[-80.0]]), cap=2.0)
    assert w.item() == 2.0


def test_k2_and_k3_gradients_are_the_two_kl_directions():
    """As a loss on tokens sampled from pi (samples fixed, so the gradient is E_pi[grad f]): k2 gives
    grad KL(pi||ref), k3 grad KL(ref||pi), k1 zero. Exact sums over a 3-token vocabulary instead of samples."""
    theta = torch.tensor([0.3, -0.2, 0.5], dtype=torch.float64, requires_grad=True)
    ref = torch.log_softmax(torch.tensor([0.0, 0.4, -0.3], dtype=torch.float64), 0)

    def loss_grad(est):
        logp = torch.log_softmax(theta, 0)
        return torch.autograd.grad((logp.exp().detach() * kl_penalty(logp, ref, est)).sum(), theta)[0]

    logp = torch.log_softmax(theta, 0)
    rev = torch.autograd.grad((logp.exp() * (logp - ref)).sum(), theta)[0]  # grad KL(pi || ref)
    fwd = torch.autograd.grad((ref.exp() * (ref - torch.log_softmax(theta, 0))).sum(), theta)[0]  # grad KL(ref || pi)
    torch.testing.assert_close(loss_grad("k2"), rev)
    torch.testing.assert_close(loss_grad("k3"), fwd)
    assert not torch.allclose(rev, fwd)
    torch.testing.assert_close(loss_grad("k1"), torch.zeros(3, dtype=torch.float64))
