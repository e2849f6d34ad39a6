import logging
import re

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


# --------------------------------------------------------------------------------------------
# The defaults that shape every figure, pinned


def test_image_grid_defaults_size_columns_and_colour_maps():
    fig = plots.show_images(torch.rand(8, 3, 4, 4), titles=[str(k) for k in range(8)])
    assert tuple(fig.get_size_inches()) == pytest.approx((6 * 2.6, 2 * 2.6))  # 6 columns
    shown = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 12 and len(shown) == 8
    assert all(not ax.axison for ax in fig.axes)  # no axes, filled or not
    assert shown[0].title.get_fontsize() == 9
    fig = plots.show_images([np.zeros((4, 4)), torch.rand(1, 1, 4, 4)], size=1.0)
    assert tuple(fig.get_size_inches()) == pytest.approx((2.0, 1.0))
    assert [ax.images[0].get_cmap().name for ax in fig.axes] == ["gray", "gray"]
    assert [ax.get_title() for ax in fig.axes] == ["", ""]
    fig = plots.show_images([np.zeros((4, 4))], cmap="magma", suptitle="big")
    assert fig.axes[0].images[0].get_cmap().name == "magma" and fig._suptitle.get_text() == "big"
    assert plots.show_images([np.zeros((4, 4))])._suptitle is None


def test_image_grid_shows_the_pixels_clipped_and_as_given():
    over = torch.full((3, 2, 2), 1.5)
    over[0, 0, 0] = -0.5
    fig = plots.show_images([over, np.full((2, 2, 3), 200, dtype=np.uint8)], ncols=2)
    shown = fig.axes[0].images[0].get_array()
    assert shown.shape == (2, 2, 3) and shown.min() == 0.0 and shown.max() == 1.0
    assert shown[0, 0].tolist() == [0.0, 1.0, 1.0]  # channels last, the pixel where it was
    assert fig.axes[1].images[0].get_array().max() == 200  # integers are left as they are
    grey = plots.show_images([torch.full((1, 2, 2), 0.25)]).axes[0].images[0].get_array()
    assert grey.shape == (2, 2) and grey.max() == 0.25  # one channel: a grey 2-D image
    with pytest.raises(ValueError, match=r"^Pass single images \(3×H×W or 1×3×H×W\)"):
        plots.show_images([torch.rand(2, 3, 4, 4)])


def test_feature_maps_defaults_and_scaling_by_hand():
    activation = torch.zeros(1, 20, 2, 2)
    activation[0, :, 0, 0] = torch.arange(20.0)  # each map: one value v, three zeros
    activation[0, 3] = 5.0  # a flat map: no range to scale, shown as zeros
    fig = plots.show_feature_maps(activation, title="t")
    assert tuple(fig.get_size_inches()) == pytest.approx((8 * 1.3, 2 * 1.3))  # 16 maps, 8 a row
    shown = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(shown) == 16 and len(fig.axes) == 16
    assert shown[2].get_array().tolist() == [[1.0, 0.0], [0.0, 0.0]]
    assert shown[3].get_array().tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert all(image.get_cmap().name == "viridis" for image in shown)
    assert fig._suptitle.get_text() == "t" and fig._suptitle.get_fontsize() == 10
    negative = -torch.arange(4.0).view(1, 1, 2, 2)  # scaled from its own min to its own max
    maps = plots._scaled_maps(negative, 1)
    assert np.allclose(maps.numpy(), [[[1.0, 2 / 3], [1 / 3, 0.0]]])
    message = "Expected one activation of shape (1, C, H, W); got (4, 4)."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        plots.show_feature_maps(torch.rand(4, 4))


