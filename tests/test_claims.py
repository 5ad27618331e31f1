"""helpers.claims.verify: each claim printed with ✓, every false one listed, bad input refused."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.claims import ClaimError, verify


def test_every_true_claim_is_printed_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    verify({"two is even": 2 % 2 == 0, "arrays match": np.array_equal([1, 2], [1, 2]), "numpy scalar": np.int64(3) > 2})
    assert capsys.readouterr().out == "✓ two is even\n✓ arrays match\n✓ numpy scalar\n"


def test_every_false_claim_is_listed_not_only_the_first(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ClaimError) as caught:
        verify({"first false": False, "true": True, "second false": 1 > 2})
    assert str(caught.value) == "2 of 3 claims do not hold:\n  ✗ first false\n  ✗ second false"
    assert capsys.readouterr().out == "✗ first false\n✓ true\n✗ second false\n"
    assert isinstance(caught.value, AssertionError)  # pytest and nbval report it as a failed check


@pytest.mark.parametrize(
    ("claims", "error", "message"),
    [
        ([("claim", True)], TypeError, "mapping of claim text"),
        ({}, ValueError, "no claims"),
        ({"  ": True}, ValueError, "empty"),
        ({3: True}, TypeError, "must be its text"),
        ({"array": np.array([1, 2]) == np.array([1, 2])}, TypeError, "np.array_equal"),
        ({"forgot to return": None}, TypeError, "not a bool"),
        ({"a count": 3}, TypeError, "compare explicitly"),
    ],
)
def test_bad_input_says_what_to_write(claims: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        verify(claims)  # type: ignore[arg-type]
