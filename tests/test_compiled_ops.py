"""The arithmetic the compiled sampling loops share (engine/models/compiled_ops.py) against the library functions and
numpy."""

import math

import numpy as np
import pytest

from engine.models.compiled_ops import add_columns, affine, draw_class, exp_nonpositive, sigmoid, tanh


def test_rational_tanh_and_sigmoid_are_within_float32_rounding_of_the_library_ones():
    x = np.concatenate([np.linspace(-40.0, 40.0, 400_001), [0.0, 1e-30, -1e-30, 8.999, 9.0, 9.001]])
    assert max(abs(tanh(v) - math.tanh(v)) for v in x) < 3.5e-8
    assert max(abs(sigmoid(v) - 1.0 / (1.0 + math.exp(-v))) for v in x) < 2e-8
    assert abs(tanh(1e-30) / 1e-30 - 1.0) < 1e-8  # slope 1 at 0, where an absolute bound says nothing
    assert tanh(-2.5) == -tanh(2.5)


def test_exp_of_a_nonpositive_number_is_within_2e_9_and_zero_where_float32_underflows():
    y = np.concatenate([np.linspace(-86.99, 0.0, 200_001), [-1e-12, -0.0]])
    relative = max(abs(exp_nonpositive(v) - math.exp(v)) / math.exp(v) for v in y)
    assert relative < 2e-9
    assert exp_nonpositive(0.0) == 1.0
    assert exp_nonpositive(-87.5) == 0.0 and exp_nonpositive(-math.inf) == 0.0


def test_the_compiled_draw_never_picks_an_impossible_class():
    logits = np.array([0.0, -math.inf, 3.0, -math.inf], np.float32)
    drawn = {draw_class(logits.copy(), u, 1.0) for u in np.linspace(0.0, 1.0 - 1e-7, 1001)}
    assert drawn == {0, 2}


@pytest.mark.slow
@pytest.mark.parametrize("start_kind", ["bias", "rows", "scalar"])
@pytest.mark.parametrize("relu", [False, True])
def test_both_matrix_products_match_numpy(start_kind, relu):
    rng = np.random.default_rng(0)
    x_wide = rng.normal(size=(3, 40)).astype(np.float32)
    x = x_wide[:, :17]  # a strided view, as the dual-softmax WaveRNN passes its halves of h
    w = rng.normal(size=(23, 17)).astype(np.float32)  # (out, in)
    start = {
        "bias": rng.normal(size=23).astype(np.float32),
        "rows": rng.normal(size=(3, 23)).astype(np.float32),
        "scalar": 0.5,
    }[start_kind]
    expected = x.astype(np.float64) @ w.T.astype(np.float64) + start
    expected = np.maximum(expected, 0.0) if relu else expected
    by_rows, by_columns = np.empty((3, 23), np.float32), np.empty((3, 23), np.float32)
    affine(x, w, start, by_rows, relu)
    add_columns(x, np.ascontiguousarray(w.T), start, by_columns, relu)
    np.testing.assert_allclose(by_rows, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(by_columns, expected, rtol=1e-5, atol=1e-5)
