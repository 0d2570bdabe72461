"""Training on the GPU from the Python API and the command line: the same recipe on 'cuda' and on
'cpu' gives the same losses and weights (up to float summation order), models move and load across
devices, and device errors are exceptions that leave the process usable.

Where no GPU is visible these tests skip; a build with CONVNET_CUDA=EMULATE runs them on the CPU
emulator of csrc/emulator (see the README's developer section)."""
import subprocess
import sys

import numpy as np
import pytest

import convnet
from convnet import layers as L, optimizers
from convnet.datasets import fashion_mnist
from conftest import requires_cuda, requires_cuda_devices

# The GPU sums in other orders than the CPU, so every step differs by float rounding (~1e-7 relative),
# and training amplifies that, most where a value sits at a kink (a ReLU input at 0) or Adam divides a
# tiny gradient by its tiny norm. Measured: the emulated GPU stayed within 1e-7 of the CPU over these
# runs, but two builds of the same CPU code (optimized differently: the sanitizer build) ended 2.5e-3
# apart in one weight after 29 steps. So means over many samples (losses, accuracies) are compared
# within RTOL, and weights and outputs, which carry the amplified rounding, within WEIGHT_TOL.
RTOL = 1e-3
WEIGHT_TOL = 1e-2


@pytest.fixture(scope="module")
def data():
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    return x_train[:256], y_train[:256], x_test[:128], y_test[:128]


def tiny_net():
    """Every kind of layer of the zoo at a small size: conv (strided, depthwise), batch norm,
    pooling, a residual add, dropout, augmentation and dense layers."""
    inputs = L.Input((1, 28, 28))
    x = L.RandomFlip("horizontal", seed=1)(inputs)
    x = L.RandomTranslation(1 / 28, 1 / 28, seed=2)(x)
    x = L.Conv2D(6, 3, strides=2, use_bias=False)(x)
    x = L.BatchNormalization()(x)
    x = L.Activation("relu")(x)
    y = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = L.Add()([x, y])
    x = L.MaxPool2D(2)(x)
    x = L.Conv2D(8, 1, activation="relu")(x)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dropout(0.2, seed=3)(x)
    outputs = L.Dense(10, activation="softmax")(x)
    return convnet.Model(inputs, outputs)


def train(device, data, optimizer):
    x, y, x_test, y_test = data
    convnet.set_random_seed(0)
    model = tiny_net()
    model.compile(optimizer, metrics=["accuracy"], device=device)
    history = model.fit(x, y, epochs=2, batch_size=32, seed=5, verbose=0)
    return model, history.history


@requires_cuda
@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop", "adamw"])
def test_gpu_training_matches_cpu(data, optimizer):
    gpu_model, gpu_history = train("cuda", data, optimizer)
    cpu_model, cpu_history = train("cpu", data, optimizer)
    assert gpu_model.device.startswith("cuda")
    # 2 epochs of 8 steps: the first step runs op by op, the second is captured, and every later
    # one (the next epoch's too: same buffers) replays the CUDA graph.
    assert gpu_model._graph.cuda_graph_replays == 15
    assert cpu_model._graph.cuda_graph_replays == 0
    np.testing.assert_allclose(gpu_history["loss"], cpu_history["loss"], rtol=RTOL)
    for g, c in zip(gpu_model.get_weights(), cpu_model.get_weights()):
        np.testing.assert_allclose(g, c, rtol=WEIGHT_TOL, atol=WEIGHT_TOL)
    x_test, y_test = data[2], data[3]
    (gpu_loss, gpu_acc), (cpu_loss, cpu_acc) = gpu_model.evaluate(x_test, y_test), cpu_model.evaluate(x_test, y_test)
    np.testing.assert_allclose(gpu_loss, cpu_loss, rtol=RTOL)
    assert abs(gpu_acc - cpu_acc) <= 2 / len(y_test)  # an image or two on the edge may flip
    np.testing.assert_allclose(gpu_model.predict(x_test[:7]), cpu_model.predict(x_test[:7]), rtol=WEIGHT_TOL,
                               atol=WEIGHT_TOL)


@requires_cuda
def test_gpu_training_with_tf32_stays_close_to_exact(data):
    _, exact = train("cuda", data, "adam")
    convnet.cuda.set_allow_tf32(True)
    try:
        model, tf32 = train("cuda", data, "adam")
    finally:
        convnet.cuda.set_allow_tf32(False)
    # 16 Adam steps with every GEMM input rounded to TF32: the losses move by well under 1%
    np.testing.assert_allclose(tf32["loss"], exact["loss"], rtol=1e-2)
    assert tf32["loss"] != exact["loss"]  # the switch took effect


