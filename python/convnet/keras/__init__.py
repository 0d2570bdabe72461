"""Keras' module layout over convnet: code written for Keras runs with `keras` replaced by
`convnet.keras` in its imports.

>>> from convnet import keras
>>> from convnet.keras import layers
>>> inputs = keras.Input(shape=(28, 28, 1))
>>> x = layers.Conv2D(8, 3, activation="relu")(inputs)
>>> x.shape
(None, 26, 26, 8)

It is the same library underneath, not a copy: the layers are convnet's, with Keras' defaults
(data_format='channels_last', Concatenate and BatchNormalization on axis -1). A channels-last model
takes (N, H, W, C) arrays and returns channels-last outputs; its graph runs NCHW inside, and its
weights keep convnet's (PyTorch's) layouts: conv kernels (out, in, kh, kw), dense kernels (out, in).
"""
from . import callbacks, datasets, layers, losses, metrics, models, optimizers, utils
from .layers import Input
from .models import Model, Sequential, clone_model, load_model

__all__ = ["Input", "Model", "Sequential", "callbacks", "clone_model", "datasets", "layers", "load_model", "losses",
           "metrics", "models", "optimizers", "utils"]
