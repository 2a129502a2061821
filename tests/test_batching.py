"""Rollouts -> right-padded TrainBatch micro-batches under a token budget."""

import pytest
import torch

from r1zero.batching import to_mini_batches, to_train_batches
from r1zero.types import Rollout, ScoredRollout


def _scored(pid, prompt, completion, reward=1.0):
    r = Rollout(pid, 0, prompt, completion, "x", [-0.5] * len(completion), "stop", 0)
    return ScoredRollout(r, reward, {}, "correct")


def test_padding_masks_and_alignment():
    rows = [_scored("a", [1, 2], [3, 4, 5]), _scored("b", [6], [7])]
    (b,) = to_train_batches(rows, [0.5, -1.0], pad_id=0, max_tokens_per_micro_batch=100)
    # sorted by length: "b" (2 tokens) first, then "a" (5 tokens)
    assert b.input_ids.tolist() == [[6, 7, 0, 0, 0], [1, 2, 3, 4, 5]]
    assert b.attention_mask.tolist() == [[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]]
    assert b.loss_mask.tolist() == [[0, 1, 0, 0, 0], [0, 0, 1, 1, 1]]
    assert b.rollout_logprobs.tolist() == [[0, -0.5, 0, 0, 0], [0, 0, -0.5, -0.5, -0.5]]
    assert b.advantages.tolist() == [-1.0, 0.5]
    assert b.num_tokens == 7


def test_token_budget_splits_and_oversize_row_alone():
    rows = [_scored(str(i), [1] * 3, [2] * n) for i, n in enumerate([1, 1, 2, 7])]
    batches = to_train_batches(rows, [1.0] * 4, pad_id=0, max_tokens_per_micro_batch=10)
    assert [tuple(b.input_ids.shape) for b in batches] == [(2, 4), (1, 5), (1, 10)]
    assert all(b.input_ids.numel() <= 10 for b in batches)
    assert sum(b.input_ids.shape[0] for b in batches) == 4


def test_drop_zero_advantage_keeps_the_normaliser_and_errors():
    rows = [_scored("a", [1], [2]), _scored("b", [1], [3, 4])]
    (mb,) = to_mini_batches(rows, torch.tensor([0.0, 1.0]), pad_id=0, max_tokens_per_micro_batch=8,
                            drop_zero_advantage=True)
    assert [b.input_ids.tolist() for b in mb.micro_batches] == [[[1, 3, 4]]]
    assert (mb.tokens, mb.seqs, mb.skipped) == (3.0, 2, 1)  # the skipped row still counts
    (mb,) = to_mini_batches(rows, [1.0, 1.0], pad_id=0, max_tokens_per_micro_batch=8, in_loss=[True, False])
    assert (mb.tokens, mb.seqs, mb.skipped) == (1.0, 1, 0)  # a row out of the loss neither runs nor counts
    minis = to_mini_batches(rows * 2, [1.0, 0.0, 2.0, 3.0], pad_id=0, max_tokens_per_micro_batch=8, mini_batches=2,
                            drop_zero_advantage=True)
    assert [(m.seqs, m.skipped, m.tokens) for m in minis] == [(2, 1, 3.0), (2, 0, 3.0)]
    with pytest.raises(ValueError, match="mini_batches=5"):
        to_mini_batches(rows * 2, [1.0] * 4, pad_id=0, max_tokens_per_micro_batch=8, mini_batches=5)
    with pytest.raises(ValueError, match="2 scored rollouts but 1 advantages"):
        to_train_batches(rows, [1.0], pad_id=0, max_tokens_per_micro_batch=8)
    bad = _scored("c", [1], [2, 3])
    bad.rollout.logprobs = [0.0]
    with pytest.raises(ValueError, match="1 logprobs for 2 tokens"):
        to_train_batches([bad], [1.0], pad_id=0, max_tokens_per_micro_batch=8)
