"""Keras programs run on convnet with only their imports changed (`keras` -> `convnet.keras`), and
the namespace's own pieces."""
import numpy as np
import pytest

import convnet
from opcheck import assert_raises

# -- program 1: a Sequential built with model.add on channels-last data with one-hot labels ------------


def keras_sequential_program(keras, layers, n_train, n_test):
    """Written as a Keras tutorial writes it; only the imports differ."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    x_train = x_train[:n_train].reshape(-1, 28, 28, 1).astype("float32") / 255
    x_test = x_test[:n_test].reshape(-1, 28, 28, 1).astype("float32") / 255
    y_train = keras.utils.to_categorical(y_train[:n_train], 10)
    y_test = keras.utils.to_categorical(y_test[:n_test], 10)

    model = keras.Sequential()
    model.add(layers.Conv2D(16, (3, 3), activation="relu", input_shape=(28, 28, 1)))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(32, (3, 3), activation="relu"))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Flatten())
    model.add(layers.Dense(64, activation="relu"))
    model.add(layers.Dropout(0.25))
    model.add(layers.Dense(10, activation="softmax"))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=64, epochs=3, validation_split=0.1, verbose=0,
                        callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=2)])
    score = model.evaluate(x_test, y_test, verbose=0)
    return model, history, score


def test_keras_sequential_program():
    from convnet import keras
    from convnet.keras import layers

    model, history, (loss, accuracy) = keras_sequential_program(keras, layers, 3000, 1000)
    assert model.layers[1].output.shape == (None, 13, 13, 16)
    assert model.output_shape == (None, 10)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert accuracy > 0.72, accuracy
    assert model.predict(np.zeros((2, 28, 28, 1), np.float32)).shape == (2, 10)


# -- program 2: a functional residual network on a binary task --------------------------------------


def residual_block(layers, x, filters):
    shortcut = x
    x = layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(filters, 3, padding="same")(x)
    if shortcut.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=2)(shortcut)
    x = layers.add([x, shortcut])
    return layers.Activation("relu")(x)


def keras_functional_program(keras, layers, n_train, n_test):
    """Footwear (sandal, sneaker, ankle boot) or not, from uint8 pixels rescaled in the model."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    x_train, x_test = np.expand_dims(x_train[:n_train], -1), np.expand_dims(x_test[:n_test], -1)
    footwear = (5, 7, 9)
    y_train = np.isin(y_train[:n_train], footwear).astype("float32")
    y_test = np.isin(y_test[:n_test], footwear).astype("float32")

    inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    x = residual_block(layers, x, 32)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=64, epochs=2, verbose=0)
    return model, model.evaluate(x_test, y_test, verbose=0, return_dict=True)


def test_keras_functional_residual_program():
    from convnet import keras
    from convnet.keras import layers

    model, score = keras_functional_program(keras, layers, 3000, 1000)
    assert [t.shape for t in model.outputs] == [(None, 1)]
    assert score["accuracy"] > 0.9, score


# -- the namespace ------------------------------------------------------------------------------------


def test_keras_layers_are_convnet_layers_with_keras_defaults():
    from convnet import keras
    from convnet.keras import layers

    conv = layers.Conv2D(4, 3)
    assert isinstance(conv, convnet.layers.Conv2D) and conv.data_format == "channels_last"
    assert layers.MaxPooling2D is layers.MaxPool2D and layers.Dense is convnet.layers.Dense
    assert layers.Concatenate().axis == -1 and layers.BatchNormalization().axis == -1
    assert convnet.layers.Conv2D(4, 3).data_format is None  # convnet's own: follows its input (NCHW by default)
    x = keras.Input((8, 8, 3))
    assert x.data_format == "channels_last" and x.shape == (None, 8, 8, 3)
    merged = layers.concatenate([layers.Conv2D(2, 1)(x), x])
    assert merged.shape == (None, 8, 8, 5)
    assert type(conv).__name__ == "Conv2D" and conv.get_config()["data_format"] == "channels_last"


def test_keras_model_file_loads_in_both_namespaces(tmp_path):
    from convnet import keras
    from convnet.keras import layers

    model = keras.Sequential([keras.Input((6, 6, 2)), layers.Conv2D(3, 3), layers.Flatten(), layers.Dense(2)])
    path = tmp_path / "k.convnet"
    model.save(path)
    x = np.random.default_rng(0).random((3, 6, 6, 2)).astype(np.float32)
    for load in (keras.models.load_model, convnet.load_model):  # on the CPU, as the model (bit for bit)
        assert np.array_equal(load(path, device="cpu").predict(x), model.predict(x))


def test_to_categorical():
    from convnet.keras.utils import to_categorical

    assert np.array_equal(to_categorical([0, 2, 1]), np.eye(3, dtype=np.float32)[[0, 2, 1]])
    assert to_categorical(np.array([[1], [0]]), num_classes=4).shape == (2, 4)
    assert to_categorical([1, 0]).dtype == np.float32
    assert_raises(ValueError, ["to_categorical", "num_classes", "largest label 2"], to_categorical, [2], 2)
    assert_raises(ValueError, ["to_categorical", "labels >= 0"], to_categorical, [-1, 1])
    assert_raises(ValueError, ["to_categorical", "integer class labels"], to_categorical, [0.5])


def test_keras_input_errors():
    from convnet import keras

    assert_raises(ValueError, ["Input", "dtype", "float32"], keras.Input, (4,), dtype="float16")
    assert_raises(ValueError, ["Input", "shape"], keras.Input)


def test_channels_first_data_to_a_keras_model_says_which_layout():
    from convnet import keras
    from convnet.keras import layers

    inputs = keras.Input((28, 28, 1))
    model = keras.Model(inputs, layers.Flatten()(layers.Conv2D(2, 3)(inputs)))
    with pytest.raises(ValueError, match=r"expected samples of shape \(28, 28, 1\) \(channels_last"):
        model.predict(np.zeros((1, 1, 28, 28), np.float32))
