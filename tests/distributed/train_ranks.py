"""Run by tests/test_distributed.py under mpirun: a small model trained data-parallel, each rank writing
what it saw to OUT/rank<r>.npz. argv: OUT, then 'raise' to make rank 1 fail during fit or 'batch_norm'
for a model with batch normalization."""
import sys

import numpy as np

import convnet
from convnet import layers as L

convnet.distributed.init()
out, mode = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "train"
rank, size = convnet.distributed.rank(), convnet.distributed.size()
rng = np.random.default_rng(0)
x = rng.random((48, 1, 8, 8), dtype=np.float32)
y = rng.integers(0, 3, 48)
convnet.set_random_seed(7)
norm = [L.BatchNormalization()] if mode == "batch_norm" else []  # per-rank batch statistics
model = convnet.Sequential([L.Input((1, 8, 8)), L.Conv2D(4, 3, activation="relu"), *norm, L.Flatten(),
                            L.Dense(3, activation="softmax")])
model.compile(optimizer=convnet.optimizers.SGD(0.1), metrics=["accuracy"], device="cpu")


class Boom(convnet.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if rank == 1:
            raise RuntimeError("rank 1 fails on purpose")


# rank 0 alone writes: log1.csv never appears
callbacks = [convnet.callbacks.CSVLogger(f"{out}/log{rank}.csv")] + ([Boom()] if mode == "raise" else [])
history = model.fit(x, y, batch_size=4, epochs=2, verbose=0, seed=3, callbacks=callbacks,
                    validation_data=(x[:20], y[:20]))
loss, accuracy = model.evaluate(x, y, batch_size=7)
probs = model.predict(x[:13], batch_size=5)
np.savez(f"{out}/rank{rank}.npz", *model.get_weights(), history_loss=history.history["loss"],
         history_accuracy=history.history["accuracy"], val_loss=history.history["val_loss"], loss=loss,
         accuracy=accuracy, probs=probs, size=size, allreduce_seconds=model._graph.allreduce_seconds)
