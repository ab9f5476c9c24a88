"""Keras 3 (TensorFlow backend) twins of the scratch models, and training helpers.

Importing it (or plain ``import dltutor``) before TensorFlow silences TensorFlow's C++ and
Python log lines and selects the TensorFlow backend, so notebooks need no boilerplate:
the environment defaults are set in ``dltutor/__init__.py``, which Python runs before
this module. Import ``dltutor`` before ``tensorflow`` or ``keras``. It never imports PyTorch.
"""

from dltutor.keras.device import get_device, set_seed
from dltutor.keras.interpret import saliency
from dltutor.keras.recurrent import RecurrentNet, sample_text, set_recurrent_weights
from dltutor.keras.models import CNN, MLP, VAE, Autoencoder, ConvAutoencoder, loss_and_gradients

__all__ = ["Autoencoder", "CNN", "ConvAutoencoder", "MLP", "RecurrentNet", "VAE", "get_device", "loss_and_gradients", "saliency", "sample_text", "set_recurrent_weights", "set_seed"]
