"""NumPy reference implementations: the equations made code, forward and backward together.

Nothing here imports a deep-learning framework. The same concepts carry the same names
and arguments in :mod:`dltutor.torch` and :mod:`dltutor.keras`.

Modules by concept: ``layers`` (Parameter, Layer, Linear, Embedding), ``activations``,
``losses``, ``conv`` and ``pooling`` (the layers of a CNN), ``recurrent`` (cells, backprop
through time), ``attention`` (attention, layer normalisation, the Transformer),
``sequential`` (the container); the models ``dense`` (MLP), ``convolutional`` (CNN),
``recurrent`` (RecurrentNet), ``generative`` (autoencoders, VAE), ``attention``
(Transformer), ``text`` (skip-gram, PPMI + SVD, the text classifiers and their layers);
``build`` (layer specs to layers), ``optim``, ``train``, ``gradcheck``.
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
from dltutor.scratch.attention import (
    LayerNorm,
    MultiHeadAttention,
    PositionalEncoding,
    Transformer,
    TransformerBlock,
    attention,
    attention_backward,
    causal_mask,
    masked_softmax,
    sinusoidal_positional_encoding,
)
from dltutor.scratch.conv import (
    Conv2D,
    ConvTranspose2D,
    conv2d,
    conv2d_backward,
    conv2d_backward_loops,
    conv2d_loops,
    conv_transpose2d,
    output_size,
)
from dltutor.scratch.convolutional import CNN
from dltutor.scratch.dense import MLP
from dltutor.scratch.generative import VAE, Autoencoder, ConvAutoencoder, VAELoss
from dltutor.scratch.gradcheck import (
    check_layer,
    check_loss,
    numerical_gradient,
    numerical_gradient_at,
    relative_error,
)
from dltutor.scratch.layers import Embedding, Layer, Linear, Parameter, glorot_uniform, predict
from dltutor.scratch.losses import (
    CrossEntropyLoss,
    Loss,
    MSELoss,
    SequenceCrossEntropyLoss,
    log_softmax,
    sigmoid_cross_entropy,
    softmax,
)
from dltutor.scratch.optim import SGD, Adam, Optimizer, clip_by_global_norm
from dltutor.scratch.pooling import AvgPool2D, Flatten, MaxPool2D
from dltutor.scratch.recurrent import (
    GRU,
    LSTM,
    RNN,
    Cell,
    GRUCell,
    LastTimeStep,
    LSTMCell,
    Recurrent,
    RecurrentNet,
    RNNCell,
)
from dltutor.scratch.sequential import Sequential
from dltutor.scratch.text import (
    BagOfEmbeddings,
    Conv1D,
    EmbeddingBag,
    GlobalMaxPool1D,
    SkipGram,
    SkipGramLoss,
    TextCNN,
    cooccurrence_matrix,
    ppmi,
    svd_vectors,
)
from dltutor.scratch.train import evaluate, fit, minibatches

__all__ = [
    "BagOfEmbeddings",
    "Conv1D",
    "EmbeddingBag",
    "GlobalMaxPool1D",
    "SkipGram",
    "SkipGramLoss",
    "TextCNN",
    "cooccurrence_matrix",
    "ppmi",
    "sigmoid_cross_entropy",
    "svd_vectors",
    "sinusoidal_positional_encoding",
    "masked_softmax",
    "causal_mask",
    "attention_backward",
    "attention",
    "TransformerBlock",
    "Transformer",
    "PositionalEncoding",
    "MultiHeadAttention",
    "LayerNorm",
    "CNN",
    "GRU",
    "LSTM",
    "MLP",
    "RNN",
    "SGD",
    "VAE",
    "Activation",
    "Adam",
    "Autoencoder",
    "AvgPool2D",
    "Cell",
    "Conv2D",
    "ConvAutoencoder",
    "ConvTranspose2D",
    "CrossEntropyLoss",
    "Embedding",
    "Flatten",
    "GRUCell",
    "LSTMCell",
    "LastTimeStep",
    "Layer",
    "Linear",
    "Loss",
    "MSELoss",
    "MaxPool2D",
    "Optimizer",
    "Parameter",
    "RNNCell",
    "Recurrent",
    "RecurrentNet",
    "Sequential",
    "SequenceCrossEntropyLoss",
    "VAELoss",
    "check_layer",
    "check_loss",
    "clip_by_global_norm",
    "conv2d",
    "conv2d_backward",
    "conv2d_backward_loops",
    "conv2d_loops",
    "conv_transpose2d",
    "evaluate",
    "fit",
    "glorot_uniform",
    "identity",
    "identity_derivative",
    "log_softmax",
    "minibatches",
    "numerical_gradient",
    "numerical_gradient_at",
    "output_size",
    "predict",
    "relative_error",
    "relu",
    "relu_derivative",
    "sigmoid",
    "sigmoid_derivative",
    "softmax",
    "tanh",
    "tanh_derivative",
]
