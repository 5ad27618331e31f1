"""helpers.multiworker_config: the launcher ↔ worker-script contract; a bad pause is rejected before anything starts."""

from __future__ import annotations

import pytest

from helpers.multiworker_config import parse_pause


@pytest.mark.parametrize("text", ["2", "a:b", "2:3:4", "0:1", "1:0", ""])
def test_parse_pause_rejects_bad_text(text):
    with pytest.raises(ValueError, match="pause"):
        parse_pause(text)


@pytest.mark.parametrize("value", [(2, 3), 23, b"2:3"])
def test_parse_pause_rejects_a_wrong_type(value):
    with pytest.raises(TypeError, match="pause must be a string like '2:3'"):
        parse_pause(value)


def test_parse_pause_ok():
    assert parse_pause("2:3") == (2, 3) and parse_pause(None) is None
