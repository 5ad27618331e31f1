"""The README's generated parts match the notebooks (scripts/readme_table.py)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import readme_table  # noqa: E402


def test_readme_tables_match_the_notebooks():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme_table.render(readme) == readme, "run `python scripts/readme_table.py`"


def test_which_api_section_is_notebook_04s_table_with_links_into_notebooks():
    section = readme_table.which_api()
    assert section.startswith("## Which API when") and "| goal | save call | load call | scope |" in section
    assert "](0" not in section, "every notebook link points into notebooks/"
    assert "above" not in section and "this notebook" not in section, "the README's copy says which notebook"
    for goal in ("keep training", "serve without Keras", "fine-tune inside another model", "multi-worker", "remote"):
        assert goal in section
