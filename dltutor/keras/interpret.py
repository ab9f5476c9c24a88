"""Looking inside a trained model: which input pixels move its decision."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from dltutor.checks import as_float_array, as_label_array, check_same_length


def saliency(model: keras.Model, x: np.ndarray, classes: np.ndarray | None = None) -> np.ndarray:
    r"""Saliency map :math:`|\partial s_c / \partial x|`: how much each input value moves the score of class c.

    ``s_c`` is the model's output (logit) for class ``classes[n]`` of example ``n``, by default
    the predicted class. Returns an array of ``x``'s shape (Simonyan et al., 2014).
    """
    return np.abs(input_gradients(model, x, classes))


def input_gradients(
    model: keras.Model, x: np.ndarray, classes: np.ndarray | None = None
) -> np.ndarray:
    r""":math:`\partial s_c / \partial x` with its sign: the gradient of class ``classes[n]``'s score
    (by default the predicted class) with respect to input ``n``, by ``tf.GradientTape``."""
    inputs = tf.Variable(as_float_array(x, "x").astype(np.float32))
    with tf.GradientTape() as tape:
        scores = model(inputs, training=False)  # (N, classes)
        if classes is None:
            chosen = tf.argmax(scores, axis=1)
        else:
            labels = as_label_array(classes, "classes", num_classes=int(scores.shape[1]))
            check_same_length(labels, np.asarray(x), "classes", "x")
            chosen = tf.constant(labels)
        total = tf.reduce_sum(tf.gather(scores, chosen, axis=1, batch_dims=1))
    return np.asarray(tape.gradient(total, inputs).numpy())
