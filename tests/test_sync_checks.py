"""The weight-sync guards as pure functions: the canary comparison and the weights fingerprint check."""

import math

import pytest
import torch

from r1zero.rollout.pool import CanaryError, canary_diff, check_fingerprint
from r1zero.rollout.weight_sync import fingerprint


def test_canary_passes_close_logprobs_and_reports_the_worst():
    assert canary_diff(0, [-1.0, -2.0005], [-1.0, -2.0], 1e-3) == pytest.approx(5e-4)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("where", [0, 1])
def test_canary_fails_on_nan_and_inf_anywhere(bad, where):
    got = [-1.0, -2.0]
    got[where] = bad
    # position 0 matters: Python's max() skips a NaN after the first element, and nan > tol is False
    with pytest.raises(CanaryError, match="worker 3"):
        canary_diff(3, got, [-1.0, -2.0], 1e-3)
    with pytest.raises(CanaryError):
        canary_diff(3, [-1.0, -2.0], got, 1e-3)  # the learner's side too


def test_canary_fails_on_length_mismatch_and_empty():
    with pytest.raises(CanaryError, match="returned 1 logprobs, the learner 2"):
        canary_diff(0, [-1.0], [-1.0, -2.0], 1e-3)
    with pytest.raises(CanaryError):
        canary_diff(0, [], [], 1e-3)


def test_fingerprint_sees_a_tiny_update_and_ignores_fusion():
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(64, 32, generator=g), torch.randn(16, 32, generator=g)
    fp = fingerprint([q, k])
    assert fingerprint([torch.cat([q, k])]) == pytest.approx(fp, rel=1e-12)  # vLLM's fused qkv
    moved = fingerprint([q + 1e-6 * torch.randn(64, 32, generator=g), k])
    with pytest.raises(CanaryError, match="differ"):
        check_fingerprint(0, 1, 1, moved, fp, 1e-9)
    check_fingerprint(0, 1, 1, fp, fingerprint([k, q]), 1e-9)  # order does not matter
    # bf16 engines: the learner fingerprints after the same cast
    assert fingerprint([q], torch.bfloat16) == fingerprint([q.to(torch.bfloat16)])


def test_fingerprint_check_needs_the_version_and_a_load():
    with pytest.raises(CanaryError, match="version 4, expected 5"):
        check_fingerprint(0, 5, 4, [1.0, 1.0], [1.0, 1.0], 1e-9)
    check_fingerprint(0, 0, 0, [1.0, 1.0], None, 1e-9)  # the initial load from the model folder
    with pytest.raises(CanaryError, match="no synced weights"):
        check_fingerprint(0, 2, 2, [1.0, 1.0], None, 1e-9)
    with pytest.raises(CanaryError):
        check_fingerprint(0, 1, 1, [1.0, 1.0], [math.nan, 1.0], 1e-9)
