"""Tables from scratch: scaling, imputation with a missing-indicator, one-hot encoding,
feature selection, and a location fitted under a loss (mean, median, Huber).

Every transform learns its statistics in ``fit`` (on the training rows only) and applies
them in ``transform``: the same split of duties as scikit-learn's ``StandardScaler``,
``SimpleImputer(add_indicator=True)`` and ``OneHotEncoder(handle_unknown="ignore")``,
whose outputs the tests compare with these.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dltutor.checks import as_float_array, check_positive_int, check_same_length, describe
from dltutor.scratch.activations import Activation
from dltutor.scratch.layers import Embedding, Layer, Linear
from dltutor.scratch.losses import Loss
from dltutor.scratch.sequential import Sequential
from dltutor.scratch.training import BatchNorm, Dropout


def _table(x: object, name: str = "x", allow_nan: bool = False) -> np.ndarray:
    """``x`` as a 2-D float64 array (N, D); NaN allowed only where ``allow_nan``."""
    if not isinstance(x, (np.ndarray, list, tuple)):
        raise TypeError(f"{name} must be a 2-D NumPy array (N, D), got {describe(x)}")
    array = np.asarray(x)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"{name} must hold numbers, got {describe(array)}")
    array = array.astype(np.float64)
    if array.ndim != 2 or len(array) == 0:
        raise ValueError(f"{name} must be 2-D (N, D) with N > 0, got {describe(array)}")
    bad = np.isinf(array) if allow_nan else ~np.isfinite(array)
    if bad.any():
        what = "infinite" if allow_nan else "NaN or infinite"
        raise ValueError(f"{name} must not hold {what} entries, got {int(bad.sum())}")
    return array


class _Fitted:
    """Remembers the width it was fitted on, and refuses to transform before ``fit``."""

    width: int | None = None

    def _check_width(self, x: np.ndarray) -> None:
        if self.width is None:
            raise RuntimeError(f"{type(self).__name__}.transform called before fit")
        if x.shape[1] != self.width:
            raise ValueError(
                f"{type(self).__name__} was fitted on {self.width} columns, got {x.shape[1]}"
            )

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        return self.fit(x).transform(x)  # type: ignore[attr-defined]


class StandardScaler(_Fitted):
    r"""Standardise each column: :math:`z_{nj} = (x_{nj} - \mu_j) / \sigma_j`.

    :math:`\mu_j` and :math:`\sigma_j` (the population standard deviation, divided by N)
    come from the rows passed to ``fit``; a constant column gets :math:`\sigma_j = 1`.
    """

    def fit(self, x: np.ndarray) -> StandardScaler:
        x = _table(x)
        self.width = x.shape[1]
        self.mean = x.mean(axis=0)  # (D,)
        scale = x.std(axis=0)  # (D,)
        self.scale = np.where(scale > 0, scale, 1.0)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        x = _table(x)
        self._check_width(x)
        return (x - self.mean) / self.scale  # (N, D)


class MeanImputer(_Fitted):
    r"""Fill missing entries (NaN) with the training mean of their column, and append a
    missing-indicator :math:`m_{nj} = [x_{nj} \text{ is missing}]` for each column that had
    missing entries in ``fit``.

    Output: the D filled columns, then one 0/1 column per such column (N, D + M). The
    indicator lets a model learn from *whether* a value is missing, which matters when
    missingness depends on something else (self-employed applicants leave income blank).
    """

    def fit(self, x: np.ndarray) -> MeanImputer:
        x = _table(x, allow_nan=True)
        empty = np.isnan(x).all(axis=0)
        if empty.any():
            raise ValueError(
                f"columns {np.flatnonzero(empty).tolist()} have no observed value to average"
            )
        self.width = x.shape[1]
        self.mean = np.nanmean(x, axis=0)  # (D,)
        self.indicator_columns = np.flatnonzero(np.isnan(x).any(axis=0))  # (M,)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        x = _table(x, allow_nan=True)
        self._check_width(x)
        missing = np.isnan(x)
        filled = np.where(missing, self.mean, x)  # (N, D)
        indicators = missing[:, self.indicator_columns].astype(np.float64)  # (N, M)
        return np.concatenate([filled, indicators], axis=1)  # (N, D + M)


class OneHotEncoder(_Fitted):
    r"""One column per (column, category) seen in ``fit``: :math:`o_{n,(j,c)} = [x_{nj} = c]`.

    Categories are sorted per column; a category not seen in ``fit`` encodes as all zeros
    (scikit-learn's ``handle_unknown="ignore"``). Output (N, sum of category counts).
    """

    def fit(self, x: np.ndarray) -> OneHotEncoder:
        x = _table(x)
        self.width = x.shape[1]
        self.categories = [np.unique(column) for column in x.T]
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        x = _table(x)
        self._check_width(x)
        blocks = [
            (column[:, None] == categories[None, :]).astype(np.float64)  # (N, C_j)
            for column, categories in zip(x.T, self.categories, strict=True)
        ]
        return np.concatenate(blocks, axis=1)


def select_by_correlation(x: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    r"""The indices of the ``k`` columns of ``x`` (N, D) most correlated with ``y`` (N,),
    by :math:`|\mathrm{corr}(x_j, y)|`, strongest first.

    A statistic of the labels: fitted on rows that include the test rows, it leaks them.
    """
    x = _table(x)
    y = as_float_array(y, "y", ndim=1)
    check_same_length(x, y, "x", "y")
    k = check_positive_int(k, "k")
    if k > x.shape[1]:
        raise ValueError(f"k must be at most the {x.shape[1]} columns of x, got {k}")
    centred = x - x.mean(axis=0)  # (N, D)
    target = y - y.mean()  # (N,)
    norms = np.sqrt((centred**2).sum(axis=0) * (target**2).sum())  # (D,)
    correlation = np.abs(centred.T @ target) / np.where(norms > 0, norms, 1.0)  # (D,)
    return np.argsort(-correlation, kind="stable")[:k]


def fit_constant(loss: Loss, y: np.ndarray, steps: int = 2000, learning_rate: float = 1.0) -> float:
    r"""The constant :math:`c` that minimises ``loss`` of :math:`\hat y_n = c` against
    ``y`` (N,), by gradient descent from the first target with a step
    :math:`\eta_t = \eta / \sqrt{t + 1}`.

    Under MSE the minimiser is the mean; under MAE the median; under Huber with a
    threshold :math:`\delta` a value between, which ignores how far outliers lie.
    """
    y = as_float_array(y, "y", ndim=1)[:, None]  # (N, 1)
    steps = check_positive_int(steps, "steps")
    c = float(y[0, 0])
    for t in range(steps):
        loss.forward(np.full_like(y, c), y)
        c -= learning_rate / np.sqrt(t + 1) * float(loss.backward().sum())
    return c


# --- the competitors: scikit-learn pipelines, tuned on validation data --------------------


def preprocessor(
    numeric_columns: list[int], category_columns: list[int], categories: str = "onehot"
) -> object:
    """A scikit-learn ``ColumnTransformer`` fitted like the transforms above.

    Numeric columns: mean imputation with a missing-indicator, then standardisation.
    Categorical columns (integer codes): ``"onehot"`` encodes them (unknown codes → zeros);
    ``"codes"`` passes them through unchanged, last, for a model that embeds them or, like
    ``HistGradientBoostingClassifier(categorical_features=...)``, splits on them natively.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder as SklearnOneHot
    from sklearn.preprocessing import StandardScaler as SklearnScaler

    if categories not in ("onehot", "codes"):
        raise ValueError(f"categories must be 'onehot' or 'codes', got {categories!r}")
    numeric = make_pipeline(SimpleImputer(add_indicator=True), SklearnScaler())
    encode = (
        SklearnOneHot(handle_unknown="ignore", sparse_output=False)
        if categories == "onehot"
        else "passthrough"
    )
    parts = [("numeric", numeric, list(numeric_columns))]
    if category_columns:
        parts.append(("categories", encode, list(category_columns)))
    return ColumnTransformer(parts)


def tune_and_test(candidates: list[Any], split: Any) -> dict[str, float]:
    """Fit every candidate on the training rows, keep the one with the best validation
    accuracy, and report its test accuracy.

    ``candidates``: fresh, unfitted estimators with ``fit`` and ``predict`` (scikit-learn
    pipelines; an estimator, or a pipeline's last step, with ``uses_validation = True``
    also gets ``validation_data=(x_val, y_val)``, transformed by the pipeline's steps
    fitted on the training rows, for early stopping). ``split``: a
    :class:`dltutor.data.tabular.DataSplit`. The test rows are touched once, by the chosen
    candidate. Returns ``{"validation": ..., "test": ..., "chosen": index}``.
    """
    if not candidates:
        raise ValueError("candidates must hold at least one estimator")
    best, best_score, chosen = None, -1.0, 0
    for index, candidate in enumerate(candidates):
        predictor = _fit_candidate(candidate, split)
        score = float(np.mean(predictor(split.x_val) == split.y_val))
        if score > best_score:
            best, best_score, chosen = predictor, score, index
    assert best is not None
    test = float(np.mean(best(split.x_test) == split.y_test))
    return {"validation": best_score, "test": test, "chosen": float(chosen)}


def _fit_candidate(candidate: Any, split: Any) -> Callable[[np.ndarray], np.ndarray]:
    """Fit ``candidate`` on the training rows; return its ``predict``."""
    last = candidate[-1] if hasattr(candidate, "steps") else candidate
    if not getattr(last, "uses_validation", False):
        candidate.fit(split.x_train, split.y_train)
        return candidate.predict
    # transforms fitted on the training rows, then applied to the validation rows
    head = candidate[:-1].fit(split.x_train) if last is not candidate else None

    def transform(x: np.ndarray) -> np.ndarray:
        return x if head is None else head.transform(x)

    last.fit(
        transform(split.x_train),
        split.y_train,
        validation_data=(transform(split.x_val), split.y_val),
    )
    return lambda x: last.predict(transform(x))


# --- the MLP for tables, described once for the PyTorch and Keras twins ------------------


@dataclass(frozen=True)
class TabularSpec:
    """The MLP for tables that ``dltutor.torch.tabular.TabularMLP`` and
    ``dltutor.keras.tabular.TabularMLP`` build: ``num_numeric`` numeric columns, then one
    column of integer codes per entry of ``category_sizes``, each embedded in
    ``embedding_dim`` dimensions; ``hidden`` ReLU layers, each followed by batch
    normalisation if ``batch_norm`` and dropout if ``dropout`` > 0; ``outputs`` logits.
    """

    num_numeric: int
    category_sizes: tuple[int, ...] = ()
    embedding_dim: int = 4  # Guo and Berkhahn used 1 to 10 for their columns
    hidden: tuple[int, ...] = (64, 64)  # two layers: enough for tables of this size
    outputs: int = 2
    batch_norm: bool = False
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.num_numeric, bool) or not isinstance(self.num_numeric, int):
            raise TypeError(f"num_numeric must be an integer, got {describe(self.num_numeric)}")
        if self.num_numeric < 0:
            raise ValueError(f"num_numeric must be ≥ 0, got {self.num_numeric}")
        sizes = tuple(check_positive_int(size, "category size") for size in self.category_sizes)
        object.__setattr__(self, "category_sizes", sizes)
        hidden = tuple(check_positive_int(size, "hidden size") for size in self.hidden)
        object.__setattr__(self, "hidden", hidden)
        check_positive_int(self.embedding_dim, "embedding_dim")
        check_positive_int(self.outputs, "outputs")
        if self.num_numeric + len(sizes) == 0:
            raise ValueError("the model needs at least one numeric or categorical column")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout!r}")

    @property
    def input_width(self) -> int:
        """Columns of the input: numeric, then one code per categorical column."""
        return self.num_numeric + len(self.category_sizes)

    @property
    def joined_width(self) -> int:
        """Width of the numeric columns and the embeddings side by side."""
        return self.num_numeric + self.embedding_dim * len(self.category_sizes)


