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
    assert roundtrip.assert_same_predictions(model, model, x) == 0.0
    with pytest.raises(AssertionError, match="predictions differ"):
        roundtrip.assert_same_predictions(model, lambda t: model(t) + 1.0, x)
    with pytest.raises(ValueError, match="atol"):
        roundtrip.assert_same_predictions(model, model, x, atol=-1)


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