@requires_cuda
def test_launch_blocking_runs_the_steps_op_by_op_to_the_same_numbers(data):
    # For debugging (as CUDA_LAUNCH_BLOCKING): each launch waits for its kernel, so a failing kernel
    # is named; training steps are then not captured, and compute the same numbers.
    _, captured = train("cuda", data, "adam")
    assert not convnet.cuda.launch_blocking()
    convnet.cuda.set_launch_blocking(True)
    try:
        model, blocking = train("cuda", data, "adam")
    finally:
        convnet.cuda.set_launch_blocking(False)
    assert model._graph.cuda_graph_replays == 0
    np.testing.assert_allclose(blocking["loss"], captured["loss"], rtol=1e-6)


@requires_cuda
def test_models_move_and_load_across_devices(tmp_path, data):
    x, y = data[0][:64], data[1][:64]
    convnet.set_random_seed(1)
    model = convnet.zoo.seed_cnn()
    model.compile("adam", device="cuda")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    expected = model.predict(x[:8])
    model.save(tmp_path / "gpu.cnet")
    on_cpu = convnet.load_model(tmp_path / "gpu.cnet", device="cpu")
    np.testing.assert_allclose(on_cpu.predict(x[:8]), expected, rtol=1e-4, atol=1e-6)
    # the optimizer state travels too: one more epoch on each device stays together
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, seed=9)
    on_cpu.fit(x, y, epochs=1, batch_size=16, verbose=0, seed=9)
    for g, c in zip(model.get_weights(), on_cpu.get_weights()):
        np.testing.assert_allclose(g, c, rtol=WEIGHT_TOL, atol=WEIGHT_TOL)
    on_cpu.save(tmp_path / "cpu.cnet")
    back = convnet.load_model(tmp_path / "cpu.cnet", device="cuda")
    assert back.device.startswith("cuda")
    np.testing.assert_allclose(back.predict(x[:8]), on_cpu.predict(x[:8]), rtol=1e-4, atol=1e-6)
    assert model.to("cpu").device == "cpu"
    np.testing.assert_allclose(model.predict(x[:8]), back.predict(x[:8]), rtol=WEIGHT_TOL, atol=WEIGHT_TOL)


@requires_cuda_devices(2)
def test_a_second_gpu_trains_beside_work_on_the_first(tmp_path, data):
    # Every op runs on the GPU of its tensors, not on whichever GPU the last call used: a model on
    # cuda:1 trains (its steps captured and replayed) while another model trains on cuda:0 between
    # its epochs, and it ends where the same run on the CPU ends.
    x, y, x_test, y_test = data
    results = []
    for device in ("cuda:1", "cpu"):
        convnet.set_random_seed(0)
        model = tiny_net()
        model.compile("adam", metrics=["accuracy"], device=device)
        other = convnet.zoo.seed_cnn()
        other.compile("sgd", device="cuda:0")
        replays = []
        for epoch in range(2):
            model.fit(x, y, epochs=epoch + 1, initial_epoch=epoch, batch_size=32, seed=5, verbose=0)
            replays.append(model._graph.cuda_graph_replays)
            other.fit(x[:64], y[:64], epochs=1, batch_size=16, verbose=0)
        results.append((model.get_weights(), model.evaluate(x_test, y_test), model.predict(x_test[:7])))
        if device == "cuda:1":
            assert model.device == "cuda:1" and other.device == "cuda:0"
            # 8 steps per fit: one eager, one captured, 6 replays. Each fit uploads the data again; when
            # the allocator happens to give it the first fit's addresses, the capture still holds and
            # the second fit replays all 8 steps.
            assert replays[0] == 7 and replays[1] - replays[0] in (7, 8), replays
            model.save(tmp_path / "second_gpu.cnet")
    (gpu_weights, (gpu_loss, gpu_acc), gpu_out), (cpu_weights, (cpu_loss, cpu_acc), cpu_out) = results
    for g, c in zip(gpu_weights, cpu_weights):
        np.testing.assert_allclose(g, c, rtol=WEIGHT_TOL, atol=WEIGHT_TOL)
    np.testing.assert_allclose(gpu_loss, cpu_loss, rtol=RTOL)
    assert abs(gpu_acc - cpu_acc) <= 2 / len(y_test)
    moved = convnet.load_model(tmp_path / "second_gpu.cnet", device="cuda:0")
    np.testing.assert_allclose(moved.predict(x_test[:7]), gpu_out, rtol=1e-5, atol=1e-6)


