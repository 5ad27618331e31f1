"""Round-trip checks: did a save → load keep the predictions and the optimizer state?"""

from __future__ import annotations

import numpy as np

__all__ = ["max_abs_diff", "assert_same_predictions", "optimizer_state", "assert_same_optimizer_state"]


def _numpy(x) -> np.ndarray:
    if isinstance(x, dict):
        if len(x) != 1:
            raise ValueError(f"expected one output, got keys {sorted(x)}")
        x = next(iter(x.values()))
    return np.asarray(x.numpy() if hasattr(x, "numpy") else x)


def max_abs_diff(a, b) -> float:
    """Largest absolute difference between two arrays/tensors (or one-output dicts) of one shape."""
    a, b = _numpy(a), _numpy(b)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def assert_same_predictions(reference, restored, x, atol: float = 1e-6) -> float:
    """Call both models on ``x`` and assert the outputs agree within ``atol``; return the max diff.

    ``reference`` and ``restored`` may be Keras models or any callables (a SavedModel
    signature, a ``TFSMLayer``); dict outputs with one key are unwrapped.
    """
    if atol < 0:
        raise ValueError(f"atol must be >= 0, got {atol}")
    diff = max_abs_diff(reference(x), restored(x))
    if not diff <= atol:
        raise AssertionError(f"predictions differ by up to {diff:.3g} (> atol={atol:g})")
    return diff


def optimizer_state(model) -> list[np.ndarray]:
    """The optimizer's variables (iterations, moments, ...) as numpy arrays, in creation order.

    Variable *paths* change on reload (Keras 3 drops the model-name prefix), so states are
    compared by position, not by name.  Works for Keras 3 and ``tf_keras`` optimizers.
    """
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        raise ValueError("the model has no optimizer: compile it (or load a compiled model) first")
    variables = optimizer.variables() if callable(optimizer.variables) else optimizer.variables
    return [np.asarray(v.numpy()) for v in variables]


def assert_same_optimizer_state(reference, restored) -> int:
    """Assert both models' optimizer states are identical; return the number of variables."""
    a, b = optimizer_state(reference), optimizer_state(restored)
    if len(a) != len(b):
        raise AssertionError(f"optimizer has {len(a)} variables before and {len(b)} after")
    for i, (x, y) in enumerate(zip(a, b)):
        if x.shape != y.shape or not np.array_equal(x, y):
            raise AssertionError(f"optimizer variable #{i} differs (shape {x.shape} vs {y.shape})")
    return len(a)
