"""Plots a reader can trust: a diverging colormap's middle colour means zero."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from dltutor import plot  # noqa: E402


def test_diverging_colormaps_get_symmetric_limits() -> None:
    images = np.array([[[0.1, -0.5], [0.2, 0.3]], [[2.0, 1.0], [0.5, 1.5]]])
    axes = plot.plot_images(images, columns=2, cmap="RdBu")
    assert [ax.images[0].get_clim() for ax in axes.flat] == [(-0.5, 0.5), (-2.0, 2.0)]
    axes = plot.plot_images(images, columns=2, cmap="coolwarm_r")
    assert axes.flat[1].images[0].get_clim() == (-2.0, 2.0)


def test_sequential_colormaps_keep_each_images_range() -> None:
    images = np.array([[[0.1, -0.5], [0.2, 0.3]]])
    axes = plot.plot_images(images, columns=1, cmap="viridis")
    assert axes.flat[0].images[0].get_clim() == (-0.5, 0.3)