@requires_cuda
def test_fit_waits_for_the_gpu_once_per_chunk_of_steps_not_per_step(data):
    # The "the host does not synchronize per step": the loss totals and the count of correct
    # rows stay on the GPU and are read back in one copy per chunk of steps (about 50 per epoch).
    x, y = data[0][:128], data[1][:128]
    convnet.set_random_seed(0)
    model = tiny_net()
    model.compile("adam", device="cuda")
    model.fit(x, y, epochs=1, batch_size=1, verbose=0)  # warm-up: the first capture
    before = convnet.cuda.host_waits()
    model.fit(x, y, epochs=2, batch_size=1, verbose=0)  # 128 steps per epoch, in 43 chunks of 3
    waits = convnet.cuda.host_waits() - before
    # one wait per chunk, and two for the upload of the data (images and labels) at the start of fit
    assert waits == 2 * 43 + 2, waits


@requires_cuda
def test_memory_allocated_counts_tensors_and_the_peak():
    before = convnet.cuda.memory_allocated()
    convnet.cuda.reset_peak_memory_stats()
    assert convnet.cuda.max_memory_allocated() == before
    t = convnet.zeros([1 << 20], device="cuda")  # 4 MiB
    assert convnet.cuda.memory_allocated() == before + (4 << 20)
    del t
    assert convnet.cuda.memory_allocated() == before
    assert convnet.cuda.max_memory_allocated() == before + (4 << 20)
    with pytest.raises(RuntimeError, match="memory_allocated: CUDA device 99 requested"):
        convnet.cuda.memory_allocated(99)


