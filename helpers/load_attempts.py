"""Try a loader on a saved file and say in one stable line what came back (notebook 04's Keras 2 files).

A failed ``load_model`` of a file from another Keras version raises an error whose message wraps the real cause in
Keras' deserialization context (``… Exception encountered: <cause>``), with internal module paths and the file's
path in it. :func:`outcome` keeps what a learner needs and what is the same on every machine::

    outcome(lambda: keras.models.load_model(path), scope=strategy.scope, hide=str(path))
    # 'ok, Adam steps 20' | 'ok' (no optimizer) | 'TypeError: … got an unexpected keyword argument …'

It only imports what the loader does: no TensorFlow import here.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any

__all__ = ["keras_cause", "outcome"]

_SAVEDMODEL_REFUSAL = re.compile(r": filepath=.*? Note that (.*?[.]) .*")  # Keras 3's legacy-SavedModel refusal
_KERAS_INTERNAL = re.compile(r"keras[.]src[.\w]*[.]")  # keras.src.losses.losses.X -> …X


def keras_cause(err: BaseException) -> str:
    """``Type: cause``: the innermost cause of a Keras load error (after ``Exception encountered:``), its first line.

    Keras' internal module paths become ``…``, and the legacy-SavedModel refusal keeps only its gist (the sentence
    after ``Note that``), without the path it names.
    """
    if not isinstance(err, BaseException):
        raise TypeError(f"keras_cause takes an exception, got {type(err).__name__}: pass the caught error itself")
    lines = str(err).split("Exception encountered: ")[-1].strip().splitlines()
    cause = _SAVEDMODEL_REFUSAL.sub(r": … \1", lines[0] if lines else "")
    return f"{type(err).__name__}: " + _KERAS_INTERNAL.sub("…", cause)


def outcome(
    load: Callable[[], Any],
    *,
    scope: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
    hide: str = "",
) -> str:
    """Call ``load()`` (inside ``scope()``, e.g. ``strategy.scope``) and describe the result in one line.

    Returns ``"ok, Adam steps N"`` for a model with an optimizer (``N`` its ``iterations``), ``"ok"`` for one without
    (``compile=False``), or :func:`keras_cause` of a ``TypeError`` / ``ValueError`` (what Keras raises for a file it
    cannot rebuild), with the text ``hide`` (the file's path) replaced by ``<path>``. Other exceptions propagate.
    """
    if not callable(load):
        raise TypeError(f"load must be a function that loads, e.g. lambda: keras.models.load_model(path); got {load!r}")
    if scope is not None and not callable(scope):
        raise TypeError(f"scope must be a function returning a context manager, e.g. strategy.scope; got {scope!r}")
    if not isinstance(hide, str):
        raise TypeError(f"hide must be the text to replace by <path> (a str), got {type(hide).__name__}")
    try:
        with scope() if scope is not None else contextlib.nullcontext():
            model = load()
    except (TypeError, ValueError) as err:
        cause = keras_cause(err)
        return cause.replace(hide, "<path>") if hide else cause
    optimizer = getattr(model, "optimizer", None)
    return f"ok, Adam steps {int(optimizer.iterations.numpy())}" if optimizer is not None else "ok"
