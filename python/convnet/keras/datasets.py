"""keras.datasets: fashion_mnist.load_data() returns ((x_train, y_train), (x_test, y_test)) with x
uint8 (N, 28, 28) as Keras' does (add the channel axis with x[..., None], or let a channels-last
model's Input((28, 28, 1)) take (N, 28, 28) as one channel)."""
from ..datasets import fashion_mnist

__all__ = ["fashion_mnist"]
