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
