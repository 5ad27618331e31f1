"""Round-trip checks: did a save → load keep the weights, the predictions and the optimizer state?

Two kinds of equality, and which one to expect
----------------------------------------------
**Bitwise identical.**  Saving writes each float32 variable's bits and loading reads them
back, so the *weights* and the *optimizer state* of a restored model are identical to the
saved ones, on every machine: :func:`assert_identical_weights`,
:func:`assert_same_optimizer_state`.  The same holds for the same computation run twice
(same function, same inputs, same device, same process configuration).

**Equal up to float32 rounding.**  A float32 number carries about 7 significant decimal
digits, and every addition rounds.  Two *different* execution paths (2 replicas × 8 images
against one call on 16, no strategy against ``MirroredStrategy``, a remote device against a
local one, a SavedModel graph against a Keras layer call) add the same products in another
order, so their results can differ in the last one or two of those digits.  Which digits,
and whether they differ at all, depends on the CPU (its vector instructions), the number of
threads and the kernels TensorFlow picks: an exact ``0.0`` on one machine is ``2e-06`` on
another.  Such comparisons use a tolerance relative to the size of the values:

    max |a - b| ≤ RTOL × max(1, max |a|)          RTOL = 1e-5

``1e-5`` is about a hundred float32 roundings of the largest value: above what reordering
the sums of these lessons' models gives (measured on two different x86-64 CPUs: at most
3.8e-06 on the MNIST model's logits), and far below a real difference (other weights change
the logits by whole units).

Training amplifies rounding: after a hundred steps two runs that started from the same
state on different execution paths differ in their losses by more than a single forward
pass does.  :data:`CURVE_RTOL` is the tolerance for comparing two loss curves.

Printing such values
--------------------
A value whose last digits depend on the machine is printed after ``≈`` (:func:`approx`);
``tests/nbval_sanitize.cfg`` masks the digits after ``≈``, and the notebook asserts what the
value means instead (a tolerance, a threshold, a direction).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "RTOL",
    "CURVE_RTOL",
    "Closeness",
    "approx",
    "max_abs_diff",
    "assert_close",
    "assert_same_predictions",
    "assert_identical_weights",
    "optimizer_state",
    "assert_same_optimizer_state",
]

#: Relative tolerance for the same values computed along two different execution paths.
RTOL = 1e-5
#: Relative tolerance for two loss curves that continue from the same state along different paths.
CURVE_RTOL = 1e-3


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


def _check_rtol(rtol: float) -> float:
    if isinstance(rtol, bool) or not isinstance(rtol, (int, float)) or not (0 <= rtol < 1):
        raise ValueError(f"rtol must be a number in [0, 1), got {rtol!r}")
    return float(rtol)


def approx(value: float | Iterable[float], digits: int = 3) -> str:
    """``≈`` and ``value`` rounded to ``digits`` decimals (a list for several values).

    Use it for every printed number whose last digits depend on the machine: losses,
    accuracies, differences between execution paths.  The nbval sanitizer masks what
    follows ``≈``; assert what the number means.
    """
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 0:
        raise ValueError(f"digits must be a non-negative integer, got {digits!r}")
    if isinstance(value, (int, float, np.floating, np.integer)):
        return f"≈{float(value):.{digits}f}"
    return "[" + ", ".join(approx(v, digits) for v in value) + "]"


@dataclass(frozen=True)
class Closeness:
    """The result of :func:`assert_close`: how far apart two results were, and the tolerance used."""

    max_abs_diff: float
    tolerance: float
    rtol: float

    def __str__(self) -> str:
        diff, rtol = _one_digit(self.max_abs_diff), _one_digit(self.rtol)
        return f"equal up to float32 rounding (max abs diff ≈{diff} ≤ {rtol} × max |value|)"


def _one_digit(x: float) -> str:
    """One significant digit, written out: 1.9e-06 -> "0.000002", 0.0 -> "0" (no exponent for a learner to decode)."""
    return np.format_float_positional(np.float64(x), precision=1, fractional=False, trim="-")


def assert_close(reference, candidate, rtol: float = RTOL, what: str = "results") -> Closeness:
    """Assert ``max |reference - candidate| ≤ rtol × max(1, max |reference|)``; return the figures.

    For the same values computed along two different execution paths (see the module docs).

    Raises:
        ValueError: bad ``rtol``, or the shapes differ.
        AssertionError: the difference is larger than float32 rounding explains.
    """
    rtol = _check_rtol(rtol)
    ref = _numpy(reference)
    diff = max_abs_diff(ref, candidate)
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    tolerance = rtol * max(1.0, scale)
    if not diff <= tolerance or math.isnan(diff):
        raise AssertionError(
            f"{what} differ by up to {diff:.3g}, more than float32 rounding explains "
            f"(tolerance {rtol:g} × max(1, max |reference| = {scale:.3g}) = {tolerance:.3g})"
        )
    return Closeness(diff, tolerance, rtol)


def assert_same_predictions(reference, restored, x, rtol: float = RTOL) -> Closeness:
    """Call both models on ``x`` and assert their outputs are equal up to float32 rounding.

    ``reference`` and ``restored`` may be Keras models or any callables (a SavedModel
    signature, a ``TFSMLayer``); dict outputs with one key are unwrapped.
    """
    rtol = _check_rtol(rtol)
    return assert_close(reference(x), restored(x), rtol, what="predictions")


def assert_identical_weights(reference, restored) -> int:
    """Assert both models' weights are bitwise identical, in order; return how many arrays were compared.

    Accepts Keras 3 or ``tf_keras`` models (anything with ``get_weights()``) or lists of arrays.
    """
    a = reference.get_weights() if hasattr(reference, "get_weights") else list(reference)
    b = restored.get_weights() if hasattr(restored, "get_weights") else list(restored)
    if len(a) != len(b):
        raise AssertionError(f"{len(a)} weight arrays before and {len(b)} after")
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        x, y = _numpy(x), _numpy(y)
        if x.shape != y.shape or not np.array_equal(x, y):
            raise AssertionError(f"weight array #{i} differs (shape {x.shape} vs {y.shape})")
    return len(a)


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
    """Assert both models' optimizer states are bitwise identical; return the number of variables."""
    a, b = optimizer_state(reference), optimizer_state(restored)
    if len(a) != len(b):
        raise AssertionError(f"optimizer has {len(a)} variables before and {len(b)} after")
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if x.shape != y.shape or not np.array_equal(x, y):
            raise AssertionError(f"optimizer variable #{i} differs (shape {x.shape} vs {y.shape})")
    return len(a)
