"""Ready-made Fashion-MNIST models (inputs (1, 28, 28), or (28, 28, 1) with
data_format="channels_last", 10 classes, softmax outputs).

>>> from convnet import zoo
>>> zoo.seed_cnn().count_params()
542230
"""
from . import layers as L
from .models import Model, Sequential

__all__ = ["seed_cnn", "lenet5", "vgg_small", "resnet_small", "mobilenet_small", "get", "NAMES"]

INPUT_SHAPE = (1, 28, 28)
CLASSES = 10


def _input(data_format):
    """The models' input: (1, 28, 28) images, or (28, 28, 1) channels-last ones (Keras' layout)."""
    data_format = L._data_format(data_format, "zoo") or "channels_first"
    return L.Input(INPUT_SHAPE if data_format == "channels_first" else INPUT_SHAPE[1:] + INPUT_SHAPE[:1],
                   data_format=data_format)


def seed_cnn(data_format="channels_first"):
    """The classic Keras Fashion-MNIST example: one 3x3 conv, max pool, dense 100, softmax."""
    return Sequential([
        _input(data_format),
        L.Conv2D(32, 3, activation="relu", kernel_initializer="he_uniform"),
        L.MaxPool2D(2),
        L.Flatten(),
        L.Dense(100, activation="relu", kernel_initializer="he_uniform"),
        L.Dense(CLASSES, activation="softmax"),
    ], name="seed_cnn")


def lenet5(data_format="channels_first"):
    """LeCun et al.'s LeNet-5 (ReLU instead of tanh, max pooling)."""
    return Sequential([
        _input(data_format),
        L.Conv2D(6, 5, padding="same", activation="relu", kernel_initializer="he_uniform"),
        L.MaxPool2D(2),
        L.Conv2D(16, 5, activation="relu", kernel_initializer="he_uniform"),
        L.MaxPool2D(2),
        L.Flatten(),
        L.Dense(120, activation="relu", kernel_initializer="he_uniform"),
        L.Dense(84, activation="relu", kernel_initializer="he_uniform"),
        L.Dense(CLASSES, activation="softmax"),
    ], name="lenet5")


def _conv_bn_relu(filters, **kwargs):
    return [L.Conv2D(filters, 3, padding=1, use_bias=False, kernel_initializer="he_uniform", **kwargs),
            L.BatchNormalization(), L.ReLU()]


def vgg_small(data_format="channels_first"):
    """VGG-style: conv 32-32, pool, conv 64-64, pool (3x3, batch norm, ReLU), dense 256, dropout 0.5."""
    return Sequential([
        _input(data_format),
        *_conv_bn_relu(32), *_conv_bn_relu(32), L.MaxPool2D(2),
        *_conv_bn_relu(64), *_conv_bn_relu(64), L.MaxPool2D(2),
        L.Flatten(),
        L.Dense(256, activation="relu", kernel_initializer="he_uniform"),
        L.Dropout(0.5),
        L.Dense(CLASSES, activation="softmax"),
    ], name="vgg_small")


def _apply(layers, x):
    for layer in layers:
        x = layer(x)
    return x


def _residual_block(x, in_channels, filters, stride):
    """Two 3x3 convolutions plus a shortcut (1x1 stride-s convolution when the shape changes), summed, ReLU."""
    y = _apply(_conv_bn_relu(filters, strides=stride), x)
    y = _apply([L.Conv2D(filters, 3, padding=1, use_bias=False, kernel_initializer="he_uniform"),
                L.BatchNormalization()], y)
    if stride != 1 or filters != in_channels:
        x = _apply([L.Conv2D(filters, 1, strides=stride, use_bias=False, kernel_initializer="he_uniform"),
                    L.BatchNormalization()], x)
    return L.ReLU()(L.Add()([x, y]))


def resnet_small(augment=True, data_format="channels_first"):
    """A small ResNet: a 3x3 stem, residual blocks at 32, 64 (stride 2) and 128 (stride 2) channels,
    global average pooling, softmax. With `augment` the training images are first mirrored
    left-right (probability 1/2) and moved by up to 1 pixel each way (RandomFlip, RandomTranslation:
    active in fit only), which this model needs to generalise rather than memorise."""
    inputs = _input(data_format)
    x = inputs
    if augment:
        x = L.RandomTranslation(1 / 28, 1 / 28)(L.RandomFlip("horizontal")(x))
    x = _apply(_conv_bn_relu(32), x)
    x = _residual_block(x, 32, 32, 1)
    x = _residual_block(x, 32, 64, 2)
    x = _residual_block(x, 64, 128, 2)
    x = L.GlobalAveragePooling2D()(x)
    return Model(inputs, L.Dense(CLASSES, activation="softmax")(x), name="resnet_small")


def mobilenet_small(data_format="channels_first"):
    """MobileNet-style: a 3x3 stem then depthwise separable blocks (depthwise 3x3, BN, ReLU, pointwise
    1x1, BN, ReLU), global average pooling, softmax."""
    def separable(filters, stride):
        return [L.DepthwiseConv2D(3, strides=stride, padding=1, use_bias=False, depthwise_initializer="he_uniform"),
                L.BatchNormalization(), L.ReLU(),
                L.Conv2D(filters, 1, use_bias=False, kernel_initializer="he_uniform"), L.BatchNormalization(), L.ReLU()]
    return Sequential([
        _input(data_format),
        *_conv_bn_relu(32),
        *separable(64, 1), *separable(128, 2), *separable(128, 1), *separable(256, 2),
        L.GlobalAveragePooling2D(),
        L.Dense(CLASSES, activation="softmax"),
    ], name="mobilenet_small")


_BY_NAME = {f.__name__: f for f in (seed_cnn, lenet5, vgg_small, resnet_small, mobilenet_small)}
NAMES = tuple(_BY_NAME)


def get(name, data_format="channels_first"):
    """A new model from the zoo by name (its layers follow the input's data_format)."""
    if name not in _BY_NAME:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(NAMES)}")
    return _BY_NAME[name](data_format=data_format)
