"""helpers.load_attempts: one stable line per load attempt (notebook 04's Keras 2 files)."""

import contextlib

import pytest

from helpers import load_attempts


class _Steps:
    def __init__(self, n):
        self.n = n

    def numpy(self):
        return self.n


class _Model:
    def __init__(self, steps=None):
        self.optimizer = None if steps is None else type("Opt", (), {"iterations": _Steps(steps)})()


def test_keras_cause_keeps_the_innermost_cause_without_internal_paths():
    err = TypeError(
        "Could not deserialize class 'Functional' because its parent module keras.src.models.functional cannot be "
        "imported. Exception encountered: <class 'keras.src.losses.losses.MeanSquaredError'> could not be "
        "deserialized properly.\nmore lines"
    )
    cause = "TypeError: <class '…MeanSquaredError'> could not be deserialized properly."
    assert load_attempts.keras_cause(err) == cause


def test_keras_cause_shortens_the_savedmodel_refusal_and_drops_its_path():
    err = ValueError(
        "File format not supported: filepath=/tmp/x/saved. Keras 3 only supports V3 `.keras` files. "
        "Note that the legacy SavedModel format is not supported by `load_model()` in Keras 3. In order to …"
    )
    assert load_attempts.keras_cause(err) == (
        "ValueError: File format not supported: … the legacy SavedModel format is not supported by `load_model()` "
        "in Keras 3."
    )


def test_outcome_describes_success_failure_and_runs_in_the_scope():
    entered = []

    @contextlib.contextmanager
    def scope():
        entered.append(True)
        yield

    assert load_attempts.outcome(lambda: _Model(20), scope=scope) == "ok, Adam steps 20"
    assert load_attempts.outcome(lambda: _Model()) == "ok"
    assert entered == [True]

    def refuse():
        raise ValueError("File not found: /data/k2.keras is missing")

    assert load_attempts.outcome(refuse, hide="/data/k2.keras") == "ValueError: File not found: <path> is missing"


def test_outcome_lets_other_errors_through():
    def crash():
        raise RuntimeError("not a load refusal")

    with pytest.raises(RuntimeError, match="not a load refusal"):
        load_attempts.outcome(crash)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"load": "model.keras"}, "load must be a function"),
        ({"load": lambda: None, "scope": "strategy"}, "scope must be a function"),
        ({"load": lambda: None, "hide": 3}, "hide must be the text"),
    ],
)
def test_outcome_refuses_bad_arguments(kwargs, words):
    load = kwargs.pop("load")
    with pytest.raises(TypeError, match=words):
        load_attempts.outcome(load, **kwargs)


def test_keras_cause_refuses_a_non_exception():
    with pytest.raises(TypeError, match="pass the caught error"):
        load_attempts.keras_cause("TypeError: x")
