"""Framework-neutral evaluation: NumPy arrays in, numbers out (scikit-learn does the counting)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dltutor.checks import (
    as_float_array,
    as_label_array,
    check_positive_int,
    check_same_length,
    describe,
)


def predicted_labels(predictions: Any) -> np.ndarray:
    """Class labels from either labels (1-D) or per-class scores, logits or probabilities (2-D, argmax)."""
    predictions = np.asarray(predictions)
    if predictions.ndim == 2:
        if predictions.dtype.kind not in "fiu":
            raise TypeError(f"class scores must be numeric, got {describe(predictions)}")
        return predictions.argmax(axis=1)
    return as_label_array(predictions, "predictions")


def accuracy(labels: Any, predictions: Any) -> float:
    """Fraction of examples whose predicted class equals the label.

    Args:
        labels: true classes, shape (N,).
        predictions: predicted classes (N,) or class scores (N, K), from any framework
            once converted to NumPy.
    """
    from sklearn.metrics import accuracy_score  # imported here: `import dltutor` stays light

    labels = as_label_array(labels, "labels")
    predicted = predicted_labels(predictions)
    check_same_length(labels, predicted, "labels", "predictions")
    return float(accuracy_score(labels, predicted))


def confusion_matrix(labels: Any, predictions: Any, num_classes: int | None = None) -> np.ndarray:
    """Counts C[i, j] of examples of true class i predicted as class j, shape (K, K)."""
    from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix

    labels = as_label_array(labels, "labels")
    predicted = predicted_labels(predictions)
    check_same_length(labels, predicted, "labels", "predictions")
    if num_classes is None:
        num_classes = int(max(labels.max(initial=0), predicted.max(initial=0))) + 1
    return sklearn_confusion_matrix(labels, predicted, labels=np.arange(num_classes))


def reconstruction_errors(x: Any, reconstructions: Any) -> np.ndarray:
    r"""Per-example mean squared error :math:`\frac{1}{d}\lVert x_n - \hat x_n \rVert^2`, shape (N,).

    Inputs of any shape (N, ...) are compared entry by entry; an autoencoder's anomaly score.
    """
    x = as_float_array(x, "x")
    reconstructions = as_float_array(reconstructions, "reconstructions")
    if x.shape != reconstructions.shape:
        raise ValueError(
            f"x and reconstructions must have the same shape, got {x.shape} and {reconstructions.shape}"
        )
    return ((x - reconstructions) ** 2).reshape(len(x), -1).mean(axis=1)


def roc_auc(is_positive: Any, scores: Any) -> float:
    """Area under the ROC curve (scikit-learn): the probability that a random positive scores above a random negative.

    Args:
        is_positive: true for the examples to detect (anomalies), shape (N,).
        scores: higher means "more likely positive", shape (N,).
    """
    from sklearn.metrics import roc_auc_score

    flags = np.asarray(is_positive)
    if flags.dtype != bool:
        raise TypeError(f"is_positive must be a boolean array, got {describe(flags)}")
    scores = as_float_array(scores, "scores", ndim=1)
    check_same_length(flags, scores, "is_positive", "scores")
    if flags.all() or not flags.any():
        raise ValueError(
            "is_positive must contain both positive and negative examples to compute a ROC AUC"
        )
    return float(roc_auc_score(flags, scores))


def nearest_neighbours(vectors: Any, k: int = 5) -> np.ndarray:
    """For each row of ``vectors``, the indices of the ``k`` other rows most similar by cosine.

    Returns an (N, k) int array, nearest first; a row is never its own neighbour.
    """
    from sklearn.neighbors import NearestNeighbors

    k = check_positive_int(k, "k")
    vectors = as_float_array(np.asarray(vectors), "vectors").astype(np.float64)  # finite numbers
    if vectors.ndim != 2 or not 0 < k < len(vectors):
        raise ValueError(f"need (N, D) vectors with N > k = {k}, got {describe(vectors)}")
    search = NearestNeighbors(n_neighbors=k + 1, metric="cosine").fit(vectors)
    _, found = search.kneighbors(vectors)
    rows = np.arange(len(vectors))[:, None]
    # drop each row itself (usually first; not always when two rows point the same way)
    others = np.array([row[row != i][:k] for i, row in zip(rows[:, 0], found, strict=True)])
    return others


def neighbour_class_rate(vectors: Any, classes: Any, k: int = 5) -> tuple[float, float]:
    """How often a word's ``k`` nearest neighbours (cosine) share its class, and that rate by chance.

    ``vectors`` (N, D) and ``classes`` (N,) describe the same N words. The chance rate is
    what ``k`` neighbours drawn at random from the other words would score: for a word of
    a class with m members, (m − 1) / (N − 1), averaged over the words.
    """
    classes = np.asarray(classes)
    vectors = np.asarray(vectors)
    check_same_length(vectors, classes, "vectors", "classes")
    neighbours = nearest_neighbours(vectors, k)
    rate = float(np.mean(classes[neighbours] == classes[:, None]))
    _, inverse, sizes = np.unique(classes, return_inverse=True, return_counts=True)
    chance = float(np.mean((sizes[inverse] - 1) / (len(classes) - 1)))
    return rate, chance


def accuracy_by_group(
    labels: Any, predictions: Any, groups: Any, order: Sequence[str] | None = None
) -> dict[str, float]:
    """Accuracy within each group of examples (a sentence type, a class), keyed by group name.

    Groups come in ``order`` if given (each must occur), else sorted.
    """
    labels = as_label_array(labels, "labels")
    predicted = predicted_labels(predictions)
    groups = np.asarray(groups).astype(str)
    check_same_length(labels, predicted, "labels", "predictions")
    check_same_length(labels, groups, "labels", "groups")
    names = sorted(set(groups.tolist())) if order is None else [str(g) for g in order]
    missing = [name for name in names if not (groups == name).any()]
    if missing:
        raise ValueError(f"no examples in groups {missing}")
    return {
        name: float(np.mean(predicted[groups == name] == labels[groups == name])) for name in names
    }


# --- the tabular chapter: ranking the items a user has not rated --------------------------


def top_k_metrics(scores: Any, relevant: Any, seen: Any, k: int = 10) -> dict[str, float]:
    r"""Recall@k and NDCG@k of ranking every unseen item by ``scores``, averaged over users.

    ``scores`` (U, I): higher ranks first. ``relevant`` (U, I) bool: the held-out items the
    user liked. ``seen`` (U, I) bool: items rated in training, never recommended (they go
    last and are not relevant). Users with nothing relevant are left out. For a user with
    relevant set :math:`R` and top-k list :math:`T`,
    :math:`\text{recall@}k = |T \cap R| / \min(k, |R|)`; NDCG@k is scikit-learn's
    ``ndcg_score`` with binary gains: :math:`\sum_{j<k} [t_j \in R] / \log_2(j + 2)`,
    divided by its best possible value. Ties: recall takes the lower item index first,
    NDCG averages over the tied order (scikit-learn's convention).
    """
    from sklearn.metrics import ndcg_score

    k = check_positive_int(k, "k")
    scores = as_float_array(scores, "scores", ndim=2)
    relevant, seen = np.asarray(relevant), np.asarray(seen)
    for name, mask in (("relevant", relevant), ("seen", seen)):
        if mask.dtype != bool or mask.shape != scores.shape:
            raise ValueError(
                f"{name} must be a boolean array of the scores' shape {scores.shape}, "
                f"got {describe(mask)}"
            )
    if (relevant & seen).any():
        raise ValueError("an item cannot be both relevant (held out) and seen in training")
    keep = relevant.any(axis=1)
    if not keep.any():
        raise ValueError("no user has a relevant held-out item")
    masked = np.where(seen, scores.min() - 1.0, scores)[keep]  # (U', I)
    gains = relevant[keep].astype(np.float64)  # (U', I)
    top = np.argsort(-masked, axis=1, kind="stable")[:, :k]  # (U', k)
    hits = np.take_along_axis(gains, top, axis=1).sum(axis=1)  # (U',)
    recall = hits / np.minimum(k, gains.sum(axis=1))
    return {"recall": float(recall.mean()), "ndcg": float(ndcg_score(gains, masked, k=k))}
