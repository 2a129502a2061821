"""Clipped surrogate, aggregation modes, KL estimators, the sequence-level and covariance losses and the rollout
corrections against hand-computed values and gradients."""

import math

import pytest
import torch

from r1zero.algo.corrections import ROLLOUT_CORRECTIONS, mismatch_kl, rollout_weights
from r1zero.algo.losses import (
    POLICY_LOSSES,
    cispo,
    clip_cov,
    gspo,
    kl_cov,
    kl_penalty,
    loss_options,
    policy_loss,
    ppo_clip,
    truncated_is_weights,
)


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


# ---------------------------------------------------------------------------------------------------------------
# Sequence-level losses (GSPO, CISPO) and the entropy-preserving ones (Clip-Cov, KL-Cov): golden values by hand.


def test_gspo_clips_the_whole_sequence_on_its_geometric_mean_ratio():
    # token ratios 1.5 and 1.0 (a third, masked token at ratio 9 is ignored): s = sqrt(1.5) = 1.2247449, A = +1
    lp = _lp([1.5, 1.0, 9.0])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    zeros = torch.zeros(1, 3, dtype=torch.float64)
    loss, m = gspo(lp, zeros, torch.tensor([1.0]), mask, clip_low=0.2, clip_high=0.2)
    assert loss.item() == pytest.approx(-1.2)  # s > 1.2: clipped at the sequence level
    assert m["clip_frac"] == 1.0
    loss.backward()
    assert lp.grad.tolist()[0] == pytest.approx([0.0, 0.0, 0.0])  # the whole sequence has no gradient
    lp.grad = None
    loss, m = gspo(lp, zeros, torch.tensor([1.0]), mask, clip_low=0.2, clip_high=0.3)
    s = math.sqrt(1.5)
    assert loss.item() == pytest.approx(-s) and m["clip_frac"] == 0.0
    loss.backward()  # d(-s)/dlogp_t = -s / |y| for each valid token: the sequence ratio's own gradient
    assert lp.grad.tolist()[0] == pytest.approx([-s / 2, -s / 2, 0.0])


def test_gspo_negative_advantage_and_sequence_mean():
    # seq 0: ratios 0.49, 1 -> s = 0.7 < 0.8 with A = -1: clipped, term 0.8, no gradient
    # seq 1: ratios 1.21, 1 -> s = 1.1 with A = -1: term 1.1, gradient s / 2 per token, / 2 sequences
    lp = torch.tensor([[math.log(0.49), 0.0], [math.log(1.21), 0.0]], dtype=torch.float64, requires_grad=True)
    loss, m = gspo(lp, torch.zeros(2, 2, dtype=torch.float64), torch.tensor([-1.0, -1.0]), torch.ones(2, 2),
                   clip_low=0.2, clip_high=0.2)
    assert loss.item() == pytest.approx((0.8 + 1.1) / 2)
    assert m["clip_frac"] == pytest.approx(0.5)
    loss.backward()
    assert lp.grad.tolist() == [pytest.approx([0.0, 0.0]), pytest.approx([1.1 / 4, 1.1 / 4])]


def test_gspo_gradient_is_the_sequence_level_objective():
    """The token form has exactly the gradient of -(1/G) sum_i s_i A_i with s_i = exp(mean log-ratio)."""
    g = torch.Generator().manual_seed(0)
    old = -torch.rand(3, 5, generator=g, dtype=torch.float64)
    lp0 = old + 0.05 * torch.randn(3, 5, generator=g, dtype=torch.float64)
    mask = torch.tensor([[1.0, 1, 1, 0, 0], [1.0, 1, 1, 1, 1], [1.0, 1, 0, 0, 0]], dtype=torch.float64)
    adv = torch.tensor([1.0, -0.5, 2.0], dtype=torch.float64)
    lp = lp0.clone().requires_grad_(True)
    loss, _ = gspo(lp, old, adv, mask, clip_low=10.0, clip_high=10.0)  # no clipping
    (got,) = torch.autograd.grad(loss, lp)
    ref = lp0.clone().requires_grad_(True)
    s = torch.exp(((ref - old) * mask).sum(1) / mask.sum(1))
    (want,) = torch.autograd.grad(-(s * adv).mean(), ref)
    torch.testing.assert_close(got, want)