def test_feature_map_rows_defaults():
    activations = {"first": torch.rand(1, 20, 3, 3), "second": torch.rand(1, 4, 3, 3)}
    fig = plots.show_feature_map_rows(activations)
    assert tuple(fig.get_size_inches()) == pytest.approx((16 * 0.9, 2 * 0.9))
    assert len(fig.axes) == 32
    assert len([ax for ax in fig.axes[:16] if ax.images]) == 16
    assert len([ax for ax in fig.axes[16:] if ax.images]) == 4
    assert fig.axes[0].images[0].get_cmap().name == "viridis"
    label = fig.axes[16].yaxis.label
    assert label.get_text() == "second" and label.get_rotation() == 0
    assert label.get_ha() == "right" and label.get_fontsize() == 9
    assert not fig.axes[5].get_xticks().size and not fig.axes[5].get_yticks().size
    assert not any(spine.get_visible() for spine in fig.axes[5].spines.values())


def test_curve_defaults_markers_labels_legend_and_band():
    ax = plots.plot_curves({"only": [3.0, 1.0, 2.0]}, xlabel="step", ylabel="loss")
    assert tuple(ax.figure.get_size_inches()) == pytest.approx((5.5, 3.4))
    (line,) = ax.lines
    assert line.get_xdata().tolist() == [0, 1, 2] and line.get_ydata().tolist() == [3, 1, 2]
    assert line.get_marker() == "o" and line.get_label() == "only"
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "loss"
    assert ax.get_legend() is None and ax.get_yscale() == "linear"  # one curve: no legend
    assert ax.xaxis._major_tick_kw.get("gridOn") and ax.get_xgridlines()[0].get_alpha() == 0.3
    long = plots.plot_curves({"a": list(range(13)), "b": list(range(13))}, x=range(10, 23))
    assert long.lines[0].get_marker() in (None, "None", "")  # 13 points: no markers
    assert long.lines[0].get_xdata().tolist() == list(range(10, 23))
    assert [t.get_text() for t in long.get_legend().get_texts()] == ["a", "b"]
    assert long.get_legend().get_texts()[0].get_fontsize() == 8
    band = plots.plot_curves({"a": [1.0, 2.0], "b": [0.0, 0.0]}, spread={"a": [0.5, 0.25]})
    (fill,) = band.collections  # only "a" has a spread
    assert fill.get_alpha() == 0.2
    (path,) = fill.get_paths()
    ys = sorted({round(float(y), 6) for y in path.vertices[:, 1]})
    assert ys == [0.5, 1.5, 1.75, 2.25]  # 1 ± 0.5 and 2 ± 0.25
    _, own = plt.subplots()
    assert plots.plot_curves({"a": [1.0]}, ax=own) is own


def test_images_and_curves_widths_and_clipping():
    fig = plots.show_images_and_curves(
        [torch.full((3, 2, 2), 2.0), torch.rand(3, 2, 2)],
        ["a", "b"],
        {"one": [1.0, 2.0]},
        x=[0.0, 1.0],
        xlabel="f",
        ylabel="power",
    )
    assert tuple(fig.get_size_inches()) == pytest.approx((2.8 * 2 + 1.6 * 2.8, 2.8))
    grid = fig.axes[0].get_subplotspec().get_gridspec()
    assert list(grid.get_width_ratios()) == [1, 1, 1.6] and grid.get_geometry() == (1, 3)
    assert fig.axes[0].images[0].get_array().max() == 1.0  # clipped to [0, 1]
    assert not fig.axes[0].axison and fig.axes[0].title.get_fontsize() == 9
    curves = fig.axes[2]
    assert curves.get_xlabel() == "f" and curves.get_ylabel() == "power"
    assert curves.get_yscale() == "linear"
    integers = plots.show_images_and_curves(
        [np.full((2, 2, 3), 200, dtype=np.uint8)], ["a"], {"one": [1.0]}, x=[0.0]
    )
    assert integers.axes[0].images[0].get_array().max() == 200
    message = "1 images but 2 titles."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        plots.show_images_and_curves([torch.rand(3, 2, 2)], ["a", "b"], {"one": [1.0]}, x=[0.0])
    with pytest.raises(ValueError, match=r"^show_images_and_curves needs at least one image\.$"):
        plots.show_images_and_curves([], [], {"one": [1.0]}, x=[0.0])


