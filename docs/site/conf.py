"""Sphinx configuration of the docs site (`make docs`): the committed, executed notebooks rendered as HTML.

`scripts/docs_site.py build` stages the pages into build/site-src (README.md becomes the index page; badge images, which
would be fetched from other sites, become plain links) and runs `sphinx-build -W -c docs/site build/site-src
build/site`. Nothing is executed: the pages show the outputs stored in the notebooks.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from project import repository_url  # noqa: E402  (pyproject's [project.urls] Repository)

project = "Save and load TensorFlow/Keras models under tf.distribute"
author = "The tf-distribute-notebooks contributors"
copyright = "the tf-distribute-notebooks contributors, Apache-2.0"

extensions = ["myst_nb"]
nb_execution_mode = "off"  # the notebooks carry their executed outputs; the site never re-runs them
myst_heading_anchors = 3  # links such as 03_tf_saved_model.ipynb#hub-keraslayer-keras-3-savedmodel resolve
exclude_patterns = ["_build"]

html_theme = "sphinx_book_theme"
html_title = "Save and load under tf.distribute"
html_theme_options = {
    "repository_url": repository_url(),
    "repository_branch": "main",
    "use_repository_button": True,
    "use_download_button": True,
    "show_navbar_depth": 1,
    "navigation_with_keys": True,
}
html_last_updated_fmt = None
html_use_index = False  # no index entries are defined: an empty "Index" page would only be noise
html_context = {"default_mode": "light"}  # the theme's colour mode before a reader picks one
nb_render_markdown_format = "myst"  # text/markdown outputs (notebook 09 shows its results tables this way)

# Accessibility. tests/test_site.py runs axe-core on every page and requires 0 serious or critical violations. With the
# theme as shipped, every page had two violation types, both from the theme and myst-nb, not from our pages:
# * label-content-name-mismatch (serious): an accessible name (aria-label) that does not contain the visible text.
#   - pydata-sphinx-theme's search button: aria-label="Search", visible text "Search Ctrl+K" (2 per page: header and
#     sidebar). Fixed by _templates/search-button-field.html (name from the visible text, the shortcut
#     through aria-keyshortcuts).
#   - myst-nb's toggle of a hidden solution cell: <summary aria-label="Toggle hidden content"> around the visible
#     "Show code cell source" (one per exercise solution). The <summary> is written by myst-nb's Python HTML visitor,
#     not a template and not configurable, so setup() below re-registers that visitor without the aria-label: the name
#     is then the visible prompt ("Show code cell source", or "Hide code cell source" when open).
# * region (moderate): the primary sidebar is a <div>, so its site title and search button lie outside any landmark.
#   Fixed by _templates/sections/sidebar-primary.html, which wraps the sidebar's items in an <aside> (the theme's
#   <nav aria-label="Main"> stays inside); _static/a11y.css keeps the layout unchanged.
templates_path = ["_templates"]
html_static_path = ["_static"]
html_css_files = ["a11y.css"]


def _visit_hidden_cell(self, node) -> None:
    """myst-nb's ``visit_HideCellInput`` (myst_nb/sphinx_.py), with no aria-label on the ``<summary>``."""
    from html import escape

    self.body.append(f'<details class="admonition hide {" ".join(node["classes"])}">\n<summary>\n')
    self.body.append(f'<p class="collapsed admonition-title">{escape(node["prompt_show"])}</p>\n')
    self.body.append(f'<p class="expanded admonition-title">{escape(node["prompt_hide"])}</p>\n</summary>\n')


def setup(app) -> None:
    from myst_nb.sphinx_ import HideCodeCellNode, depart_HideCellInput

    app.add_node(HideCodeCellNode, override=True, html=(_visit_hidden_cell, depart_HideCellInput))
