"""Looking inside a trained model: which input pixels move its decision."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dltutor.checks import as_float_array, as_label_array, check_same_length


def saliency(model: nn.Module, x: np.ndarray, classes: np.ndarray | None = None) -> np.ndarray:
    r"""Saliency map :math:`|\partial s_c / \partial x|`: how much each input value moves the score of class c.

    ``s_c`` is the model's output (logit) for class ``classes[n]`` of example ``n``, by default
    the predicted class. Returns an array of ``x``'s shape (Simonyan et al., 2014).
    """
    return np.abs(input_gradients(model, x, classes))


def input_gradients(
    model: nn.Module, x: np.ndarray, classes: np.ndarray | None = None
) -> np.ndarray:
    r""":math:`\partial s_c / \partial x` with its sign: the gradient of class ``classes[n]``'s score
    (by default the predicted class) with respect to input ``n``, by autograd."""
    parameter = next(model.parameters())
    x = as_float_array(x, "x")
    inputs = torch.tensor(x, dtype=parameter.dtype, device=parameter.device, requires_grad=True)
    model.eval()
    scores = model(inputs)  # (N, classes)
    if classes is None:
        chosen = scores.argmax(dim=1)
    else:
        labels = as_label_array(classes, "classes", num_classes=scores.shape[1])
        check_same_length(labels, x, "classes", "x")
        chosen = torch.as_tensor(labels, device=parameter.device)
    scores.gather(1, chosen[:, None]).sum().backward()  # examples are independent: one backward
    assert inputs.grad is not None
    return inputs.grad.cpu().numpy()
