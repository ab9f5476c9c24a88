"""Plotting helpers: take NumPy arrays (or callables returning them), return matplotlib Axes."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from dltutor.checks import as_float_array, as_label_array, check_same_length


def _axes(ax: Axes | None) -> Axes:
    return plt.subplots(figsize=(5, 3.5))[1] if ax is None else ax


def plot_functions(
    x: np.ndarray, curves: Mapping[str, np.ndarray], ax: Axes | None = None, title: str = ""
) -> Axes:
    """Plot several functions of the same ``x``, one labelled line each."""
    x = as_float_array(x, "x", ndim=1)
    ax = _axes(ax)
    for label, values in curves.items():
        values = as_float_array(values, f"curve {label!r}", ndim=1)
        check_same_length(x, values, "x", f"curve {label!r}")
        ax.plot(x, values, label=label)
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.axvline(0, color="grey", linewidth=0.5)
    ax.set_title(title)
    ax.legend()
    return ax


def plot_history(
    history: Mapping[str, Sequence[float]],
    keys: Sequence[str] | None = None,
    ax: Axes | None = None,
    title: str = "",
    log_scale: bool = False,
) -> Axes:
    """Plot per-epoch curves from a training history (``{"loss": [...], "val_loss": [...]}``).

    Works for the histories of :func:`dltutor.scratch.fit`, :func:`dltutor.torch.fit` and
    Keras' ``History.history``.
    """
    keys = [key for key in history if key.endswith("loss")] if keys is None else list(keys)
    missing = [key for key in keys if key not in history]
    if missing:
        raise ValueError(f"history has keys {sorted(history)}, got a request for {missing}")
    ax = _axes(ax)
    for key in keys:
        values = np.asarray(history[key], dtype=float)
        ax.plot(np.arange(1, len(values) + 1), values, label=key)
    ax.set_xlabel("epoch")
    if log_scale:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.legend()
    return ax


def plot_decision_boundary(
    predict: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    ax: Axes | None = None,
    resolution: int = 200,
    title: str = "",
) -> Axes:
    """Colour the plane by the class ``predict`` gives each point, and scatter the data on top.

    Args:
        predict: maps points of shape (M, 2) to class labels (M,) or class scores (M, K).
        x: 2-D points, shape (N, 2).
        y: their labels, shape (N,).
    """
    from dltutor.metrics import predicted_labels

    x = as_float_array(x, "x", ndim=2)
    if x.shape[1] != 2:
        raise ValueError(f"x must have 2 columns to be drawn in the plane, got shape {x.shape}")
    y = as_label_array(y, "y")
    check_same_length(x, y, "x", "y")
    margin = 0.5
    grid_x, grid_y = np.meshgrid(
        np.linspace(x[:, 0].min() - margin, x[:, 0].max() + margin, resolution),
        np.linspace(x[:, 1].min() - margin, x[:, 1].max() + margin, resolution),
    )
    points = np.column_stack([grid_x.ravel(), grid_y.ravel()])  # (resolution², 2)
    regions = predicted_labels(np.asarray(predict(points))).reshape(grid_x.shape)
    ax = _axes(ax)
    ax.contourf(grid_x, grid_y, regions, alpha=0.3, cmap="coolwarm")
    ax.scatter(x[:, 0], x[:, 1], c=y, cmap="coolwarm", edgecolors="k", s=15)
    ax.set_title(title)
    return ax


DIVERGING = {
    "RdBu",
    "RdGy",
    "PuOr",
    "PRGn",
    "PiYG",
    "BrBG",
    "RdYlBu",
    "RdYlGn",
    "Spectral",
    "coolwarm",
    "bwr",
    "seismic",
}
"""Matplotlib's diverging colormaps: their middle colour stands for zero."""