def test_cispo_clips_the_weight_not_the_gradient():
    # ratios 1.5, 0.5, 1.0, A = +1, eps 0.2: weights sg[1.2], sg[0.8], sg[1.0]; term = -w * A * logp
    lp = _lp([1.5, 0.5, 1.0])
    loss, m = cispo(lp, torch.zeros(1, 3, dtype=torch.float64), torch.tensor([1.0]), torch.ones(1, 3))
    assert loss.item() == pytest.approx((-1.2 * math.log(1.5) - 0.8 * math.log(0.5)) / 3)
    assert m["clip_frac"] == pytest.approx(2 / 3)
    loss.backward()
    # every token keeps a gradient (PPO's clip would zero the first): -w / 3
    assert lp.grad.tolist()[0] == pytest.approx([-0.4, -0.8 / 3, -1 / 3])
    w_free = _lp([0.5])  # clip_low >= 1: no lower bound (MiniMax-M1's practice)
    loss, _ = cispo(w_free, torch.zeros(1, 1, dtype=torch.float64), torch.tensor([1.0]), torch.ones(1, 1),
                    clip_low=1.0)
    loss.backward()
    assert w_free.grad.item() == pytest.approx(-0.5)


def test_cispo_and_ppo_agree_at_ratio_one():
    g = torch.Generator().manual_seed(1)
    lp0 = -torch.rand(2, 4, generator=g, dtype=torch.float64)
    mask = torch.tensor([[1.0, 1, 1, 0], [1.0, 1, 1, 1]], dtype=torch.float64)
    adv = torch.tensor([0.7, -1.3], dtype=torch.float64)
    grads = []
    for fn in (cispo, ppo_clip):
        lp = lp0.clone().requires_grad_(True)
        loss, _ = fn(lp, lp0, adv, mask)
        grads.append(torch.autograd.grad(loss, lp)[0])
    torch.testing.assert_close(grads[0], grads[1])


def _cov_case():
    # two sequences of two tokens, ratio 1; A = +1, -1; logp -1, -3 in each: token means A 0, logp -2, so the
    # centred products are [[1, -1], [-1, 1]]
    lp = torch.tensor([[-1.0, -3.0], [-1.0, -3.0]], dtype=torch.float64, requires_grad=True)
    return lp, lp.detach().clone(), torch.tensor([1.0, -1.0]), torch.ones(2, 2)


def test_clip_cov_detaches_high_covariance_tokens():
    lp, old, adv, mask = _cov_case()
    # candidates: covariance in (0.5, 5) -> tokens (0,0) and (1,1); max(1, int(0.5 * 4)) = 2 of them detached
    loss, m = clip_cov(lp, old, adv, mask, clip_cov_ratio=0.5, clip_cov_lb=0.5, clip_cov_ub=5.0)
    assert loss.item() == pytest.approx((0.0 - 1.0 + 1.0 + 0.0) / 4)
    assert m["cov_frac"] == pytest.approx(0.5)
    loss.backward()
    assert lp.grad.tolist() == [pytest.approx([0.0, -0.25]), pytest.approx([0.25, 0.0])]
    # the paper's lower bound 1 is exclusive: no candidate, the plain PPO gradient
    lp.grad = None
    loss, m = clip_cov(lp, old, adv, mask, clip_cov_ratio=0.5)
    loss.backward()
    assert m["cov_frac"] == 0.0
    assert lp.grad.tolist() == [pytest.approx([-0.25, -0.25]), pytest.approx([0.25, 0.25])]
    # fewer slots than candidates: exactly max(1, int(0.1 * 4)) = 1 token detached
    _, m = clip_cov(lp, old, adv, mask, clip_cov_ratio=0.1, clip_cov_lb=0.5)
    assert m["cov_frac"] == pytest.approx(0.25)


