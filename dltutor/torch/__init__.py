"""PyTorch twins of the scratch models, a model-agnostic training loop, and device selection.

Importing this module imports PyTorch; it never imports TensorFlow or Keras.
"""

from dltutor.torch.device import DEVICE_VARIABLE, get_device, set_seed
from dltutor.torch.interpret import saliency
from dltutor.torch.recurrent import (
    RecurrentNet,
    SequenceCrossEntropyLoss,
    recurrent_gradients,
    sample_text,
    set_recurrent_weights,
)
from dltutor.torch.models import (
    CNN,
    MLP,
    VAE,
    Autoencoder,
    ConvAutoencoder,
    VAELoss,
    get_weights,
    loss_and_gradients,
    set_weights,
)
from dltutor.torch.train import evaluate, fit, predict

__all__ = [
    "Autoencoder",
    "CNN",
    "ConvAutoencoder",
    "DEVICE_VARIABLE",
    "MLP",
    "RecurrentNet",
    "SequenceCrossEntropyLoss",
    "VAE",
    "VAELoss",
    "evaluate",
    "fit",
    "get_device",
    "get_weights",
    "loss_and_gradients",
    "predict",
    "recurrent_gradients",
    "saliency",
    "sample_text",
    "set_recurrent_weights",
    "set_seed",
    "set_weights",
]
