"""An MLP for tables in PyTorch: numeric columns in, categorical columns through learned
embeddings (Guo and Berkhahn, 2016), batch normalisation optional, early stopping on
validation data — and a scikit-learn-style wrapper so it can be tuned like a tree ensemble.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from dltutor.checks import describe
from dltutor.scratch.tabular import CODE_TOLERANCE, category_codes, tabular_spec
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
        self.model = TabularMLP(**arguments, outputs=int(labels.max()) + 1)  # type: ignore[arg-type]
        optimizer = torch.optim.Adam(
            self.model.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        self.history = fit(
            self.model,
            nn.CrossEntropyLoss(),
            optimizer,
            x,
            labels,
            epochs=self.epochs,
            batch_size=self.batch_size,
            seed=self.seed,
            validation_data=(np.asarray(validation_data[0], dtype=np.float32), validation_data[1]),
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
