"""Learner math on the tiny model, in-process: the gradient a step computes, against references.

Covers the audit of the learning signal: accumulation and row skipping leave the gradient unchanged (every
aggregation mode, with and without a KL term), truncated IS uses the pre-update policy in every epoch, the clip range
acts when configured to, KL against a reference that differs, and a sampling temperature other than 1.
"""

import math

import pytest
import torch

from r1zero.algo.losses import Normaliser, aggregate, kl_penalty
from r1zero.batching import to_mini_batches, to_train_batches
from r1zero.build import learner_kwargs
from r1zero.config import load_config
from r1zero.controller import mini_batches
from r1zero.learner import Learner, lr_factor, token_logprobs
from r1zero.rollout.weight_sync import state_dict_to_bytes, weight_specs
from r1zero.types import Rollout, ScoredRollout

AGGS = ["token_mean", "seq_mean_token_mean", "seq_sum_norm"]


def _learner(tiny_path, *overrides):
    cfg = load_config(None, ["model.name=tiny", "rollout.max_tokens=16", *overrides])
    return Learner(tiny_path, **learner_kwargs(cfg)), cfg


def _rollouts(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        p = torch.randint(3, 500, (int(torch.randint(3, 9, (1,), generator=g)),), generator=g).tolist()
        c = torch.randint(3, 500, (int(torch.randint(2, 12, (1,), generator=g)),), generator=g).tolist()
        lp = (-torch.rand(len(c), generator=g) * 5).tolist()
        out.append(ScoredRollout(Rollout(str(i), i // 3, p, c, "", lp, "stop", 0), float(i % 2), {}, "x"))
    return out


def _grads(learner, minis):
    """The gradient of one optimizer step over `minis` (one mini-batch), as the learner's train_step computes it."""
    learner._prepare(minis)
    learner.model.zero_grad(set_to_none=True)
    for mb in minis:
        norm = Normaliser(mb.tokens, mb.seqs, learner.max_tokens)
        for b in mb.micro_batches:
            learner._micro_step(b, norm, {})
    return torch.cat([p.grad.flatten() if p.grad is not None else torch.zeros(p.numel())
                      for p in learner.model.parameters()])


@pytest.mark.parametrize("agg", AGGS)
@pytest.mark.parametrize("old", ["learner", "rollout"])
def test_micro_batch_accumulation_matches_full_batch(tiny_path, agg, old):
    learner, _ = _learner(tiny_path, f"algo.old_logprobs={old}", f"algo.agg={agg}")
    scored = _rollouts()
    adv = [1.0, -0.5, 0.25, -1.0, 0.5, 2.0]
    whole = to_mini_batches(scored, adv, pad_id=0, max_tokens_per_micro_batch=10_000)
    split = to_mini_batches(scored, adv, pad_id=0, max_tokens_per_micro_batch=20)
    assert len(whole[0].micro_batches) == 1 and len(split[0].micro_batches) >= 3
    torch.testing.assert_close(_grads(learner, split), _grads(learner, whole), atol=1e-6, rtol=1e-4)


def _perturb_reference(learner, scale=0.05):
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in learner.ref.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g))


@pytest.mark.parametrize("agg", AGGS)
@pytest.mark.parametrize("kl", [0.0, 0.5])
def test_skipping_zero_advantage_rows_leaves_the_gradient_unchanged(tiny_path, agg, kl):
    """Audit item 1: the loss was normalised over the kept rows only (N_all / N_kept times the gradient) and the
    skipped rows' KL term vanished. Now skipped rows count in the normaliser, and nothing is skipped while KL is on."""
    learner, cfg = _learner(tiny_path, f"algo.agg={agg}", f"algo.kl_coef={kl}", "learner.drop_zero_advantage=true",
                            "algo.kl_estimator=k3")
    if kl:
        _perturb_reference(learner)
    scored = _rollouts(9)
    adv = torch.tensor([0.0, 0.0, 0.0, 1.0, -1.0, 0.0, 0.0, 0.0, 0.0])  # one informative group of three
    keep_all = torch.ones(9, dtype=torch.bool)
    skipped = mini_batches(cfg, scored, adv, keep_all, 0)
    reference = to_mini_batches(scored, adv, pad_id=0, max_tokens_per_micro_batch=4096)
    assert skipped[0].skipped == (0 if kl else 7)
    g_ref = _grads(learner, reference)
    torch.testing.assert_close(_grads(learner, skipped), g_ref, atol=1e-7, rtol=1e-5)
    if kl:  # dropping the rows anyway would lose their KL gradient: the rule above is what keeps it
        naive = to_mini_batches(scored, adv, pad_id=0, max_tokens_per_micro_batch=4096, drop_zero_advantage=True)
        assert not torch.allclose(_grads(learner, naive), g_ref, atol=1e-7, rtol=1e-5)


def test_truncated_is_uses_the_pre_update_policy_in_every_epoch(tiny_path, monkeypatch):
    """Audit item 3: with epochs > 1 the TIS weight used the current policy; it must be pi_old / pi_rollout."""
    from r1zero.algo.corrections import ROLLOUT_CORRECTIONS

    learner, _ = _learner(tiny_path, "algo.epochs=2", "learner.lr=1e-2")
    minis = to_mini_batches(_rollouts(), [1.0, -0.5, 0.25, -1.0, 0.5, 2.0], pad_id=0, max_tokens_per_micro_batch=4096)
    (b,) = minis[0].micro_batches
    with torch.no_grad():
        pre = token_logprobs(learner.model, b, 1.0)[0]
    seen, current = [], []
    real = ROLLOUT_CORRECTIONS["tis"]

    def spy(old, rollout, mask, **kw):
        seen.append(old.detach().clone())
        with torch.no_grad():
            current.append(token_logprobs(learner.model, b, 1.0)[0])
        return real(old, rollout, mask, **kw)

    monkeypatch.setitem(ROLLOUT_CORRECTIONS, "tis", spy)
    m = learner.train_step(minis)
    assert m["optimizer_steps"] == 2 and len(seen) == 2
    mask = b.loss_mask.bool()
    for old in seen:
        torch.testing.assert_close(old[mask], pre[mask], atol=1e-6, rtol=0)
    assert (current[1] - pre)[mask].abs().max() > 1e-3  # epoch 2's policy has moved: the test can tell them apart
    assert m["clip_frac"] > 0 or m["approx_kl"] > 0  # and the ratio is no longer 1


def test_clip_range_acts_only_when_configured_to(tiny_path):
    """Audit item 5: one optimizer step with learner old-logprobs has ratio exactly 1, so clip_high did nothing.
    Mini-batches (several optimizer steps per rollout batch) make the ratio move and the clip act."""
    scored = _rollouts(8, seed=4)
    adv = [2.0, -2.0, 1.5, -1.5, 2.0, -2.0, 1.0, -1.0]
    plain, _ = _learner(tiny_path, "learner.lr=5e-2")
    m = plain.train_step(to_mini_batches(scored, adv, pad_id=0, max_tokens_per_micro_batch=4096))
    assert m["clip_frac"] == 0.0 and m["optimizer_steps"] == 1
    clipped, _ = _learner(tiny_path, "learner.lr=5e-2", "algo.mini_batches=4", "algo.clip_high=0.28")
    m = clipped.train_step(to_mini_batches(scored, adv, pad_id=0, max_tokens_per_micro_batch=4096, mini_batches=4))
    assert m["optimizer_steps"] == 4 and m["clip_frac"] > 0


def test_kl_against_a_reference_that_differs(tiny_path):
    learner, _ = _learner(tiny_path, "algo.kl_coef=0.1", "algo.kl_estimator=k3", "algo.agg=token_mean")
    _perturb_reference(learner)
    minis = to_mini_batches(_rollouts(), [0.0] * 6, pad_id=0, max_tokens_per_micro_batch=4096)
    (b,) = minis[0].micro_batches
    with torch.no_grad():
        lp = token_logprobs(learner.model, b, 1.0)[0]
        ref = token_logprobs(learner.ref, b, 1.0)[0]
    expected = float(aggregate(kl_penalty(lp, ref, "k3"), b.loss_mask, "token_mean"))
    m = learner.train_step(minis)
    assert expected > 1e-3
    assert m["kl"] == pytest.approx(expected, rel=1e-4)
    assert m["grad_norm"] > 0  # all advantages are 0: the gradient is the KL term's alone


def test_token_logprobs_match_a_plain_forward_at_temperature(tiny_path):
    learner, _ = _learner(tiny_path)
    (b,) = to_train_batches(_rollouts(2), [1.0, 1.0], pad_id=0, max_tokens_per_micro_batch=10_000)
    for temp in (1.0, 0.7):
        lp, ent = token_logprobs(learner.model, b, temperature=temp)
        with torch.no_grad():
            logits = learner.model(input_ids=b.input_ids, attention_mask=b.attention_mask).logits
        ref = torch.log_softmax(logits[:, :-1].float() / temp, -1).gather(2, b.input_ids[:, 1:, None])[..., 0]
        m = b.loss_mask[:, 1:].bool()
        torch.testing.assert_close(lp[:, 1:][m], ref[m], atol=1e-5, rtol=0)
        assert (lp[:, 1:][~m] == 0).all() and (ent[:, 1:][m] > 0).all()


def test_lr_schedule():
    assert [lr_factor(s, 2, 10, "constant", 0.1) for s in range(3)] == [0.5, 1.0, 1.0]
    assert lr_factor(2, 2, 10, "cosine", 0.1) == pytest.approx(1.0)
    assert lr_factor(10, 2, 10, "cosine", 0.1) == pytest.approx(0.1)
    assert lr_factor(6, 2, 10, "cosine", 0.0) == pytest.approx(0.5)


def test_tied_weights_sent_once():
    emb = torch.nn.Parameter(torch.randn(4, 2))
    state = {"model.embed_tokens.weight": emb, "lm_head.weight": emb, "norm.weight": torch.ones(2)}
    assert [s[0] for s in weight_specs(state)] == ["model.embed_tokens.weight", "norm.weight"]
    from safetensors.torch import load

    assert sorted(load(state_dict_to_bytes(state))) == ["model.embed_tokens.weight", "norm.weight"]


def test_shared_prefix_is_exact_and_saves_tokens(tiny_path):
    """Rows sharing a long prompt prefix: the prefix-once path gives the same logprobs and gradients as full rows."""
    import r1zero.learner as L
    from r1zero.learner import _hidden_states, shared_prefix_len

    learner, _ = _learner(tiny_path)
    prefix = list(range(10, 40))
    g = torch.Generator().manual_seed(1)
    scored = []
    for i in range(5):
        q = torch.randint(3, 500, (2 + i,), generator=g).tolist()
        c = torch.randint(3, 500, (3 + 2 * i,), generator=g).tolist()
        scored.append(ScoredRollout(Rollout(str(i), 0, prefix + q, c, "", [-1.0] * len(c), "stop", 0), 1.0, {}, ""))
    minis = to_mini_batches(scored, [1.0, -1.0, 0.5, 2.0, -0.3], pad_id=0, max_tokens_per_micro_batch=10_000)
    (b,) = minis[0].micro_batches
    assert shared_prefix_len(b) == 30
    fast = _hidden_states(learner.model, b)
    full = learner.model.get_decoder()(input_ids=b.input_ids, attention_mask=b.attention_mask).last_hidden_state
    m = b.attention_mask.bool()
    torch.testing.assert_close(fast[m], full[m], atol=1e-5, rtol=1e-4)
    g_fast = _grads(learner, minis)
    orig = L._hidden_states
    L._hidden_states = lambda model, batch, min_prefix=16: model.get_decoder()(
        input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
    try:
        g_full = _grads(learner, minis)
    finally:
        L._hidden_states = orig
    torch.testing.assert_close(g_fast, g_full, atol=1e-5, rtol=1e-3)


def _near_policy(learner, minis, noise=0.05, seed=5):
    """Set every batch's sampler logprobs to the learner's own plus a little noise: a realistic vLLM mismatch (the
    random logprobs of _rollouts are far from the tiny model's, and a ratio band would mask every token)."""
    g = torch.Generator().manual_seed(seed)
    for mb in minis:
        for b in mb.micro_batches:
            with torch.no_grad():
                lp = token_logprobs(learner.model, b, 1.0)[0]
            b.rollout_logprobs = (lp + noise * torch.randn(lp.shape, generator=g)) * b.loss_mask


@pytest.mark.parametrize("overrides,metric", [
    (("algo.loss=gspo", "algo.clip_low=3e-4", "algo.clip_high=4e-4"), "clip_frac"),
    (("algo.loss=cispo", "algo.clip_low=1.0", "algo.clip_high=0.28"), "clip_frac"),
    (("algo.loss=clip_cov", "algo.loss_args={clip_cov_ratio: 0.05, clip_cov_lb: 0.0}"), "cov_frac"),
    (("algo.loss=kl_cov", "algo.loss_args={kl_cov_ratio: 0.05}"), "cov_frac"),
    (("algo.rollout_correction=icepop",), "correction_masked_frac"),
    (("algo.rollout_correction=seq_mask", "algo.correction_low=0.99", "algo.correction_high=1.01"),
     "correction_masked_frac"),
])
def test_new_losses_and_corrections_train_through_train_step(tiny_path, overrides, metric):
    """Every new loss and correction mode runs through Learner.train_step (the learner calls the registries only):
    finite metrics, a finite non-zero gradient, finite weights afterwards, the mismatch and the mode's own metric."""
    learner, _ = _learner(tiny_path, "learner.lr=1e-3", "algo.mini_batches=2", *overrides)
    minis = to_mini_batches(_rollouts(8, seed=2), [1.5, -1.5, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0], pad_id=0,
                            max_tokens_per_micro_batch=4096, mini_batches=2)
    _near_policy(learner, minis)
    m = learner.train_step(minis)
    assert m["optimizer_steps"] == 2
    assert all(math.isfinite(v) for v in m.values()), m
    assert m["grad_norm"] > 0 and m["mismatch_kl"] > 0 and metric in m
    if metric == "cov_frac":
        assert m["cov_frac"] > 0
    assert all(torch.isfinite(p).all() for p in learner.model.parameters())


def test_mismatch_kl_is_k3_of_the_sampler_against_the_pre_update_policy(tiny_path):
    from r1zero.algo.corrections import mismatch_kl

    learner, _ = _learner(tiny_path)
    minis = to_mini_batches(_rollouts(), [1.0, -1.0, 0.5, -0.5, 0.0, 0.0], pad_id=0, max_tokens_per_micro_batch=4096)
    _near_policy(learner, minis, noise=0.2)
    (b,) = minis[0].micro_batches
    with torch.no_grad():
        pre = token_logprobs(learner.model, b, 1.0)[0]
    expected = mismatch_kl(pre, b.rollout_logprobs, b.loss_mask)
    m = learner.train_step(minis)
    assert expected > 1e-3 and m["mismatch_kl"] == pytest.approx(expected, rel=1e-4)


def test_icepop_band_takes_tokens_out_of_the_gradient(tiny_path):
    """A band no token's ratio fits in: every token masked, so no gradient at all; a wide band masks none."""
    narrow, _ = _learner(tiny_path, "algo.rollout_correction=icepop", "algo.correction_low=1.0",
                         "algo.correction_high=1.0")
    minis = to_mini_batches(_rollouts(), [1.0, -1.0, 0.5, -0.5, 2.0, -2.0], pad_id=0, max_tokens_per_micro_batch=4096)
    _near_policy(narrow, minis)
    m = narrow.train_step(minis)
    assert m["correction_masked_frac"] == pytest.approx(1.0) and m["grad_norm"] == 0.0
    wide, _ = _learner(tiny_path, "algo.rollout_correction=icepop", "algo.correction_low=0.01",
                       "algo.correction_high=100")
    m = wide.train_step(minis)
    assert m["correction_masked_frac"] == 0.0 and m["grad_norm"] > 0


def test_logit_post_processing_of_the_model_is_applied(tiny_path):
    """Audit item 6: projecting hidden states with lm_head alone skips a model's own logit post-processing (Gemma-2's
    soft-capping, Granite's scaling), which vLLM applies."""
    from r1zero.learner import project_logits

    learner, _ = _learner(tiny_path)
    hidden = torch.randn(3, learner.model.config.hidden_size)
    plain = learner.model.get_output_embeddings()(hidden)
    torch.testing.assert_close(project_logits(learner.model, hidden), plain)
    learner.model.config.final_logit_softcapping = 2.0
    torch.testing.assert_close(project_logits(learner.model, hidden), 2.0 * torch.tanh(plain / 2.0))
    assert project_logits(learner.model, hidden).abs().max() <= 2.0
    learner.model.config.final_logit_softcapping = None
    learner.model.config.logits_scaling = 4.0
    torch.testing.assert_close(project_logits(learner.model, hidden), plain / 4.0)
