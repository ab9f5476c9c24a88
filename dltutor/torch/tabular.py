"""An MLP for tables in PyTorch: numeric columns in, categorical columns through learned
embeddings (Guo and Berkhahn, 2016), batch normalisation optional, early stopping on
validation data — and a scikit-learn-style wrapper so it can be tuned like a tree ensemble.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from dltutor.checks import describe
from dltutor.scratch.tabular import (
    CODE_TOLERANCE,
    _fit_candidate,
    category_codes,
    tabular_spec,
)
from dltutor.torch.device import get_device, set_seed
from dltutor.torch.train import fit, predict


class TabularMLP(nn.Module):
    r"""An MLP over ``num_numeric`` numeric columns and one embedding per categorical column.

    Input (N, num_numeric + C) floats: the numeric columns (already imputed and scaled),
    then C columns of integer category codes, column j in ``[0, category_sizes[j])``.
    Each code becomes a learned vector :math:`E^{(j)}_{c} \in \mathbb{R}^{e}` (an *entity
    embedding*); these are concatenated with the numeric columns and fed through
    ``hidden`` ReLU layers (each optionally followed by batch normalisation and dropout)
    to ``outputs`` logits, (N, outputs).
    """

    _sizes: torch.Tensor  # (C,) the category sizes, on the model's device

    def __init__(
        self,
        num_numeric: int,
        category_sizes: Sequence[int] = (),
        embedding_dim: int = 4,
        hidden: Sequence[int] = (64, 64),
        outputs: int = 2,
        batch_norm: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.spec = tabular_spec(
            num_numeric, category_sizes, embedding_dim, hidden, outputs, batch_norm, dropout
        )
        self.num_numeric = self.spec.num_numeric
        self.embeddings = nn.ModuleList(
            nn.Embedding(size, self.spec.embedding_dim) for size in self.spec.category_sizes
        )
        width, layers = self.spec.joined_width, []
        for size in self.spec.hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            if batch_norm:
                layers.append(nn.BatchNorm1d(size))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, self.spec.outputs))
        self.layers = nn.Sequential(*layers)
        self.register_buffer(
            "_sizes", torch.tensor(self.spec.category_sizes, dtype=torch.float32), persistent=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        expected = self.spec.input_width
        if x.ndim != 2 or x.shape[1] != expected:
            raise ValueError(f"x must be (N, {expected}), got shape {tuple(x.shape)}")
        numeric = x[:, : self.num_numeric]  # (N, num_numeric)
        codes = x[:, self.num_numeric :]  # (N, C), whole numbers in [0, size)
        whole = codes.round()
        if codes.shape[1] and (
            ((codes - whole).abs() > CODE_TOLERANCE).any()
            or (whole < 0).any()
            or (whole >= self._sizes).any()
        ):
            category_codes(codes.detach().cpu().numpy(), self.spec.category_sizes)  # raises
        codes = whole.long()
        vectors = [table(codes[:, j]) for j, table in enumerate(self.embeddings)]  # C × (N, e)
        return self.layers(torch.cat([numeric, *vectors], dim=1))  # (N, outputs)


class TabularClassifier:
    """:class:`TabularMLP` with ``fit(x, y, validation_data)`` and ``predict(x)``: Adam,
    cross-entropy, at most ``epochs`` epochs, stopped ``patience`` epochs after the best
    validation loss and rolled back to it. ``x`` as for :class:`TabularMLP`;
    ``num_numeric=None`` takes every column but the last ``len(category_sizes)`` as
    numeric (their number is known only once a pipeline has added its indicators)."""

    uses_validation = True

    def __init__(
        self,
        num_numeric: int | None,
        category_sizes: Sequence[int] = (),
        *,
        embedding_dim: int = 4,
        hidden: Sequence[int] = (64, 64),
        batch_norm: bool = False,
        dropout: float = 0.0,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        epochs: int = 100,
        batch_size: int = 64,
        patience: int = 8,
        seed: int = 0,
        device: torch.device | None = None,
    ) -> None:
        self.arguments = dict(
            num_numeric=num_numeric,
            category_sizes=tuple(category_sizes),
            embedding_dim=embedding_dim,
            hidden=tuple(hidden),
            batch_norm=batch_norm,
            dropout=dropout,
        )
        self.learning_rate, self.weight_decay = learning_rate, weight_decay
        self.epochs, self.batch_size, self.patience = epochs, batch_size, patience
        self.seed = seed
        self.device = get_device() if device is None else device
        self.model: TabularMLP | None = None
        self.history: dict[str, list[float]] = {}

    def fit(
        self, x: np.ndarray, y: np.ndarray, validation_data: tuple[np.ndarray, np.ndarray]
    ) -> TabularClassifier:
        labels = np.asarray(y)
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise ValueError(f"y must be (N,) integer class labels, got {describe(labels)}")
        return self._train(
            x,
            labels,
            validation_data[0],
            validation_data[1],
            int(labels.max()) + 1,
            nn.CrossEntropyLoss(),
        )

    def _train(
        self,
        x: np.ndarray,
        targets: np.ndarray,
        x_val: np.ndarray,
        targets_val: np.ndarray,
        outputs: int,
        loss: nn.Module,
    ) -> TabularClassifier:
        """Build a fresh :class:`TabularMLP` with ``outputs`` outputs and train it under
        ``loss`` with Adam, stopping early on the validation loss."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] <= len(self.arguments["category_sizes"]):  # type: ignore[arg-type]
            raise ValueError(
                f"x must be (N, numeric + {len(self.arguments['category_sizes'])} codes), "  # type: ignore[arg-type]
                f"got {describe(x)}"
            )
        arguments = dict(self.arguments)
        if arguments["num_numeric"] is None:
            arguments["num_numeric"] = x.shape[1] - len(arguments["category_sizes"])  # type: ignore[arg-type]
        set_seed(self.seed)
        self.model = TabularMLP(**arguments, outputs=outputs)  # type: ignore[arg-type]
        optimizer = torch.optim.Adam(
            self.model.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        self.history = fit(
            self.model,
            loss,
            optimizer,
            x,
            targets,
            epochs=self.epochs,
            batch_size=self.batch_size,
            seed=self.seed,
            validation_data=(np.asarray(x_val, dtype=np.float32), targets_val),
            device=self.device,
            patience=self.patience,
        )
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("TabularClassifier.predict called before fit")
        logits = predict(self.model, np.asarray(x, dtype=np.float32), device=self.device)
        return torch.softmax(torch.as_tensor(logits), dim=1).numpy()  # (N, K)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_proba(x).argmax(axis=1)


class TabularRegressor(TabularClassifier):
    r""":class:`TabularClassifier`'s MLP with one output, trained under MSE on standardised
    targets: :math:`z_n = (y_n - \bar y) / s_y`, with :math:`\bar y` and :math:`s_y`
    from the training targets only, and :math:`\hat y_n = \bar y + s_y\, f(x_n)`.
    ``fit(x, y, validation_data)`` takes (N,) real targets; ``predict(x)`` returns (N,)."""

    target_mean: float = 0.0
    target_scale: float = 1.0

    def fit(
        self, x: np.ndarray, y: np.ndarray, validation_data: tuple[np.ndarray, np.ndarray]
    ) -> TabularRegressor:
        targets = np.asarray(y)
        if targets.ndim != 1 or targets.dtype.kind not in "iuf" or not np.isfinite(targets).all():
            raise ValueError(f"y must be (N,) finite real targets, got {describe(targets)}")
        self.target_mean = float(targets.mean())
        self.target_scale = float(targets.std()) or 1.0

        def standardise(values: np.ndarray) -> np.ndarray:  # (N,) -> (N, 1)
            z = (np.asarray(values, dtype=np.float64) - self.target_mean) / self.target_scale
            return z.astype(np.float32)[:, None]

        self._train(
            x,
            standardise(targets),
            validation_data[0],
            standardise(validation_data[1]),
            1,
            nn.MSELoss(),
        )
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        raise AttributeError("TabularRegressor has no predict_proba: it predicts numbers")

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("TabularRegressor.predict called before fit")
        z = predict(self.model, np.asarray(x, dtype=np.float32), device=self.device)
        return self.target_mean + self.target_scale * np.asarray(z, dtype=np.float64)[:, 0]


def tune_and_test_r2(candidates: list[Any], split: Any) -> dict[str, float]:
    r""":func:`dltutor.scratch.tabular.tune_and_test` for regression: every candidate is
    fitted on the training rows the same way, the one with the best validation
    :math:`R^2 = 1 - \sum_n (y_n - \hat y_n)^2 / \sum_n (y_n - \bar y)^2` is kept, and
    its test :math:`R^2` and RMSE :math:`\sqrt{\frac1N \sum_n (y_n - \hat y_n)^2}` are
    reported. Returns ``{"validation": ..., "test": ..., "rmse": ..., "chosen": index}``.
    """
    from sklearn.metrics import r2_score, root_mean_squared_error

    if not candidates:
        raise ValueError("candidates must hold at least one estimator")
    best, best_score, chosen = None, -np.inf, 0
    for index, candidate in enumerate(candidates):
        predictor = _fit_candidate(candidate, split)
        score = float(r2_score(split.y_val, predictor(split.x_val)))
        if score > best_score:
            best, best_score, chosen = predictor, score, index
    assert best is not None
    predicted = best(split.x_test)
    return {
        "validation": best_score,
        "test": float(r2_score(split.y_test, predicted)),
        "rmse": float(root_mean_squared_error(split.y_test, predicted)),
        "chosen": float(chosen),
    }
