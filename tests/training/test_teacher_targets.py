"""mold.training.teacher_targets: p_t follows the run's τ1 (Eq. 4), and N1/N2 distributions."""

from __future__ import annotations

import pytest
import torch

from mold.molsaki import teacher_layer_weights
from mold.training.teacher_targets import distribution, layer_weights_for

# two layers, N1 = 1 step, N2 = 3 words: G = (|0.5-0.1| + |0.1-0.4|) / 2 = 0.35 and (0 + 0) / 2 = 0
A = torch.tensor([[[0.5, 0.1, 0.4]], [[0.2, 0.2, 0.2]]])


def test_same_tau1_reuses_and_checks_the_stored_weights():
    stored = teacher_layer_weights(A, 0.1)
    # softmax([3.5, 0]) = [0.9706878, 0.0293122]
    assert torch.allclose(stored, torch.tensor([0.9706878, 0.0293122]), atol=1e-6)
    assert torch.allclose(layer_weights_for(A, stored, 0.1, 0.1), stored)


def test_a_different_tau1_recomputes_from_the_maps():
    stored = teacher_layer_weights(A, 0.1)
    got = layer_weights_for(A, stored, 0.1, 0.7)
    # softmax([0.5, 0]) = [0.6224593, 0.3775407]
    assert torch.allclose(got, torch.tensor([0.6224593, 0.3775407]), atol=1e-6)


def test_stored_weights_that_do_not_match_their_tau1_are_detected():
    stale = teacher_layer_weights(A, 0.7)  # made at tau1 = 0.7 but labelled 0.1
    with pytest.raises(ValueError, match="differs from p_t recomputed at tau1=0.1"):
        layer_weights_for(A, stale, 0.1, 0.1)


def test_distribution_counts_each_value_in_order():
    assert distribution([3, 1, 3, 2, 3]) == {"1": 1, "2": 1, "3": 3}
    assert distribution([]) == {}
