import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from lib import plots  # noqa: E402


def teardown_function():
    plt.close("all")


def test_grid_has_one_panel_per_image_and_titles():
    fig = plots.show_images(torch.rand(5, 3, 8, 8), titles=list("abcde"), ncols=3)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 6 and len(shown) == 5
    assert [ax.get_title() for ax in shown] == list("abcde")


def test_mixed_inputs_and_errors():
    fig = plots.show_images([torch.rand(1, 3, 8, 8), np.zeros((8, 8)), torch.rand(3, 8, 8)])
    assert len([ax for ax in fig.axes if ax.images]) == 3
    with pytest.raises(ValueError, match="2 images but 1 titles"):
        plots.show_images(torch.rand(2, 3, 8, 8), titles=["a"])
    with pytest.raises(ValueError, match="at least one image"):
        plots.show_images([])


def test_feature_maps_are_scaled_per_channel():
    activation = torch.arange(4 * 6 * 6, dtype=torch.float).view(1, 4, 6, 6)
    fig = plots.show_feature_maps(activation, count=4, ncols=2)
    shown = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert len(shown) == 4
    assert all(np.isclose(a.min(), 0) and np.isclose(a.max(), 1) for a in shown)
    with pytest.raises(ValueError, match=r"\(1, C, H, W\)"):
        plots.show_feature_maps(torch.rand(2, 4, 6, 6))


def test_feature_map_rows_one_row_per_layer():
    activations = {
        "a": torch.arange(4 * 6 * 6, dtype=torch.float).view(1, 4, 6, 6),
        "b": torch.rand(1, 8, 3, 3),
    }
    fig = plots.show_feature_map_rows(activations, count=3)
    assert len(fig.axes) == 2 * 3
    shown = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert len(shown) == 6 and [a.shape for a in shown[:4:3]] == [(6, 6), (3, 3)]
    assert all(np.isclose(a.min(), 0) and np.isclose(a.max(), 1) for a in shown)
    assert [fig.axes[k].get_ylabel() for k in (0, 3)] == ["a", "b"]
    with pytest.raises(ValueError, match="for b"):
        plots.show_feature_map_rows({"b": torch.rand(2, 4, 6, 6)})
    with pytest.raises(ValueError, match="at least one"):
        plots.show_feature_map_rows({})


def test_curves_with_spread():
    ax = plots.plot_curves(
        {"a": [1, 2, 3], "b": [3, 2, 1]}, x=[1, 2, 3], spread={"a": [0.1] * 3}, logy=True
    )
    assert len(ax.lines) == 2 and ax.get_yscale() == "log" and ax.collections


def test_images_and_curves_share_one_row():
    fig = plots.show_images_and_curves(
        torch.rand(2, 3, 8, 8),
        ["a", "b"],
        {"one": [1.0, 0.1], "two": [1.0, 0.5]},
        x=[0.1, 0.3],
        logy=True,
    )
    images, curves = fig.axes[:2], fig.axes[2]
    assert [ax.get_title() for ax in images] == ["a", "b"] and len(fig.axes) == 3
    assert len(curves.get_lines()) == 2 and curves.get_yscale() == "log"
    with pytest.raises(ValueError, match="titles"):
        plots.show_images_and_curves([torch.rand(3, 8, 8)], [], {"one": [1.0]}, x=[0.0])
    plt.close("all")
