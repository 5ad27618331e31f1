"""Small matplotlib figures the notebooks share.

Each function returns a ``matplotlib.figure.Figure`` built without pyplot, so no global
figure state is left behind: end a cell with the call and Jupyter shows it exactly once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure


def _show_figures_inline() -> None:
    """In IPython/Jupyter, render returned Figures as PNG (what ``%matplotlib inline`` sets up)."""
    try:
        from IPython import get_ipython
        from IPython.core.pylabtools import select_figure_formats
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        select_figure_formats(shell, {"png"})


_show_figures_inline()

__all__ = ["show_digits", "class_histogram", "loss_curves"]


def show_digits(images, labels, ncols: int = 8, title: str | None = None):
    """A grid of MNIST digits with their labels."""
    images, labels = np.asarray(images), np.asarray(labels)
    if len(images) == 0 or len(images) != len(labels):
        raise ValueError(f"need as many labels as images (>0), got {len(images)} and {len(labels)}")
    nrows = -(-len(images) // ncols)
    fig = Figure(figsize=(1.2 * ncols, 1.4 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, lab in zip(axes.flat, images, labels, strict=False):  # fewer images than axes: the rest stay blank
        ax.imshow(img.squeeze(), cmap="gray_r")
        ax.set_title(str(int(lab)), fontsize=10)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def class_histogram(counts: Mapping[str, Sequence[int]], title: str = "Examples per class"):
    """Side-by-side bars of per-class counts, one series per split."""
    if not counts:
        raise ValueError("counts is empty: pass e.g. {'train': [...10 counts...]}")
    fig = Figure(figsize=(7, 3))
    ax = fig.subplots()
    width = 0.8 / len(counts)
    for i, (name, values) in enumerate(counts.items()):
        xs = np.arange(len(values)) + i * width
        ax.bar(xs, values, width=width, label=name)
    ax.set_xticks(np.arange(len(next(iter(counts.values())))) + 0.4 - width / 2)
    ax.set_xticklabels([str(d) for d in range(len(next(iter(counts.values()))))])
    ax.set_xlabel("digit")
    ax.set_ylabel("examples")
    ax.set_title(title)
    top = max(max(values) for values in counts.values())
    ax.set_ylim(0, top * 1.3)  # room for the legend above the bars
    ax.legend(loc="upper center", ncol=len(counts))
    fig.tight_layout()
    return fig


def loss_curves(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], title: str = "Training loss"):
    """One line per run: ``{label: (steps, losses)}``."""
    if not curves:
        raise ValueError("curves is empty: pass {label: (steps, losses)}")
    fig = Figure(figsize=(7, 3.5))
    ax = fig.subplots()
    for label, (steps, losses) in curves.items():
        if len(steps) != len(losses):
            raise ValueError(f"{label!r}: {len(steps)} steps but {len(losses)} losses")
        ax.plot(steps, losses, marker="o", label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig
