"""PyTorch twins of the scratch models, their weight layout, a training loop, device selection.

Importing this module imports PyTorch; it never imports TensorFlow or Keras. Modules by
concept: ``dense``, ``convolutional``, ``recurrent``, ``generative``, ``attention`` (the models),
``build`` (layer specs to modules), ``layout`` (every scratch↔PyTorch weight conversion),
``train``, ``generate``, ``device``, ``interpret``.
"""

from dltutor.torch.attention import Transformer, attention_maps
from dltutor.torch.convolutional import CNN
from dltutor.torch.dense import MLP
from dltutor.torch.device import DEVICE_VARIABLE, get_device, set_seed
from dltutor.torch.generate import sample_text
from dltutor.torch.generative import VAE, Autoencoder, ConvAutoencoder, VAELoss
from dltutor.torch.interpret import input_gradients, saliency
from dltutor.torch.layout import get_weights, gradients, loss_and_gradients, set_weights
from dltutor.torch.recurrent import RecurrentNet, SequenceCrossEntropyLoss
from dltutor.torch.text import BagOfEmbeddings, SkipGram, SkipGramLoss, TextCNN
from dltutor.torch.train import evaluate, fit, predict
from dltutor.torch.training import integrated_gradients

__all__ = [
    "input_gradients",
    "integrated_gradients",
    "BagOfEmbeddings",
    "SkipGram",
    "SkipGramLoss",
    "TextCNN",
    "CNN",
    "DEVICE_VARIABLE",
    "MLP",
    "VAE",
    "Autoencoder",
    "ConvAutoencoder",
    "RecurrentNet",
    "SequenceCrossEntropyLoss",
    "Transformer",
    "attention_maps",
    "VAELoss",
    "evaluate",
    "fit",
    "get_device",
    "get_weights",
    "gradients",
    "loss_and_gradients",
    "predict",
    "saliency",
    "sample_text",
    "set_seed",
    "set_weights",
]