def test_kl_cov_penalises_the_top_covariance_tokens():
    # ratios [[2, 1], [1, 0.5]], A = +1, -1: centred products [[ln2, 0], [0, ln2]] -> top 2 = (0,0), (1,1)
    lp = torch.tensor([[math.log(2.0), 0.0], [0.0, -math.log(2.0)]], dtype=torch.float64, requires_grad=True)
    loss, m = kl_cov(lp, torch.zeros(2, 2, dtype=torch.float64), torch.tensor([1.0, -1.0]), torch.ones(2, 2),
                     kl_cov_ratio=0.5, kl_cov_coef=1.0)
    # -A * ratio: -2, -1, +1, +0.5; plus |log ratio| = ln2 on the two selected tokens; token mean
    assert loss.item() == pytest.approx((-2 - 1 + 1 + 0.5 + 2 * math.log(2)) / 4)
    assert m["cov_frac"] == pytest.approx(0.5) and m["clip_frac"] == 0.0
    loss.backward()
    # d/dlogp: -A * ratio, plus sign(log ratio) on the selected tokens; / 4
    assert lp.grad.tolist() == [pytest.approx([(-2 + 1) / 4, -0.25]), pytest.approx([0.25, (0.5 - 1) / 4])]


def test_every_loss_is_registered_with_its_options():
    assert {"ppo_clip", "gspo", "cispo", "clip_cov", "kl_cov"} <= set(POLICY_LOSSES)
    assert loss_options("ppo_clip") == {}
    assert loss_options("clip_cov") == {"clip_cov_ratio": 2e-4, "clip_cov_lb": 1.0, "clip_cov_ub": 5.0}
    assert loss_options("kl_cov") == {"kl_cov_ratio": 2e-3, "kl_cov_coef": 1.0}


# ---------------------------------------------------------------------------------------------------------------
# Rollout corrections: sampler/learner mismatch weights.


def _mismatch(ratios):
    """old = 0 and rollout = -log r, so pi_old / pi_rollout = r; the last token is off the mask."""
    return (torch.zeros(1, len(ratios)), torch.tensor([[-math.log(r) for r in ratios]]),
            torch.tensor([[1.0] * (len(ratios) - 1) + [0.0]]))


def test_token_corrections():
    old, rollout, mask = _mismatch([0.25, 1.5, 3.0, 1.0])
    w = {k: rollout_weights(k, old, rollout, mask, cap=2.0, low=0.5, high=2.0).tolist()[0]
         for k in ROLLOUT_CORRECTIONS}
    assert w["none"] == [1.0, 1.0, 1.0, 0.0]
    assert w["tis"] == pytest.approx([0.25, 1.5, 2.0, 0.0])  # truncated above at the cap
    assert w["icepop"] == pytest.approx([0.0, 1.5, 0.0, 0.0])  # outside [0.5, 2]: out of the gradient
    with pytest.raises(ValueError, match="valid"):
        rollout_weights("tiss", old, rollout, mask, cap=2.0, low=0.5, high=2.0)


def test_sequence_geometric_mean_masking():
    # seq 0: ratios 0.25 and 4 -> geometric mean 1 (kept whole, though each token is far off);
    # seq 1: ratios 2 and 2 -> 2 (dropped by a band ending at 1.5); seq 1's third token is padding
    old = torch.zeros(2, 3)
    rollout = -torch.log(torch.tensor([[0.25, 4.0, 1.0], [2.0, 2.0, 1.0]]))
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    rollout[0, 2] = 0.0  # ratio 1 on seq 0's third token: geo mean (0.25 * 4 * 1)^(1/3) = 1
    w = rollout_weights("seq_mask", old, rollout, mask, cap=2.0, low=0.67, high=1.5)
    assert w.tolist() == [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]
    w = rollout_weights("seq_mask", old, rollout, mask, cap=2.0, low=0.5, high=2.0)
    assert w.tolist() == [[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]]


def test_mismatch_kl():
    # k3 of KL(rollout || old) at r = pi_old / pi_rollout: (r - 1) - log r; r = 2 -> 1 - ln2, r = 0.5 -> ln2 - 0.5
    old, rollout, mask = _mismatch([2.0, 0.5, 7.0])
    assert mismatch_kl(old, rollout, mask) == pytest.approx(0.25)
    assert mismatch_kl(old, old, mask) == 0.0