def plot_images(
    images: np.ndarray,
    titles: Sequence[str] | None = None,
    columns: int = 8,
    cmap: str | None = "gray_r",
    size: float = 1.2,
) -> np.ndarray:
    """A grid of images, (N, H, W) grey or (N, H, W, 3) colour; returns the array of Axes.

    Grey images are each scaled to their own range (useful for filters and feature maps).
    With a diverging colormap (``"RdBu"``, ``"coolwarm"``, ...) each image's range is made
    symmetric about zero, so the middle colour means zero and the two ends mean sign.
    """
    images = np.asarray(images)
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
        raise ValueError(
            f"images must have shape (N, H, W) or (N, H, W, 3), got shape {images.shape}"
        )
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"titles must have one entry per image ({len(images)}), got {len(titles)}")
    rows = max(1, math.ceil(len(images) / columns))
    diverging = cmap is not None and cmap.removesuffix("_r") in DIVERGING
    fig, axes = plt.subplots(
        rows, columns, figsize=(columns * size, rows * size * 1.15), squeeze=False
    )
    for index, ax in enumerate(axes.flat):
        ax.axis("off")
        if index < len(images):
            limit = float(np.abs(images[index]).max()) or 1.0
            symmetric = {"vmin": -limit, "vmax": limit} if diverging and images.ndim == 3 else {}
            ax.imshow(images[index], cmap=None if images.ndim == 4 else cmap, **symmetric)
            if titles is not None:
                ax.set_title(titles[index], fontsize=8)
    fig.tight_layout()
    return axes


def plot_confusion_matrix(
    labels: np.ndarray,
    predictions: np.ndarray,
    class_names: Sequence[str] | None = None,
    ax: Axes | None = None,
    title: str = "",
) -> Axes:
    """Confusion matrix of true against predicted classes (scikit-learn's display)."""
    from sklearn.metrics import ConfusionMatrixDisplay

    from dltutor.metrics import confusion_matrix

    matrix = confusion_matrix(
        labels, predictions, num_classes=None if class_names is None else len(class_names)
    )
    ax = plt.subplots(figsize=(5, 5))[1] if ax is None else ax
    ConfusionMatrixDisplay(matrix, display_labels=class_names).plot(
        ax=ax, colorbar=False, cmap="Blues"
    )
    ax.set_title(title)
    return ax


def plot_image_rows(
    rows: Mapping[str, np.ndarray], image_shape: tuple[int, ...], columns: int = 10
) -> np.ndarray:
    """One row of images per entry (originals, reconstructions, ...), the first ``columns`` of each.

    Each entry holds flattened or shaped images; they are reshaped to ``image_shape``, e.g. (8, 8).
    """
    if not rows:
        raise ValueError("rows must name at least one set of images, got none")
    images = []
    for name, row in rows.items():
        row = np.asarray(row)
        if len(row) < columns:
            raise ValueError(f"row {name!r} must hold at least {columns} images, got {len(row)}")
        images.append(row[:columns].reshape(columns, *image_shape))
    return plot_images(
        np.concatenate(images),
        titles=[name for name in rows for _ in range(columns)],
        columns=columns,
    )


def plot_grouped_bars(
    values: Mapping[str, Mapping[str, float]],
    ax: Axes | None = None,
    title: str = "",
    ylabel: str = "accuracy",
    reference: float | None = None,
) -> Axes:
    """Bars of ``values[series][group]``: one cluster per group, one bar colour per series.

    ``reference`` draws a dotted horizontal line (chance, say).
    """
    if not values:
        raise ValueError("values must name at least one series")
    groups = list(next(iter(values.values())))
    ax = _axes(ax)
    width = 0.8 / len(values)
    for index, (series, by_group) in enumerate(values.items()):
        positions = np.arange(len(groups)) + (index - (len(values) - 1) / 2) * width
        ax.bar(positions, [by_group[group] for group in groups], width, label=series)
    if reference is not None:
        ax.axhline(reference, color="grey", linestyle=":", label="chance")
    ax.set_xticks(np.arange(len(groups)), groups)
    ax.set(ylabel=ylabel, title=title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the bars
    return ax
