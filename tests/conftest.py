"""Shared fixtures for the helpers' unit tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_python(code: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (TensorFlow state cannot be reset in-process)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def python_subprocess():
    return run_python


@pytest.fixture
def hard_timeout(request):
    """Fail (instead of hanging) after the test module's ``HARD_TIMEOUT`` seconds; ProcessGroups still reap."""
    seconds = int(request.module.HARD_TIMEOUT)

    def expire(signum, frame):
        raise TimeoutError(f"test exceeded its hard timeout of {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)