def test_single_panels_rows_and_grey_arrays():
    fig = plots.show_feature_maps(torch.rand(1, 1, 3, 3), count=1, ncols=1)  # a 1×1 grid
    assert len(fig.axes) == 1 and fig.axes[0].images
    fig = plots.show_feature_map_rows({"only": torch.rand(1, 2, 3, 3)}, count=2)  # one row
    assert len(fig.axes) == 2 and fig.axes[0].get_ylabel() == "only"
    grey = plots.show_images([torch.full((1, 1, 3), 0.25)]).axes[0].images[0].get_array()
    assert grey.shape == (1, 3)  # one row of three grey pixels
    wide = plots.show_images([np.array([[0.0, 2.0]])]).axes[0].images[0]
    assert wide.get_array().max() == 2.0 and wide.get_cmap().name == "gray"  # 2-D: not clipped
    ax = plots.plot_curves({"a": [1.0, 2.0]})
    assert ax.get_xlabel() == "" and ax.get_ylabel() == ""
    fig = plots.show_images_and_curves([torch.rand(3, 2, 2)], ["a"], {"b": [1.0]}, x=[0.0])
    assert fig.axes[1].get_xlabel() == "" and fig.axes[1].get_ylabel() == ""
    assert fig.axes[1].get_yscale() == "linear"
    assert tuple(fig.get_size_inches()) == pytest.approx((2.8 + 1.6 * 2.8, 2.8))


def test_out_of_range_colours_are_clipped_before_matplotlib_warns(caplog):
    # matplotlib clips RGB floats itself, with a logged warning under the figure: the figures
    # clip them first, so that nothing is printed
    over = torch.full((3, 2, 2), 1.5)
    over[0, 0, 0] = -0.5
    with caplog.at_level(logging.WARNING, logger="matplotlib"):
        plots.show_images([over, over.unsqueeze(0)])
        plots.show_images_and_curves([over], ["a"], {"one": [1.0]}, x=[0.0])
        plt.figure().add_subplot().imshow(over.permute(1, 2, 0).numpy())  # the control
    assert [r.getMessage()[:30] for r in caplog.records] == ["Clipping input data to the val"]


def test_feature_maps_keep_their_look_whatever_the_style():
    with plt.rc_context({"image.cmap": "gray", "font.size": 14}):
        fig = plots.show_feature_maps(torch.rand(1, 3, 2, 2), count=3, ncols=2, title="t")
        rows = plots.show_feature_map_rows({"a": torch.rand(1, 2, 2, 2)}, count=2)
    assert len(fig.axes) == 4 and len([ax for ax in fig.axes if ax.images]) == 3
    assert all(not ax.axison for ax in fig.axes)
    assert {ax.images[0].get_cmap().name for ax in fig.axes if ax.images} == {"viridis"}
    assert fig._suptitle.get_fontsize() == 10
    assert {ax.images[0].get_cmap().name for ax in rows.axes} == {"viridis"}
    label = rows.axes[0].yaxis.label
    assert label.get_va() == "center" and label.get_fontsize() == 9
    ax = plots.plot_curves({"twelve": list(range(12))})
    assert ax.lines[0].get_marker() == "o"  # markers up to 12 points
    fig = plots.show_images_and_curves([torch.rand(3, 2, 2)], ["a"], {"b": [1.0, 2.0]}, [0.1, 0.3])
    assert fig.axes[1].lines[0].get_xdata().tolist() == [0.1, 0.3]
    with pytest.raises(ValueError, match=r"^show_images needs at least one image\.$"):
        plots.show_images([])
    with pytest.raises(
        ValueError, match=r"^show_feature_map_rows needs at least one activation\.$"
    ):
        plots.show_feature_map_rows({})


def test_images_beside_curves_keep_their_pixels_in_range():
    image = torch.full((3, 2, 2), 0.25)
    image[0, 0, 0] = 0.75
    fig = plots.show_images_and_curves([image], ["a"], {"b": [1.0]}, x=[0.0])
    assert np.array_equal(fig.axes[0].images[0].get_array(), image.permute(1, 2, 0).numpy())
