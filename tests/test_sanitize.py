"""The nbval sanitizer masks only the digits that vary between machines, and keeps the rest checked."""

import configparser
import re
from pathlib import Path

import pytest
from nbval.plugin import get_sanitize_patterns

CFG = Path(__file__).with_name("nbval_sanitize.cfg")


def _rules() -> list[tuple[str, str]]:
    """The (regex, replace) pairs nbval applies, in file order, read by nbval's own reader."""
    return get_sanitize_patterns(CFG.read_text(encoding="utf-8"))


def sanitize(text: str) -> str:
    for regex, replace in _rules():
        text = re.sub(regex, replace, text)
    return text


def test_every_rule_is_named_and_explained():
    """Each rule is a [name] section (configparser reads it by name, as tests do) holding exactly the rule nbval
    applies, after a comment saying why."""
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(CFG, encoding="utf-8")
    assert [(cfg[name]["regex"], cfg[name]["replace"]) for name in cfg.sections()] == _rules()
    assert len(_rules()) >= 5
    lines = CFG.read_text(encoding="utf-8").splitlines()
    for name in cfg.sections():
        after = lines[lines.index(f"[{name}]") + 1]
        assert after.startswith("# "), f"[{name}] has no comment saying why"


@pytest.mark.parametrize(
    "line, masked",
    [
        (
            "200/200 - 3s - 15ms/step - accuracy: 0.8797 - loss: 0.4327",
            "200/200 - TIME - accuracy: N.NNNN - loss: N.NNNN",
        ),
        ("40/40 - 1s - 97ms/step - accuracy: 0.7160 - loss: 1.0327", "40/40 - TIME - accuracy: N.NNNN - loss: N.NNNN"),
        ("1/1 - 1s - loss: 21.1608 - 660ms/epoch - 660ms/step", "1/1 - TIME - loss: N.NNNN - TIME"),
    ],
)
def test_keras_epoch_lines_keep_their_metric_names_only(line, masked):
    assert sanitize(line) == masked
    # another CPU rounds the last digits differently: same sanitized text
    assert sanitize(line.replace("0.8797", "0.8796").replace("0.4327", "0.4326")) == masked


@pytest.mark.parametrize(
    "text, masked",
    [
        ("test accuracy: ≈0.97", "test accuracy: ≈…"),
        ("loss per epoch: [≈0.433, ≈0.154]", "loss per epoch: [≈…, ≈…]"),
        ("max abs diff ≈0.000002 ≤ 0.00001 × max |value|", "max abs diff ≈… ≤ 0.00001 × max |value|"),
        ("max abs diff ≈0 ≤ 0.00001", "max abs diff ≈… ≤ 0.00001"),
        ("max abs diff ≈2e-06", "max abs diff ≈…"),
        ("gap ≈-1.5e+03", "gap ≈…"),
    ],
)
def test_values_after_approx_sign_are_masked(text, masked):
    assert sanitize(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "predictions: max abs diff 0.0",  # a raw path difference stays checked (and must not be printed)
        "train batches per epoch: 469 = ceil(60000 / 128 )",
        "parameters: 347146",
        "tolerance 1e-05",
        "model.export  8.00 bytes/param",
        "loss per epoch: [0.433, 0.154]",  # floats without ≈ are not masked
    ],
)
def test_everything_else_stays_checked(text):
    assert sanitize(text) == text