@requires_cuda
def test_fit_allocates_its_memory_once(data):
    # Activations, gradients, optimizer state and the captured step are allocated in the first
    # epoch; later epochs allocate nothing more (each epoch's shuffle replaces the last one's).
    x, y = data[0], data[1]
    held, peaks = [], []

    class Memory(convnet.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            held.append(convnet.cuda.memory_allocated())
            peaks.append(convnet.cuda.max_memory_allocated())

    convnet.set_random_seed(0)
    model = tiny_net()
    model.compile("adam", device="cuda")
    convnet.cuda.reset_peak_memory_stats()
    model.fit(x, y, epochs=4, batch_size=32, verbose=0, callbacks=[Memory()])
    assert held[0] == held[1] == held[2] == held[3], held
    assert peaks[1] == peaks[2] == peaks[3], peaks


@requires_cuda
def test_out_of_memory_is_an_exception_and_the_process_goes_on():
    with pytest.raises(RuntimeError, match="out of memory"):
        convnet.zeros([1 << 42], device="cuda")
    t = convnet.tensor(np.arange(5, dtype=np.float32), device="cuda")
    assert convnet.ops.relu(t).to("cpu").numpy().tolist() == [0, 1, 2, 3, 4]


@requires_cuda
def test_command_line_trains_on_the_gpu(tmp_path):
    out = tmp_path / "seed.cnet"
    result = subprocess.run([sys.executable, "-m", "convnet", "train", "--model", "seed_cnn", "--epochs", "1",
                             "--limit", "256", "--device", "cuda", "--out", str(out)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "cuda" in result.stdout, result.stdout
    result = subprocess.run([sys.executable, "-m", "convnet", "evaluate", str(out), "--device", "cuda", "--limit", "256"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and "test accuracy" in result.stdout, result.stderr


@requires_cuda
def test_non_finite_loss_stops_the_gpu_run_where_the_cpu_run_stops():
    # The GPU does not wait for the host at each step: the loss is checked on the device, where a
    # non-finite one halts the optimizer for the rest of the chunk; fit then raises as on the CPU.
    x = np.full((64, 1, 28, 28), 1e3, np.float32)
    errors, weights = [], []
    for device in ("cuda", "cpu"):
        convnet.set_random_seed(0)
        model = convnet.zoo.seed_cnn()
        model.compile(optimizers.SGD(1e30), device=device)
        with pytest.raises(FloatingPointError) as info:
            model.fit(x, np.arange(64) % 10, epochs=3, batch_size=8, verbose=0)
        errors.append(str(info.value))
        weights.append(model.get_weights())
    assert errors[0] == errors[1] and "epoch 1, step" in errors[0], errors
    for g, c in zip(*weights):  # the weights of the last good step, on both devices
        np.testing.assert_allclose(g, c, rtol=WEIGHT_TOL, atol=WEIGHT_TOL)


@requires_cuda
def test_non_finite_loss_freezes_batch_norm_statistics_for_the_rest_of_the_chunk(data):
    # 120 steps of batch 1 run in chunks of 3 on the GPU, so steps follow the non-finite one inside
    # its chunk. Their forward passes must not move the batch-norm running statistics, which the CPU
    # (stopping at once) leaves as they were after the failing step. The frozen convolution keeps
    # those statistics finite while the huge learning rate overflows the layers after it.
    x, y = data[0][:120], data[1][:120]
    errors, weights = [], []
    for device in ("cuda", "cpu"):
        convnet.set_random_seed(0)
        model = convnet.Sequential([L.Input((1, 28, 28)), L.Conv2D(4, 3, trainable=False), L.BatchNormalization(),
                                    L.Activation("relu"), L.Flatten(), L.Dense(10, activation="softmax")])
        model.compile(optimizers.SGD(1e37), device=device)
        with pytest.raises(FloatingPointError) as info:
            model.fit(x, y, epochs=1, batch_size=1, seed=3, verbose=0)
        errors.append(str(info.value))
        weights.append(model.layers[1].get_weights())
    assert errors[0] == errors[1], errors
    step = int(errors[0].split("step ")[1].split()[0])
    assert step % 3 != 0, f"the non-finite step {step} ends its chunk: this test would not show anything"
    for name, g, c in zip(model.layers[1].weight_names, *weights):
        if name.startswith("moving"):
            assert np.isfinite(c).all()
            np.testing.assert_allclose(g, c, rtol=1e-5, err_msg=name)


@requires_cuda
def test_captured_steps_follow_schedules_short_batches_and_recaptures(data):
    # What a captured step must not freeze: the learning rate (a schedule changes it every epoch), a
    # short last batch (run op by op), buffers regrown by validation at a larger batch, and an
    # optimizer changed between fits (a new capture).
    x, y, x_test, y_test = data[0][:200], data[1][:200], data[2], data[3]
    results = []
    for device in ("cuda", "cpu"):
        convnet.set_random_seed(0)
        model = tiny_net()
        model.compile(optimizers.SGD(0.05, momentum=0.9), metrics=["accuracy"], device=device)
        schedule = convnet.callbacks.LearningRateScheduler(convnet.callbacks.step_decay(0.05, drop=0.5, every=1))
        history = model.fit(x, y, epochs=3, batch_size=32, seed=1, validation_data=(x_test, y_test), verbose=0,
                            callbacks=[schedule])
        model.compile(optimizers.Adam(1e-3), metrics=["accuracy"], device=device)
        model.fit(x, y, epochs=1, batch_size=32, seed=2, verbose=0)
        results.append((history.history, model.get_weights(), model._graph.cuda_graph_replays))
    (gpu_history, gpu_weights, replays), (cpu_history, cpu_weights, _) = results
    assert gpu_history["learning_rate"] == [0.05, 0.025, 0.0125]
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(gpu_history[key], cpu_history[key], rtol=RTOL)
    np.testing.assert_allclose(gpu_history["val_accuracy"], cpu_history["val_accuracy"], atol=2 / len(y_test))
    for g, c in zip(gpu_weights, cpu_weights):
        np.testing.assert_allclose(g, c, rtol=WEIGHT_TOL, atol=WEIGHT_TOL)
    # 7 steps per epoch (200 = 6 x 32 + 8, the short one op by op). Epoch 1: step 1 op by op, step 2
    # captured, 2..6 replayed; epoch 2 the same again (validation at batch 128 regrew the buffers);
    # epoch 3: all 6 full steps replayed; the Adam fit: a new capture, 5 replays.
    assert replays == 5 + 5 + 6 + 5


@requires_cuda
@pytest.mark.parametrize("bad", [10**12, -1])
def test_a_cuda_order_outside_the_data_is_refused_and_changes_nothing(bad):
    """The private Graph.train_steps with an order on the GPU that holds an index outside the data: the
    gathers never read outside x (memcheck/ASan), the run's updates are halted, and the error names
    the index and its position, as on the CPU (where the host checks the order before any step)."""
    model = convnet.Sequential([L.Input((4,)), L.Dense(3, activation="softmax")])
    model.compile("sgd", device="cuda")
    before = model.get_weights()
    x = convnet.tensor(np.ones((3, 4), np.float32)).to("cuda")
    y = convnet.tensor(np.zeros(3, np.int64)).to("cuda")
    order = convnet.tensor(np.array([0, bad, 2], np.int64)).to("cuda")
    with pytest.raises(ValueError, match=rf"fit: argument 'order' expected row indices in \[0, 3\), got {bad} at position 1"):
        model._graph.train_steps(x, y, order, 0, 3, 1)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))
    model.fit(np.ones((3, 4), np.float32), np.zeros(3, np.int64), verbose=0)  # the graph goes on
    assert not np.array_equal(model.get_weights()[0], before[0])
