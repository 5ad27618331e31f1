"""The README's generated parts match the notebooks (scripts/readme_table.py); its troubleshooting quotes them."""

import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import readme_table  # noqa: E402


def test_readme_tables_match_the_notebooks():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme_table.render(readme) == readme, "run `python scripts/readme_table.py`"


def test_which_api_section_is_the_pages_table_with_links_from_the_readme():
    page = (ROOT / "docs" / "which_api.md").read_text(encoding="utf-8")
    section = readme_table.which_api()
    assert section.startswith("## Which API when") and "| goal | save call | load call | scope |" in section
    assert "](0" not in section and "](../" not in section, "every link is relative to the README"
    assert "above" not in page and "this notebook" not in page, "the page says which notebook"
    goals = re.findall(r"^\| \*\*(.+?)\*\*", page, re.M)
    assert goals == re.findall(r"^\| \*\*(.+?)\*\*", section, re.M), "the README has every row of the page"
    for goal in ("keep training", "serve without Keras", "fine-tune inside another model", "multi-worker", "remote"):
        assert any(goal in g for g in goals), goal
    assert "parameter servers" in " ".join(goals)
    for link in re.findall(r"\]\(\.\./notebooks/([\w.]+)", page):
        assert (ROOT / "notebooks" / link).exists(), link


def test_notebook_04_keeps_a_short_table_whose_rows_are_the_pages():
    cells = nbformat.read(ROOT / "notebooks" / "04_mix_and_match.ipynb", as_version=4).cells
    cell = next(c.source for c in cells if c.cell_type == "markdown" and c.source.startswith("## Which API when"))
    page = (ROOT / "docs" / "which_api.md").read_text(encoding="utf-8")
    rows = [line for line in cell.splitlines() if line.startswith("| **")]
    assert 0 < len(rows) < len(re.findall(r"^\| \*\*", page, re.M)) and "../docs/which_api.md" in cell
    for row in rows:  # the same row, its notebook links made relative to notebooks/
        row = row.replace("this notebook", "[04](04_mix_and_match.ipynb)")
        assert re.sub(r"\]\((\d\d_)", r"](../notebooks/\1", row).replace("](../docs/", "](") in page, row[:60]


def _outputs(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            texts.append(
                out.get("text", "") if out["output_type"] == "stream" else out.get("data", {}).get("text/plain", "")
            )
    return "\n".join(texts)


def test_troubleshooting_quotes_errors_the_notebooks_really_show():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    entries = re.split(r"\n- ", section)[1:]
    quoted = 0
    for entry in entries:
        errors = [m.group(2) for m in re.finditer(r"\*\*(`+) ?(.+?) ?\1\*\*", " ".join(entry.split()))]
        notebook = re.search(r"\(\[\d\d\]\((notebooks/\d\d_\w+\.ipynb)\)\)", entry)
        if not errors:
            continue
        assert notebook, f"troubleshooting entry without its notebook: {entry[:80]!r}"
        shown = " ".join(_outputs(ROOT / notebook[1]).split())
        for error in errors:
            assert error in shown, f"{notebook[1]} does not show {error!r}: quote the notebook's own output"
            quoted += 1
    assert quoted >= 8, "the troubleshooting section quotes the notebooks' errors"


def test_splice_replaces_between_the_markers_and_names_a_missing_one():
    """The one way the README's generated parts are written (readme_table and compat_docs)."""
    text = "# T\n<!-- a -->\nold\n<!-- /a -->\nrest\n"
    assert readme_table.splice(text, "<!-- a -->", "<!-- /a -->", "new") == "# T\n<!-- a -->\nnew\n<!-- /a -->\nrest\n"
    for broken, missing in [
        ("# T\nold\n<!-- /a -->\n", "<!-- a -->"),
        ("<!-- /a -->\n<!-- a -->\nold\n", "<!-- /a -->"),
    ]:
        with pytest.raises(ValueError, match=f"README.md has no {missing} marker"):
            readme_table.splice(broken, "<!-- a -->", "<!-- /a -->", "new")
