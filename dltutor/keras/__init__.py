"""Keras 3 (TensorFlow backend) twins of the scratch models, their weight layout, training helpers.

Importing it (or plain ``import dltutor``) before TensorFlow silences TensorFlow's C++ and
Python log lines and selects the TensorFlow backend, so notebooks need no boilerplate:
the environment defaults are set in ``dltutor/__init__.py``, which Python runs before
this module. Import ``dltutor`` before ``tensorflow`` or ``keras``. It never imports
PyTorch. Modules by concept: ``dense``, ``convolutional``, ``recurrent``, ``generative``,
``attention`` (the models), ``build`` (layer specs to layers), ``layout`` (every scratch↔Keras weight
conversion), ``generate``, ``device``, ``interpret``.
"""

from dltutor.keras.attention import Transformer, attention_maps
from dltutor.keras.convolutional import CNN
from dltutor.keras.dense import MLP
from dltutor.keras.device import DEVICE_VARIABLE, get_device, set_seed
from dltutor.keras.generate import sample_text
from dltutor.keras.generative import VAE, Autoencoder, ConvAutoencoder, VAELoss
from dltutor.keras.interpret import input_gradients, saliency
from dltutor.keras.layout import get_weights, loss_and_gradients, set_weights
from dltutor.keras.recurrent import RecurrentNet
from dltutor.keras.text import BagOfEmbeddings, SkipGram, TextCNN, skipgram_loss
from dltutor.keras.training import integrated_gradients

__all__ = [
    "input_gradients",
    "integrated_gradients",
    "BagOfEmbeddings",
    "SkipGram",
    "TextCNN",
    "skipgram_loss",
    "CNN",
    "DEVICE_VARIABLE",
    "MLP",
    "VAE",
    "Autoencoder",
    "ConvAutoencoder",
    "RecurrentNet",
    "Transformer",
    "attention_maps",
    "VAELoss",
    "get_device",
    "get_weights",
    "loss_and_gradients",
    "saliency",
    "sample_text",
    "set_seed",
    "set_weights",
]
