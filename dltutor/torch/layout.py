r"""Every conversion between the scratch weight layout and PyTorch's, and nothing else.

:meth:`dltutor.scratch.Layer.get_weights` lists a model's arrays layer by layer, in the
order the layers run. A PyTorch twin registers the same layers in the same order, so
walking its modules and converting each one's parameters gives the same list:

=======================  ===========================================  ============================
PyTorch module           PyTorch parameters                           scratch arrays
=======================  ===========================================  ============================
``nn.Linear``            ``weight`` (d_out, d_in), ``bias``           ``W`` = weight\ :sup:`T`, ``b``
``nn.Conv1d``            ``weight`` (C_out, C_in, k), ``bias``         the same
``nn.Conv2d``            ``weight`` (C_out, C_in, k, k), ``bias``      the same
``nn.ConvTranspose2d``   ``weight`` (C_in, C_out, k, k), ``bias``      the same
``nn.Embedding``         ``weight`` (V, D)                             the same
``nn.EmbeddingBag``      ``weight`` (V, D)                             the same
``nn.RNN``, ``nn.LSTM``  ``weight_ih`` (G·H, D), ``weight_hh``,        ``W_x`` = weight_ih\ :sup:`T`,
                         ``bias_ih``, ``bias_hh``                      ``W_h``, ``b`` = bias_ih + bias_hh
``nn.GRU``               the same, gate blocks r, z, n                 blocks z, r, n; ``b``, ``b_h`` apart
``nn.MultiheadAttention`` ``in_proj_weight`` (3E, E): q; k; v rows,    ``W_q, W_k, W_v`` = blocks\ :sup:`T`,
                         ``in_proj_bias`` (3E,)                        ``b_q, b_k, b_v``
``nn.LayerNorm``         ``weight``, ``bias``                          ``gamma``, ``beta``
=======================  ===========================================  ============================

RNN and LSTM only ever add their two biases, so scratch keeps the sum (loaded into
``bias_ih``, with ``bias_hh`` zero). A GRU's recurrent bias of the candidate sits inside
the reset gate, so the two differ and scratch keeps both. A module with parameters that
is not in the table raises ``TypeError``: a weight is never skipped silently.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from dltutor.checks import describe, split_weights
from dltutor.torch.train import as_inputs, as_targets

_RECURRENT = (nn.RNN, nn.LSTM, nn.GRU)
_MAPPED = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.ConvTranspose2d,
    nn.Embedding,
    nn.EmbeddingBag,
    nn.MultiheadAttention,
    nn.LayerNorm,
    *_RECURRENT,
)
_RECURRENT_NAMES = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


def _gru_blocks(array: np.ndarray) -> np.ndarray:
    """Swap the first two gate blocks along axis 0: (z, r, n) ↔ (r, z, n); its own inverse."""
    z, r, n = np.split(array, 3, axis=0)
    return np.concatenate([r, z, n], axis=0)


def _check_mappable(module: nn.Module) -> None:
    if isinstance(module, nn.MultiheadAttention):
        if (
            not module._qkv_same_embed_dim
            or module.in_proj_bias is None
            or module.bias_k is not None
        ):
            raise ValueError(
                f"only self-attention with biases and no bias_kv maps onto the scratch layer, got {module}"
            )
        return
    if not isinstance(module, _RECURRENT):
        return
    if module.num_layers != 1 or module.bidirectional or not module.bias:
        raise ValueError(
            "only single-layer, unidirectional recurrent modules with biases map onto the "
            f"scratch layers, got {module}"
        )
    if isinstance(module, nn.RNN) and module.nonlinearity != "tanh":
        raise ValueError(f"the scratch RNN uses tanh, got nonlinearity={module.nonlinearity!r}")


def _mapped_modules(model: nn.Module) -> list[nn.Module]:
    """The modules of ``model`` that own parameters, in order; TypeError for one not in the table."""
    found: list[nn.Module] = []
    for name, module in model.named_modules():
        if not list(module.parameters(recurse=False)):
            continue
        if not isinstance(module, _MAPPED):
            raise TypeError(
                f"cannot map {type(module).__name__} (module {name!r}) onto the scratch layout: "
                f"supported modules are {', '.join(m.__name__ for m in _MAPPED)}"
            )
        _check_mappable(module)
        found.append(module)
    return found


def _torch_names(module: nn.Module) -> tuple[str, ...]:
    if isinstance(module, _RECURRENT):
        return _RECURRENT_NAMES
    if isinstance(module, nn.MultiheadAttention):
        return ("in_proj_weight", "in_proj_bias")
    return (
        ("weight",) if isinstance(module, (nn.Embedding, nn.EmbeddingBag)) else ("weight", "bias")
    )


def _to_scratch(module: nn.Module, arrays: list[np.ndarray], gradients: bool) -> list[np.ndarray]:
    """One module's parameters (or their gradients), in PyTorch's layout, as scratch arrays."""
    if isinstance(module, nn.Linear):
        return [arrays[0].T, arrays[1]]
    if isinstance(module, nn.MultiheadAttention):
        weight, bias = arrays  # q; k; v stacked along the rows
        return [block.T for block in np.split(weight, 3)] + np.split(bias, 3)
    if not isinstance(module, _RECURRENT):
        return arrays
    if isinstance(module, nn.GRU):
        W_x, W_h, b, b_h = (_gru_blocks(a) for a in arrays)
        return [W_x.T, W_h.T, b, b_h]
    W_x, W_h, b_ih, b_hh = arrays
    # b = b_ih + b_hh, so dL/db = dL/db_ih (= dL/db_hh)
    return [W_x.T, W_h.T, b_ih if gradients else b_ih + b_hh]


def _from_scratch(module: nn.Module, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """One module's scratch arrays in PyTorch's layout."""
    if isinstance(module, nn.Linear):
        return [arrays[0].T, arrays[1]]
    if isinstance(module, nn.MultiheadAttention):
        W_q, W_k, W_v, b_q, b_k, b_v = arrays
        return [np.concatenate([W_q.T, W_k.T, W_v.T]), np.concatenate([b_q, b_k, b_v])]
    if not isinstance(module, _RECURRENT):
        return arrays
    if isinstance(module, nn.GRU):
        W_x, W_h, b, b_h = arrays
        return [_gru_blocks(a) for a in (W_x.T, W_h.T, b, b_h)]
    W_x, W_h, b = arrays
    return [W_x.T, W_h.T, b, np.zeros_like(b)]


def _scratch_count(module: nn.Module) -> int:
    if isinstance(module, nn.MultiheadAttention):
        return 6  # W_q, W_k, W_v, b_q, b_k, b_v
    if isinstance(module, _RECURRENT):
        return 4 if isinstance(module, nn.GRU) else 3
    return len(_torch_names(module))


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().copy()


def get_weights(model: nn.Module) -> list[np.ndarray]:
    """The weights of ``model`` as NumPy arrays in the scratch layout (see the table above)."""
    weights: list[np.ndarray] = []
    for module in _mapped_modules(model):
        arrays = [_numpy(getattr(module, name)) for name in _torch_names(module)]
        weights += _to_scratch(module, arrays, gradients=False)
    return weights


def set_weights(model: nn.Module, weights: Sequence[np.ndarray]) -> None:
    """Overwrite every parameter of ``model`` from ``weights`` in the scratch layout.

    ``weights`` is what :meth:`dltutor.scratch.Layer.get_weights` returns for the scratch
    twin. Raises ``ValueError`` for a wrong count or shape, ``TypeError`` for a module that
    has no scratch counterpart.
    """
    modules = _mapped_modules(model)
    groups = split_weights(weights, [_scratch_count(module) for module in modules])
    with torch.no_grad():
        for module, (start, arrays) in zip(modules, groups, strict=True):
            for name, value in zip(
                _torch_names(module), _from_scratch(module, arrays), strict=True
            ):
                parameter = getattr(module, name)
                if tuple(value.shape) != tuple(parameter.shape):
                    raise ValueError(
                        f"weights[{start}:{start + len(arrays)}] do not fit {module}: its {name} "
                        f"needs shape {tuple(parameter.shape)} in PyTorch's layout, got {describe(value)}"
                    )
                parameter.copy_(torch.from_numpy(np.ascontiguousarray(value)))


def gradients(model: nn.Module) -> list[np.ndarray]:
    """The gradients of the last ``backward``, in the scratch layout of :func:`get_weights`."""
    grads: list[np.ndarray] = []
    for module in _mapped_modules(model):
        arrays = []
        for name in _torch_names(module):
            grad = getattr(module, name).grad
            if grad is None:
                raise RuntimeError(f"{module} has no gradient for {name}: call backward first")
            arrays.append(_numpy(grad))
        grads += _to_scratch(module, arrays, gradients=True)
    return grads


def loss_and_gradients(
    model: nn.Module, loss_fn: nn.Module, x: np.ndarray, y: np.ndarray
) -> tuple[float, list[np.ndarray]]:
    """The loss on ``x, y`` and its gradients by autograd, in the scratch layout.

    The result compares entry by entry with :meth:`dltutor.scratch.Layer.gradients` after
    the scratch twin's backward on the same batch. Integer ``x`` (token ids) stays integer;
    targets are int64 for a cross-entropy loss and the model's dtype otherwise.
    """
    device = next(model.parameters()).device
    inputs = as_inputs(model, x).to(device)
    targets = as_targets(model, loss_fn, y).to(device)
    model.zero_grad()
    loss = loss_fn(model(inputs), targets)
    loss.backward()
    return float(loss.item()), gradients(model)
