"""NumPy reference implementations: the equations made code, forward and backward together.

Nothing here imports a deep-learning framework. The same concepts carry the same names
and arguments in :mod:`dltutor.torch` and :mod:`dltutor.keras`.
"""

from dltutor.scratch.activations import (
    Activation,
    identity,
    identity_derivative,
    relu,
    relu_derivative,
    sigmoid,
    sigmoid_derivative,
    tanh,
    tanh_derivative,
)
from dltutor.scratch.conv import (
    Conv2D,
    conv2d,
    conv2d_backward,
    conv2d_backward_loops,
    conv2d_loops,
    output_size,
)
from dltutor.scratch.gradcheck import check_layer, check_loss, numerical_gradient, relative_error
from dltutor.scratch.layers import Layer, Linear, glorot_uniform
from dltutor.scratch.losses import CrossEntropyLoss, Loss, MSELoss, log_softmax, softmax
from dltutor.scratch.network import CNN, MLP, Autoencoder, Sequential
from dltutor.scratch.optim import SGD, clip_by_global_norm
from dltutor.scratch.recurrent import GRU, LSTM, RNN, GRUCell, LastTimeStep, LSTMCell, Recurrent, RNNCell
from dltutor.scratch.pooling import AvgPool2D, Flatten, MaxPool2D
from dltutor.scratch.train import evaluate, fit, minibatches

__all__ = [
    "Activation",
    "Autoencoder",
    "AvgPool2D",
    "CNN",
    "Conv2D",
    "Flatten",
    "GRU",
    "GRUCell",
    "LSTM",
    "LSTMCell",
    "LastTimeStep",
    "RNN",
    "RNNCell",
    "Recurrent",
    "MaxPool2D",
    "conv2d",
    "conv2d_backward",
    "conv2d_backward_loops",
    "conv2d_loops",
    "output_size",
    "CrossEntropyLoss",
    "Layer",
    "Linear",
    "Loss",
    "MLP",
    "MSELoss",
    "SGD",
    "Sequential",
    "check_layer",
    "clip_by_global_norm",
    "check_loss",
    "evaluate",
    "fit",
    "glorot_uniform",
    "identity",
    "identity_derivative",
    "log_softmax",
    "minibatches",
    "numerical_gradient",
    "relative_error",
    "relu",
    "relu_derivative",
    "sigmoid",
    "sigmoid_derivative",
    "softmax",
    "tanh",
    "tanh_derivative",
]
