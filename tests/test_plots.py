import numpy as np
import pytest
from matplotlib.figure import Figure

from helpers import plots


def test_show_digits_draws_one_axis_per_slot():
    fig = plots.show_digits(np.zeros((10, 28, 28, 1)), np.arange(10), ncols=4)
    assert isinstance(fig, Figure) and len(fig.axes) == 12
    assert [ax.get_title() for ax in fig.axes[:3]] == ["0", "1", "2"]


def test_show_digits_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="as many labels"):
        plots.show_digits(np.zeros((3, 28, 28)), np.arange(2))
    with pytest.raises(ValueError):
        plots.show_digits(np.zeros((0, 28, 28)), np.arange(0))


def test_class_histogram_and_loss_curves():
    fig = plots.class_histogram({"train": [1] * 10, "test": [2] * 10})
    assert len(fig.axes[0].patches) == 20
    fig = plots.loss_curves({"a": ([1, 2], [0.5, 0.4])})
    assert fig.axes[0].get_lines()[0].get_ydata().tolist() == [0.5, 0.4]
    with pytest.raises(ValueError, match="empty"):
        plots.class_histogram({})
    with pytest.raises(ValueError, match="2 steps but 1 losses"):
        plots.loss_curves({"a": ([1, 2], [0.5])})
