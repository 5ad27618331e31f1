import numpy as np
import pytest

from helpers import models, roundtrip


@pytest.fixture(scope="module")
def model():
    import keras

    keras.utils.set_random_seed(0)
    return models.get_model()


def test_model_shape_and_compile(model):
    assert model.count_params() == 347_146
    assert model.output_shape == (None, 10)
    assert model.optimizer is not None and model.loss is not None


def test_tf_keras_model_has_the_same_architecture():
    import tf_keras

    legacy = models.get_model(keras=tf_keras)
    assert legacy.count_params() == 347_146
    assert type(legacy).__module__.startswith("tf_keras")


@pytest.mark.parametrize("bad", ["keras", 3, object()])
def test_get_model_rejects_non_keras_modules(bad):
    with pytest.raises(TypeError, match="keras or tf_keras"):
        models.get_model(keras=bad)


@pytest.mark.parametrize("lr", [0, -1e-3, "fast"])
def test_get_model_rejects_bad_learning_rates(lr):
    with pytest.raises(ValueError, match="learning_rate"):
        models.get_model(learning_rate=lr)


def test_dense_units_sets_the_hidden_width():
    wide = models.get_model(dense_units=512)
    assert wide.layers[-2].units == 512 and wide.count_params() == 2_774_858
    with pytest.raises(ValueError, match="dense_units"):
        models.get_model(dense_units=0)


def test_max_abs_diff():
    assert roundtrip.max_abs_diff(np.zeros(3), np.array([0.0, -0.5, 0.25])) == 0.5
    assert roundtrip.max_abs_diff({"output_0": np.ones(2)}, np.ones(2)) == 0.0
    with pytest.raises(ValueError, match="shapes differ"):
        roundtrip.max_abs_diff(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="one output"):
        roundtrip.max_abs_diff({"a": 1, "b": 2}, np.zeros(1))


def test_assert_same_predictions_passes_and_fails(model):
    x = np.zeros((2, 28, 28, 1), np.float32)
    same = roundtrip.assert_same_predictions(model, model, x)
    assert same.max_abs_diff == 0.0 and same.rtol == roundtrip.RTOL
    with pytest.raises(AssertionError, match="predictions differ by up to 1, more than float32 rounding"):
        roundtrip.assert_same_predictions(model, lambda t: model(t) + 1.0, x)
    with pytest.raises(ValueError, match="rtol"):
        roundtrip.assert_same_predictions(model, model, x, rtol=-1)


def test_assert_close_is_relative_to_the_largest_value():
    big = np.array([1000.0, -2000.0], np.float32)
    # 2000 × 1e-5 = 0.02: a rounding-sized gap on large values passes, a larger one does not
    assert roundtrip.assert_close(big, big + np.float32(0.01)).tolerance == pytest.approx(0.02)
    with pytest.raises(AssertionError, match="more than float32 rounding explains"):
        roundtrip.assert_close(big, big + np.float32(0.05))
    # values below 1 use an absolute floor of rtol × 1
    small = np.array([1e-3, 0.0])
    assert roundtrip.assert_close(small, small + 5e-6).max_abs_diff == pytest.approx(5e-6)
    with pytest.raises(AssertionError):
        roundtrip.assert_close(small, small + 5e-5)
    with pytest.raises(AssertionError):
        roundtrip.assert_close(np.array([np.nan]), np.array([np.nan]))


@pytest.mark.parametrize("bad", [-1e-5, 1.0, "1e-5", True, None])
def test_assert_close_rejects_bad_tolerances(bad):
    with pytest.raises(ValueError, match="rtol must be a number"):
        roundtrip.assert_close(np.zeros(2), np.zeros(2), rtol=bad)


def test_closeness_prints_its_digits_after_the_approx_sign():
    text = str(roundtrip.assert_close(np.array([10.0]), np.array([10.00002])))
    assert text == "equal up to float32 rounding (max abs diff ≈0.00002 ≤ 0.00001 × max |value|)"
    assert str(roundtrip.assert_close(np.ones(2), np.ones(2))).startswith(
        "equal up to float32 rounding (max abs diff ≈0 "
    )


def test_approx_marks_machine_dependent_digits():
    assert roundtrip.approx(0.87654) == "≈0.877"
    assert roundtrip.approx(np.float32(2.5), 1) == "≈2.5"
    assert roundtrip.approx([0.1, 0.25], 2) == "[≈0.10, ≈0.25]"
    with pytest.raises(ValueError, match="digits"):
        roundtrip.approx(1.0, -1)


def test_approx_output_is_what_the_sanitizer_masks():
    import configparser
    import re
    from pathlib import Path

    cfg = configparser.ConfigParser()
    cfg.read(Path(__file__).with_name("nbval_sanitize.cfg"), encoding="utf-8")
    rule = cfg["cpu-dependent-value"]
    printed = f"loss {roundtrip.approx(-1.25)}; {roundtrip.assert_close(np.ones(1), np.ones(1) + 3e-6)}"
    assert re.sub(rule["regex"], rule["replace"], printed) == (
        "loss ≈…; equal up to float32 rounding (max abs diff ≈… ≤ 0.00001 × max |value|)"
    )


def test_assert_identical_weights(model):
    import keras

    twin = models.get_model(keras=keras)
    twin.set_weights(model.get_weights())
    assert roundtrip.assert_identical_weights(model, twin) == len(model.weights) == 6
    bumped = [w.copy() for w in model.get_weights()]
    bumped[3][0] = np.nextafter(bumped[3][0], np.float32(np.inf))  # one float32 step on one number
    with pytest.raises(AssertionError, match="weight array #3 differs"):
        roundtrip.assert_identical_weights(model, bumped)
    with pytest.raises(AssertionError, match="6 weight arrays before and 5 after"):
        roundtrip.assert_identical_weights(model, bumped[:5])


def test_optimizer_state_compares_by_position(model):
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((np.zeros((8, 28, 28, 1), np.float32), np.zeros(8, np.int64))).batch(4)
    model.fit(data, epochs=1, verbose=0)
    state = roundtrip.optimizer_state(model)
    assert int(state[0]) == 2  # iterations
    assert roundtrip.assert_same_optimizer_state(model, model) == len(state)


def test_optimizer_state_needs_a_compiled_model():
    import keras

    bare = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="compile"):
        roundtrip.optimizer_state(bare)