def tabular_spec(
    num_numeric: int,
    category_sizes: Sequence[int] = (),
    embedding_dim: int = 4,
    hidden: Sequence[int] = (64, 64),
    outputs: int = 2,
    batch_norm: bool = False,
    dropout: float = 0.0,
) -> TabularSpec:
    """A :class:`TabularSpec` from any sequences (the twins' constructors call this)."""
    return TabularSpec(
        num_numeric,
        tuple(category_sizes),
        embedding_dim,
        tuple(hidden),
        outputs,
        batch_norm,
        dropout,
    )


CODE_TOLERANCE = 1e-3  # how far from a whole number a category code may lie


def category_codes(codes: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
    """The (N, C) category-code columns of a table as int64, checked: column j must hold
    whole numbers in ``[0, sizes[j])`` (up to ``CODE_TOLERANCE`` of float noise, such as a
    finite-difference step, which is rounded away). The scratch, PyTorch and Keras
    ``TabularMLP`` all refuse a fractional or out-of-range code with this ValueError."""
    codes = np.asarray(codes, dtype=np.float64)
    sizes_array = np.asarray(sizes, dtype=np.float64)
    if codes.ndim != 2 or codes.shape[1] != len(sizes_array):
        raise ValueError(f"codes must be (N, {len(sizes_array)}), got {describe(codes)}")
    if (np.abs(codes - np.round(codes)) > CODE_TOLERANCE).any():
        raise ValueError("category codes must be whole numbers, got a fractional code")
    codes = np.round(codes)
    if (codes < 0).any() or (codes >= sizes_array).any():
        raise ValueError(f"category codes must lie in [0, size) for sizes {tuple(sizes)}")
    return codes.astype(np.int64)


class TabularMLP(Layer):
    r"""The MLP for tables from scratch, twin of the PyTorch and Keras ``TabularMLP``.

    Input (N, num_numeric + C): numeric columns, then C columns of category codes (as
    floats, as a table holds them). Column j's code :math:`c` is looked up in its table,
    :math:`e_j = E^{(j)}_{c}`, and the network computes
    :math:`h^{(0)} = [x_{\text{numeric}}, e_1, \dots, e_C]`,
    :math:`h^{(l)} = \mathrm{ReLU}(h^{(l-1)} W^{(l)} + b^{(l)})` (then batch normalisation
    and dropout if asked), logits :math:`h^{(L)} W + b`, (N, outputs). Backward returns
    :math:`\partial L/\partial x` for the numeric columns and zeros for the codes, and
    scatters each embedding's gradient onto the rows it read.
    """

    def __init__(
        self,
        num_numeric: int,
        category_sizes: Sequence[int] = (),
        embedding_dim: int = 4,
        hidden: Sequence[int] = (64, 64),
        outputs: int = 2,
        batch_norm: bool = False,
        dropout: float = 0.0,
        *,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.spec = spec = tabular_spec(
            num_numeric, category_sizes, embedding_dim, hidden, outputs, batch_norm, dropout
        )
        rng = np.random.default_rng(rng)
        self.embeddings = [
            self.add_layer(f"embedding{j}", Embedding(size, spec.embedding_dim, rng=rng))
            for j, size in enumerate(spec.category_sizes)
        ]
        layers: list[Layer] = []
        width = spec.joined_width
        for size in spec.hidden:
            layers += [Linear(width, size, rng=rng), Activation("relu")]
            if spec.batch_norm:
                layers.append(BatchNorm(size))
            if spec.dropout > 0:
                layers.append(Dropout(spec.dropout, rng=rng))
            width = size
        layers.append(Linear(width, spec.outputs, rng=rng))
        self.body = self.add_layer("body", Sequential(layers))
        self._width: int | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _table(x)
        if x.shape[1] != self.spec.input_width:
            raise ValueError(f"x must be (N, {self.spec.input_width}), got {describe(x)}")
        numeric = x[:, : self.spec.num_numeric]  # (N, num_numeric)
        codes = category_codes(x[:, self.spec.num_numeric :], self.spec.category_sizes)
        vectors = [table.forward(codes[:, j]) for j, table in enumerate(self.embeddings)]
        self._width = x.shape[1]
        return self.body.forward(np.concatenate([numeric, *vectors], axis=1))  # (N, outputs)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._width is None:
            raise RuntimeError("TabularMLP.backward called before forward")
        grad_joined = self.body.backward(grad_output)  # (N, joined_width)
        n, e = self.spec.num_numeric, self.spec.embedding_dim
        for j, table in enumerate(self.embeddings):
            table.backward(grad_joined[:, n + j * e : n + (j + 1) * e])  # (N, e)
        grad_x = np.zeros((len(grad_joined), self._width))
        grad_x[:, :n] = grad_joined[:, :n]  # codes have no gradient
        return grad_x
