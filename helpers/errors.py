"""The exceptions the helpers raise, one per failure family.

Bad arguments to a function are a ``ValueError`` (or ``TypeError``), as anywhere in Python.
Everything that goes wrong *outside* the call – a download, a file, another process – is one
of these, and its message says what to do next.
"""

from __future__ import annotations

__all__ = ["ClaimError", "DataError", "WorkerError"]


class DataError(RuntimeError):
    """MNIST could not be prepared: the source is missing, unreachable, corrupt, or not the real dataset.

    Raised by :mod:`helpers.mnist_prep`.
    """


class WorkerError(RuntimeError):
    """A process the helpers start failed: it exited before it was ready, or did not reach an expected point in time.

    Raised for the ``tf.distribute.Server`` subprocess (:mod:`helpers.tf_server`), for the
    ``MultiWorkerMirroredStrategy`` workers (:mod:`helpers.multiworker`, :mod:`helpers.preemption`) and by
    :func:`helpers.processes.wait_until`.  Bad arguments to the functions that start them are a ``ValueError`` or
    ``TypeError`` instead, raised before anything starts.
    """


class ClaimError(AssertionError):
    """A claim a lesson makes did not hold; the message lists every such claim.

    Raised by :func:`helpers.claims.verify`. An ``AssertionError``, so that pytest and nbval report it as a failed
    check.
    """
