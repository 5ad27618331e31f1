"""One claim, one check: print each claim a lesson makes next to the condition that proves it.

A lesson states what it has shown as a list of sentences, each paired with the check behind it::

    from helpers.claims import verify

    verify({
        "the .keras file holds each weight once, not once per replica": n_arrays == 6,
        "the loaded model predicts what the trained one did (bitwise)": np.array_equal(before, after),
    })

:func:`verify` prints ``✓ <claim>`` for every claim that holds. If any does not, it prints
``✗ <claim>`` for those too and raises :class:`ClaimError`, whose message lists every false
claim, not only the first one, so one run shows everything that went wrong.

A condition must be a real ``bool`` (``numpy.bool_`` included). Anything else, such as an
array whose truth is ambiguous or ``None`` from a function that forgot to return, is a
``TypeError``: a check that cannot fail is not a check.
"""

from __future__ import annotations

from collections.abc import Mapping

from helpers.errors import ClaimError

__all__ = ["ClaimError", "verify"]


def _is_bool(value: object) -> bool:
    if isinstance(value, bool):
        return True
    # numpy.bool_ without importing numpy: `a == b` on numpy scalars and `np.array_equal` return it
    return type(value).__name__ in ("bool_", "bool") and type(value).__module__ == "numpy"


def verify(claims: Mapping[str, object]) -> None:
    """Print ``✓ claim`` for each claim whose condition holds; raise :class:`ClaimError` listing those that do not.

    Args:
        claims: claim text → condition, in the order to print them. Each text is one sentence a
            reader can check against the outputs above it; each condition is a ``bool``.

    Raises:
        TypeError: ``claims`` is not a mapping, a claim is not a string, or a condition is not a ``bool``
            (compare explicitly: ``np.array_equal(a, b)``, ``len(x) == 3``, ``err is not None``).
        ValueError: there are no claims, or a claim's text is empty.
        ClaimError: at least one condition is ``False``; the message names every such claim.
    """
    if not isinstance(claims, Mapping):
        raise TypeError(
            f"verify() takes a mapping of claim text → condition, got {type(claims).__name__}; "
            'write verify({"the claim": condition, ...})'
        )
    if not claims:
        raise ValueError("verify() got no claims; pass at least one {claim text: condition} pair")
    false: list[str] = []
    for claim, holds in claims.items():
        if not isinstance(claim, str):
            raise TypeError(f"a claim must be its text (str), got {type(claim).__name__}: {claim!r}")
        if not claim.strip():
            raise ValueError("a claim's text is empty; say in words what the condition shows")
        if not _is_bool(holds):
            raise TypeError(
                f"the condition for {claim!r} is a {type(holds).__name__}, not a bool; "
                "compare explicitly, e.g. np.array_equal(a, b), len(x) == 3, err is not None"
            )
        print(("✓ " if holds else "✗ ") + claim)
        if not holds:
            false.append(claim)
    if false:
        listed = "\n".join(f"  ✗ {claim}" for claim in false)
        raise ClaimError(f"{len(false)} of {len(claims)} claims do not hold:\n{listed}")
