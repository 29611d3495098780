import math

import numpy as np
import torch

from evoact.features import NAMES, POINTS, features


def test_features_read_values_slopes_moments_and_deep_network_statistics():
    rows = features(["Max(0, x)", "x/(1 + exp(-x))", "Max(0, x)", "exp(exp(x))", "not a formula"], {"beta": 1.0})
    assert rows.shape == (5, len(NAMES)) and np.isfinite(rows).all()
    relu, silu, again, explodes, broken = rows
    assert np.array_equal(relu, again)  # fixed probes, weights and inputs: the same function, the same row
    at = {name: i for i, name in enumerate(NAMES)}
    assert relu[at["value@2.00"]] == 1 + math.log(2)  # values beyond 1 are compressed logarithmically
    assert relu[at["value@-2.00"]] == 0 and relu[at["slope@2.00"]] == 1 and relu[at["slope@-2.00"]] == 0
    assert relu[at["neg_fraction"]] == 0 and silu[at["neg_fraction"]] == 0.5
    assert abs(relu[at["mean_slope"]] - 0.5) < 0.01  # half of N(0, 1) is positive
    # He initialisation keeps ReLU's signal near 1 through 8 plain layers; exp(exp(x)) blows up
    assert abs(relu[at["plain_act8"]]) < 0.5 and explodes[at["plain_act8"]] > 2
    assert not broken.any()
    assert len(POINTS) * 4 + 7 + 8 == len(NAMES)
    scaled = features(["x/(1 + exp(-beta*x))", "x/(1 + exp(-x))"], {"beta": 1.0})
    assert not np.array_equal(scaled[0], scaled[1])  # equal at beta = 1, told apart at beta / 2


def test_features_leave_torch_s_thread_count_as_they_found_it():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        features(["x*tanh(x)"], {"beta": 1.0})
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_learnable_constant_that_starts_at_0_is_read_at_a_second_setting_as_the_fingerprint_reads_it():
    """Halving moved every constant but one that starts at 0: for it the two settings' columns were the same."""
    first = [NAMES.index(f"value@{x:.2f}") for x in POINTS]
    second = [NAMES.index(f"value@{x:.2f},constants/2") for x in POINTS]
    (row,) = features(["x*sigmoid(x + c)"], {"c": 0.0})
    assert not np.allclose(row[first], row[second])
    (row,) = features(["x*sigmoid(x)"], {"c": 0.0})  # no constant in it: one function at both
    assert np.array_equal(row[first], row[second])
