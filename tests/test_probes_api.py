"""Probes of the model API as a careless or hostile user would call it: each must end in a correct
result or a clear error (its class and a message naming the function and argument), never a crash,
a hang, a half-applied change or an error from deep inside. Each runs in a forked child (tests/probe.py)."""
from probe import check, ok, parametrize, raises

# A small compiled classifier and data for it; the probes below start from these.
MODEL = """
def small(**compile_args):
    m = convnet.Sequential([layers.Input((1, 4, 4)), layers.Flatten(), layers.Dense(3, activation="relu"),
                            layers.Dense(2, activation="softmax")])
    m.compile(**({"optimizer": "sgd", "device": "cpu"} | compile_args))
    return m
m = small()
x = np.random.default_rng(0).random((8, 1, 4, 4), dtype=np.float32)
y = np.arange(8) % 2
"""


def model(name, code, error=None, match=None):
    return ok(name, MODEL + code) if error is None else raises(name, MODEL + code, error, match)


WEIGHTS = [
    model("set_weights_overflowing_last_changes_nothing", """
w = m.get_weights()
bad = [a + 1 for a in w[:-1]] + [np.full(w[-1].shape, 1e300)]
try:
    m.set_weights(bad)
    raise AssertionError("accepted")
except ValueError as e:
    assert "dense_1/bias" in str(e) and "finite" in str(e), e
assert all(np.array_equal(a, b) for a, b in zip(m.get_weights(), w))
"""),
    model("set_weights_string_last_changes_nothing", """
w = m.get_weights()
try:
    m.set_weights([a + 1 for a in w[:-1]] + [np.array(["a", "b"])])
    raise AssertionError("accepted")
except TypeError as e:
    assert "dense_1/bias" in str(e) and "<U1" in str(e), e
assert all(np.array_equal(a, b) for a, b in zip(m.get_weights(), w))
"""),
    model("set_weights_nan", "w = m.get_weights(); w[0][0, 0] = np.nan; m.set_weights(w)", ValueError,
          r"weight 'dense/kernel' .*NaN"),
    model("set_weights_too_few", "m.set_weights(m.get_weights()[:-1])", ValueError, r"set_weights expected 4 arrays"),
    model("set_weights_wrong_shape", "w = m.get_weights(); w[1] = w[1][:2]; m.set_weights(w)", ValueError,
          r"weight 'dense/bias' expected shape \(3,\), got \(2,\)"),
    model("set_weights_ragged", "w = m.get_weights(); w[2] = [[1, 2], [3]]; m.set_weights(w)", TypeError,
          r"weight 'dense_1/kernel'"),
    model("set_weights_not_a_list", "m.set_weights(5)", TypeError, r"not iterable|expected"),
    model("layer_set_weights_changes_nothing", """
d = m.layers[1]
w = d.get_weights()
try:
    d.set_weights([w[0] + 1, np.full(w[1].shape, np.inf)])
    raise AssertionError("accepted")
except ValueError as e:
    assert "bias" in str(e), e
assert all(np.array_equal(a, b) for a, b in zip(d.get_weights(), w))
"""),
    model("set_weights_float64_and_ints_accepted", """
w = [a.astype(np.float64) for a in m.get_weights()]
w[1] = np.array([1, 2, 3])
m.set_weights(w)
assert m.get_weights()[1].tolist() == [1.0, 2.0, 3.0]
"""),
]

LEARNING_RATE = [
    model("learning_rate_negative_keeps_state", """
try:
    m.learning_rate = -1
    raise AssertionError("accepted")
except ValueError as e:
    assert "learning_rate" in str(e) and "-1" in str(e), e
assert m.learning_rate == m.optimizer.learning_rate == 0.01
m.save("m.cnet")
assert convnet.load_model("m.cnet").learning_rate == 0.01
"""),
    model("learning_rate_nan_keeps_state", """
try:
    m.learning_rate = float("nan")
    raise AssertionError("accepted")
except ValueError as e:
    assert "learning_rate" in str(e), e
assert m.optimizer.learning_rate == 0.01
m.save("m.cnet")
"""),
    model("learning_rate_inf", "m.learning_rate = float('inf')", ValueError, r"learning_rate.*finite.*inf"),
    model("learning_rate_string", "m.learning_rate = 'abc'", TypeError, r"learning_rate' expected a number, got 'abc'"),
    model("learning_rate_numpy_float", "m.learning_rate = np.float32(0.5); assert m.learning_rate == 0.5"),
    ok("learning_rate_before_compile", """
m = convnet.Sequential([layers.Input((4,)), layers.Dense(2)])
try:
    m.learning_rate = 0.1
    raise AssertionError("accepted")
except RuntimeError as e:
    assert "compile()" in str(e), e
"""),
    raises("optimizer_infinite_learning_rate", "convnet.optimizers.SGD(learning_rate=float('inf'))", ValueError,
           r"SGD: argument 'learning_rate' expected a finite value"),
    raises("optimizer_momentum_nan", "convnet.optimizers.SGD(momentum=float('nan'))", ValueError, r"SGD: .*momentum"),
    raises("optimizer_beta_string", "convnet.optimizers.Adam(beta_1='0.9')", TypeError, r"Adam.*beta_1"),
    model("scheduler_negative_rate", """
cb = convnet.callbacks.LearningRateScheduler(lambda epoch, lr: -1.0)
m.fit(x, y, epochs=1, verbose=0, callbacks=[cb])""", ValueError, r"LearningRateScheduler: the schedule returned -1"),
]

IMAGES = [
    model("int32_images_refused", "m.predict(np.ones((2, 1, 4, 4), np.int32))", TypeError,
          r"predict: argument 'x' expected uint8 .*got dtype int32.*astype"),
    model("int64_images_refused_in_fit", "m.fit(np.ones((8, 1, 4, 4), np.int64), y, verbose=0)", TypeError,
          r"fit: argument 'x' expected uint8"),
    model("uint16_images_refused", "m.predict(np.ones((2, 4, 4), np.uint16))", TypeError, r"got dtype uint16"),
    model("bool_images_refused", "m.predict(np.ones((2, 1, 4, 4), bool))", TypeError, r"numeric images.*bool"),
    model("complex_images_refused", "m.predict(np.ones((2, 1, 4, 4), complex))", TypeError, r"numeric images"),
    model("object_images_refused", "m.predict(np.array([[None] * 16] * 2, dtype=object))", TypeError,
          r"predict: argument 'x' expected numeric images"),
    model("string_images_refused", "m.predict('abc')", TypeError, r"predict: argument 'x' expected numeric images"),
    model("uint8_scaled_like_float", """
u = (np.arange(32) * 7 % 256).astype(np.uint8).reshape(2, 1, 4, 4)
assert np.allclose(m.predict(u), m.predict(u / np.float32(255)), atol=1e-6)
"""),
    model("float64_beyond_float32_refused", "m.predict(np.full((2, 1, 4, 4), 1e300))", ValueError,
          r"NaN or infinite values \(as float32"),
    model("nan_images_refused", "x[3, 0, 1, 1] = np.nan; m.predict(x)", ValueError, r"first in sample 3"),
    model("empty_batch_refused", "m.predict(np.zeros((0, 1, 4, 4), np.float32))", ValueError, r"non-empty batch"),
    model("scalar_images_refused", "m.predict(5)", ValueError, r"got shape \(\)"),
    model("wrong_sample_shape", "m.predict(np.zeros((2, 1, 5, 4), np.float32))", ValueError,
          r"expected samples of shape \(1, 4, 4\)"),
    model("grayscale_without_channel_accepted", "assert m.predict(x[:, 0]).shape == (8, 2)"),
    model("nested_lists_accepted", "assert m.predict(x.tolist()).shape == (8, 2)"),
    model("non_contiguous_accepted", "assert np.allclose(m.predict(x[::2]), m.predict(x)[::2], atol=1e-6)"),
    model("read_only_images_accepted", "x.setflags(write=False); m.fit(x, y, verbose=0); m.predict(x)"),
    model("torch_tensor_requiring_grad", """
import torch
m.predict(torch.zeros(2, 1, 4, 4, requires_grad=True))""", TypeError, r"got torch.Tensor .*detach"),
    model("torch_tensor_accepted", "import torch; assert m.predict(torch.zeros(2, 1, 4, 4)).shape == (2, 2)"),
    model("convnet_tensor_accepted", "assert m.predict(convnet.from_numpy(x)).shape == (8, 2)"),
    model("labels_out_of_range", "m.fit(x, y + 5, verbose=0)", ValueError, r"fit: .*'y'"),
    model("labels_float_fraction", "m.fit(x, y + 0.5, verbose=0)", TypeError, r"fit: argument 'y' expected integer"),
    model("labels_scalar", "m.fit(x, 3, verbose=0)", ValueError, r"fit: x and y have different lengths .*a scalar"),
    model("labels_too_few", "m.fit(x, y[:3], verbose=0)", ValueError, r"8 samples, 3 labels"),
    model("labels_strings", "m.fit(x, np.array(['a'] * 8), verbose=0)", TypeError, r"fit: argument 'y' .*<U1"),
    model("labels_object", "m.fit(x, object(), verbose=0)", ValueError, r"fit: x and y"),
]

FIT = [
    model("fit_not_an_array", "m.fit(5, y, verbose=0)", ValueError, r"fit: argument 'x' expected a non-empty batch"),
    model("fit_validation_split_string", "m.fit(x, y, validation_split='0.5', verbose=0)", ValueError,
          r"fit: argument 'validation_split' expected a number in \[0, 1\), got '0.5'"),
    model("fit_validation_split_one", "m.fit(x, y, validation_split=1.0, verbose=0)", ValueError, r"validation_split"),
    model("fit_validation_split_nan", "m.fit(x, y, validation_split=float('nan'), verbose=0)", ValueError,
          r"validation_split"),
    model("fit_validation_split_bool", "m.fit(x, y, validation_split=True, verbose=0)", ValueError, r"validation_split"),
    model("fit_validation_split_tiny", "m.fit(x, y, validation_split=0.01, verbose=0)", ValueError,
          r"leaves no validation data from 8 samples"),
    model("fit_validation_split_works", """
h = m.fit(x, y, validation_split=0.25, epochs=2, verbose=0)
assert len(h.history["val_loss"]) == 2"""),
    model("fit_validation_data_single", "m.fit(x, y, validation_data=(x,), verbose=0)", ValueError,
          r"validation_data' expected a tuple"),
    model("fit_validation_data_bad_images", "m.fit(x, y, validation_data=(x[:, :, :2], y), verbose=0)", ValueError,
          r"fit \(validation_data\): argument 'x'"),
    model("fit_callbacks_not_a_list", "m.fit(x, y, callbacks=convnet.callbacks.EarlyStopping(monitor='loss'))",
          TypeError, r"fit: argument 'callbacks' expected a list of Callback objects, got EarlyStopping \(pass"),
    model("fit_callbacks_junk", "m.fit(x, y, callbacks=[print], verbose=0)", TypeError,
          r"fit: argument 'callbacks' expected Callback objects"),
    model("fit_callbacks_string", "m.fit(x, y, callbacks='early', verbose=0)", TypeError, r"got str"),
    model("fit_batch_size_zero", "m.fit(x, y, batch_size=0, verbose=0)", ValueError, r"'batch_size' expected an int >= 1"),
    model("fit_batch_size_2_64", "m.fit(x, y, batch_size=2**64, verbose=0)", ValueError,
          r"fit: argument 'batch_size' expected an int <= "),
    model("fit_batch_size_float", "m.fit(x, y, batch_size=4.0, verbose=0)", TypeError, r"'batch_size' expected an int"),
    model("fit_batch_size_bool", "m.fit(x, y, batch_size=True, verbose=0)", TypeError, r"'batch_size' expected an int"),
    model("fit_batch_size_huge_is_the_data", "m.fit(x, y, batch_size=2**40, verbose=0)"),
    model("fit_batch_size_numpy_int", "m.fit(x, y, batch_size=np.int64(4), verbose=0)"),
    model("fit_seed_negative", "m.fit(x, y, seed=-1, verbose=0)", ValueError, r"fit: argument 'seed' expected an int >= 0"),
    model("fit_seed_2_64", "m.fit(x, y, seed=2**64, verbose=0)", ValueError, r"fit: argument 'seed'"),
    model("fit_seed_string", "m.fit(x, y, seed='abc', verbose=0)", TypeError, r"fit: argument 'seed' expected an int"),
    model("fit_seed_largest", "m.fit(x, y, seed=2**63 - 2, verbose=0)"),
    model("fit_epochs_negative", "m.fit(x, y, epochs=-1, verbose=0)", ValueError, r"'epochs' expected an int >= 0"),
    model("fit_initial_epoch_string", "m.fit(x, y, initial_epoch='1', verbose=0)", TypeError, r"'initial_epoch'"),
    model("fit_verbose_bad", "m.fit(x, y, verbose=5)", ValueError, r"fit: argument 'verbose' expected 0"),
    model("fit_shuffle_string", "m.fit(x, y, shuffle='no', verbose=0)", TypeError, r"fit: argument 'shuffle'"),
    model("fit_before_compile", "convnet.Sequential([layers.Input((4,)), layers.Dense(2)]).fit(x, y)", RuntimeError,
          r"fit: call compile\(\) first"),
    model("fit_missing_y", "m.fit(x, verbose=0)", ValueError, r"'x' and 'y' are required"),
    model("evaluate_before_compile", "convnet.Sequential([layers.Input((4,)), layers.Dense(2)]).evaluate(x, y)",
          RuntimeError, r"evaluate: call compile\(\) first"),
    model("predict_batch_size_2_64", "m.predict(x, batch_size=2**64)", ValueError, r"predict: argument 'batch_size'"),
    model("predict_batch_size_string", "m.predict(x, batch_size='8')", TypeError, r"predict: argument 'batch_size'"),
    model("evaluate_batch_size_negative", "m.evaluate(x, y, batch_size=-3)", ValueError, r"evaluate: argument 'batch_size'"),
    model("input_gradients_batch_size_zero", "m.input_gradients(x, y, batch_size=0)", ValueError,
          r"input_gradients: argument 'batch_size'"),
    model("train_on_batch_int_images", "m.train_on_batch(np.ones((2, 1, 4, 4), np.int16), y[:2])", TypeError,
          r"train_on_batch: argument 'x' expected uint8"),
    model("chunked_calls_equal_whole", """
import convnet.models as models
whole = m.predict(x, batch_size=2), m.evaluate(x, y, batch_size=2), m.input_gradients(x, y, batch_size=2)
models._CHUNK_SAMPLES = 2
parts = m.predict(x, batch_size=2), m.evaluate(x, y, batch_size=2), m.input_gradients(x, y, batch_size=2)
assert np.array_equal(whole[0], parts[0])
assert np.allclose(whole[1], parts[1], rtol=1e-6)
assert np.allclose(whole[2], parts[2], rtol=1e-5, atol=1e-9)
"""),
    raises("set_random_seed_negative", "convnet.set_random_seed(-1)", ValueError,
           r"set_random_seed: argument 'seed' expected an int >= 0, got -1"),
    raises("set_random_seed_float", "convnet.set_random_seed(1.5)", TypeError, r"set_random_seed: argument 'seed'"),
]

CALLBACKS = [
    model("checkpoint_val_field_without_validation", """
cb = convnet.callbacks.ModelCheckpoint("m-{val_accuracy:.3f}.cnet")
w = m.get_weights()
try:
    m.fit(x, y, callbacks=[cb], verbose=0)
    raise AssertionError("accepted")
except ValueError as e:
    assert "'val_accuracy' is not logged" in str(e) and "validation_data" in str(e), e
assert all(np.array_equal(a, b) for a, b in zip(m.get_weights(), w)), "trained before refusing"
"""),
    model("checkpoint_unknown_field", "m.fit(x, y, callbacks=[convnet.callbacks.ModelCheckpoint('{nope}.cnet')])",
          ValueError, r"ModelCheckpoint: 'nope' is not logged by this fit \(it logs epoch, loss, accuracy"),
    model("checkpoint_positional_field", "convnet.callbacks.ModelCheckpoint('m-{}.cnet')", ValueError,
          r"ModelCheckpoint: argument 'filepath' .* expected named fields"),
    model("checkpoint_indexed_field", "convnet.callbacks.ModelCheckpoint('m-{0}.cnet')", ValueError,
          r"expected named fields"),
    model("checkpoint_bad_format_spec",
          "m.fit(x, y, verbose=0, callbacks=[convnet.callbacks.ModelCheckpoint('m-{epoch:s}.cnet')])", ValueError,
          r"ModelCheckpoint: argument 'filepath' 'm-\{epoch:s\}.cnet' cannot be formatted"),
    model("checkpoint_unbalanced_brace", "convnet.callbacks.ModelCheckpoint('m-{epoch.cnet')", ValueError,
          r"not a valid format string"),
    model("checkpoint_not_a_path", "convnet.callbacks.ModelCheckpoint(123)", TypeError,
          r"ModelCheckpoint: argument 'filepath' expected str, bytes or os.PathLike, got int"),
    model("checkpoint_monitor_missing",
          "m.fit(x, y, verbose=0, callbacks=[convnet.callbacks.ModelCheckpoint('m.cnet', save_best_only=True)])",
          ValueError, r"'val_loss' is not logged"),
    model("checkpoint_fields_and_paths_work", """
import pathlib
cbs = [convnet.callbacks.ModelCheckpoint("a-{epoch:02d}-{val_accuracy:.2f}.cnet"),
       convnet.callbacks.ModelCheckpoint(pathlib.Path("b.cnet")),
       convnet.callbacks.ModelCheckpoint(b"c-{epoch}.cnet")]
m.fit(x, y, epochs=2, validation_data=(x, y), callbacks=cbs, verbose=0)
names = sorted(os.listdir("."))
assert names[:2] == ["a-01-" + names[0][5:], "a-02-" + names[1][5:]] and "b.cnet" in names, names
assert "c-1.cnet" in names and "c-2.cnet" in names, names
convnet.load_model("b.cnet")
"""),
    model("early_stopping_monitor_missing",
          "m.fit(x, y, verbose=0, callbacks=[convnet.callbacks.EarlyStopping()])", ValueError,
          r"EarlyStopping: monitored metric 'val_loss' is not logged by this fit"),
    model("early_stopping_patience_string", "convnet.callbacks.EarlyStopping(patience='3')", ValueError,
          r"EarlyStopping: argument 'patience' expected an int >= 0, got '3'"),
    model("early_stopping_min_delta_nan", "convnet.callbacks.EarlyStopping(min_delta=float('nan'))", ValueError,
          r"EarlyStopping: argument 'min_delta' expected a finite number"),
    model("early_stopping_bad_mode", "convnet.callbacks.EarlyStopping(mode='up')", ValueError, r"EarlyStopping: .*mode"),
    model("scheduler_not_callable", "convnet.callbacks.LearningRateScheduler(0.1)", TypeError,
          r"LearningRateScheduler: argument 'schedule' expected a callable"),
]

STRUCTURE = [
    ok("graph_cycle_refused", """
a = layers.Input((4,))
b = layers.Dense(4)(a)
c = layers.Dense(4)(b)
b.inputs = [c]
try:
    convnet.Model(a, c)
    raise AssertionError("accepted")
except ValueError as e:
    assert "cycle" in str(e) and "dense" in str(e), e
"""),
    ok("graph_junk_input_refused", """
a = layers.Input((4,))
b = layers.Dense(4)(a)
b.inputs = [a, 5]
try:
    convnet.Model(a, b)
    raise AssertionError("accepted")
except TypeError as e:
    assert "is not a layer output" in str(e), e
"""),
    ok("deep_model_no_recursion_error", """
import sys
t = i = layers.Input((4,))
for _ in range(sys.getrecursionlimit() + 200):
    t = layers.ReLU()(t)
from convnet.layers import topological
assert len(topological(t)) == sys.getrecursionlimit() + 201
"""),
    raises("sequential_add_itself", "s = convnet.Sequential([layers.Input((4,)), layers.Dense(4)]); s.add(s)",
           ValueError, r"add\(\) cannot add the model 'sequential' to itself"),
    raises("sequential_add_its_parent", """
inner = convnet.Sequential([layers.Input((4,)), layers.Dense(4)])
outer = convnet.Sequential([inner, layers.Dense(4)])
inner.add(outer)""", ValueError, r"cannot add the model"),
    raises("sequential_of_junk", "convnet.Sequential([layers.Input((4,)), 5])", TypeError,
           r"add\(\) expected a convnet layer or model, got 5"),
    raises("sequential_empty_predict", "convnet.Sequential([]).predict(np.zeros((2, 4), np.float32))", ValueError,
           r"the model has no layers"),
    raises("sequential_input_twice", "convnet.Sequential([layers.Input((4,)), layers.Input((4,))])", ValueError,
           r"Input must come first"),
    raises("model_inputs_not_symbolic", "convnet.Model(5, layers.Dense(2)(layers.Input((4,))))", TypeError,
           r"argument 'inputs' expected the output of convnet.layers.Input"),
    raises("model_outputs_empty", "convnet.Model(layers.Input((4,)), [])", TypeError, r"argument 'outputs'"),
    raises("model_outputs_unconnected", """
a, b = layers.Input((4,)), layers.Input((4,))
convnet.Model(a, layers.Dense(2)(b))""", ValueError, r"do not depend on the given inputs alone"),
    raises("symbolic_arithmetic", "t = layers.Input((4,)); t + 1", TypeError, r"arithmetic"),
    raises("compile_unknown_loss", MODEL + "m.compile(loss='hinge')", ValueError, r"hinge"),
    raises("compile_unknown_optimizer", MODEL + "m.compile(optimizer='lbfgs')", ValueError, r"lbfgs"),
    raises("compile_unknown_metric", MODEL + "m.compile(metrics=['f1'])", ValueError, r"compile: unknown metric 'f1'"),
    raises("compile_bad_device", MODEL + "m.compile(device='gpu')", ValueError, r"compile: argument 'device'"),
    raises("get_layer_missing", MODEL + "m.get_layer('nope')", ValueError, r"no layer named 'nope'"),
    raises("dense_negative_units", "layers.Dense(-1)", ValueError, r"argument 'units' expected a positive int, got -1"),
    raises("dense_string_units", "layers.Dense('8')", ValueError, r"dense: argument 'units' expected a positive int, got '8'"),
    raises("conv_zero_kernel", "layers.Conv2D(4, 0)", ValueError, r"kernel_size"),
    raises("dropout_rate_one", "layers.Dropout(1.0)", ValueError, r"rate"),
]

ATTACKS = [
    model("fgsm_epsilon_negative", "convnet.attacks.fgsm(m, x, y, -0.1)", ValueError,
          r"fgsm: argument 'epsilon' expected a finite number >= 0, got -0.1"),
    model("fgsm_epsilon_nan", "convnet.attacks.fgsm(m, x, y, float('nan'))", ValueError, r"fgsm: argument 'epsilon'"),
    model("fgsm_epsilon_beyond_float32", "convnet.attacks.fgsm(m, x, y, 1e300, clip=None)", ValueError,
          r"fgsm: argument 'epsilon' .*beyond float32"),
    model("fgsm_epsilon_string", "convnet.attacks.fgsm(m, x, y, '0.1')", TypeError, r"fgsm: argument 'epsilon'"),
    model("fgsm_wrong_shape", "convnet.attacks.fgsm(m, np.zeros((2, 1, 5, 5), np.float32), y[:2], 0.1)", ValueError,
          r"fgsm: argument 'x' expected samples of shape \(1, 4, 4\)"),
    model("fgsm_length_mismatch", "convnet.attacks.fgsm(m, x, y[:3], 0.1)", ValueError, r"fgsm: x and y have different lengths"),
    model("fgsm_outside_clip", "convnet.attacks.fgsm(m, x * 300, y, 0.1)", ValueError, r"fgsm: argument 'x' expected values"),
    model("fgsm_before_compile", "convnet.attacks.fgsm(convnet.zoo.seed_cnn(), x, y, 0.1)", RuntimeError,
          r"fgsm: model 'seed_cnn' is not compiled"),
    model("fgsm_not_a_model", "convnet.attacks.fgsm(m.predict, x, y, 0.1)", TypeError, r"fgsm: argument 'model'"),
    model("fgsm_huge_epsilon_stays_in_clip", "a = convnet.attacks.fgsm(m, x, y, 1e30); assert 0 <= a.min() <= a.max() <= 1"),
    model("pgd_steps_zero", "convnet.attacks.pgd(m, x, y, 0.1, steps=0)", ValueError, r"pgd: argument 'steps' expected an int >= 1"),
    model("pgd_alpha_zero", "convnet.attacks.pgd(m, x, y, 0.1, alpha=0)", ValueError, r"pgd: argument 'alpha'"),
    model("pgd_clip_reversed", "convnet.attacks.pgd(m, x, y, 0.1, clip=(1, 0))", ValueError, r"pgd: argument 'clip'"),
    model("pgd_in_the_ball", "a = convnet.attacks.pgd(m, x, y, 0.1, seed=0); assert np.abs(a - x).max() <= 0.1 + 1e-6"),
    model("robustness_unknown_argument", "convnet.attacks.robustness(m, x, y, [0.1], steps=2)", TypeError,
          r"robustness: unknown argument 'steps'"),
    model("robustness_without_accuracy", "m.compile(loss='mean_squared_error', optimizer='sgd', device='cpu'); "
          "convnet.attacks.robustness(m, x, np.zeros((8, 2), np.float32), [0.1])", ValueError, r"robustness: .*no accuracy"),
    model("fit_adversarial_unknown_key", "m.fit(x, y, verbose=0, adversarial=dict(epsilon=0.1, eps=1))", ValueError,
          r"fit: argument 'adversarial' has an unknown key 'eps'"),
    model("fit_adversarial_not_a_dict", "m.fit(x, y, verbose=0, adversarial=0.1)", TypeError,
          r"fit: argument 'adversarial' expected a dict"),
    model("fit_adversarial_pgd", "m.fit(x, y, verbose=0, adversarial=dict(epsilon=0.1, method='pgd', steps=2))"),
]

AFTER_TRAINING = [
    model("receptive_field_unknown_name", "m.receptive_field('nope')", ValueError, r"no layer named 'nope'"),
    model("receptive_field_foreign_layer", "m.receptive_field(layers.Dense(2))", ValueError,
          r"receptive_field: argument 'layer' expected a layer of this model"),
    model("metrics_lengths_differ", "convnet.metrics.confusion_matrix([0, 1], [1])", ValueError,
          r"confusion_matrix: 'y_true' and 'y_pred' expected the same length, got 2 and 1"),
    model("metrics_float_labels", "convnet.metrics.classification_report([0.5], [0])", TypeError,
          r"classification_report: argument 'y_true' expected integer class labels"),
    model("metrics_names_too_few", "convnet.metrics.classification_report([0, 3], [0, 0], ['a'])", ValueError,
          r"'class_names' expected a name for each label up to 3, got 1 names"),
    model("metrics_top_k_zero", "convnet.metrics.top_k_accuracy([0], [[1.0, 0.0]], k=0)", ValueError,
          r"top_k_accuracy: argument 'k' expected an int >= 1, got 0"),
    model("evaluate_return_dict_junk", "m.evaluate(x, y, return_dict=1)", TypeError,
          r"evaluate: argument 'return_dict' expected True or False, got 1"),
    model("predict_verbose_junk", "m.predict(x, verbose='yes')", ValueError,
          r"predict: argument 'verbose' expected 0 \(silent\) or 1"),
    model("load_weights_other_architecture", """
m.save_weights("w.safetensors")
other = convnet.Sequential([layers.Input((1, 4, 4)), layers.Flatten(), layers.Dense(2, activation="softmax")])
other.load_weights("w.safetensors")""", ValueError, r"load_weights: 'w\.safetensors' does not hold the weights"),
    model("load_weights_not_a_file", "m.load_weights('.')", OSError, r"load_weights"),
    model("load_weights_round_trip", """
m.fit(x, y, epochs=1, verbose=0)
m.save_weights("w.safetensors")
other = convnet.clone_model(m)
other.load_weights("w.safetensors")
assert all(np.array_equal(a, b) for a, b in zip(m.get_weights(), other.get_weights()))"""),
    model("clone_model_of_a_layer", "convnet.clone_model(layers.Dense(2))", TypeError,
          r"clone_model: argument 'model' expected a convnet Model, got Dense"),
    model("reduce_lr_factor_above_one", "convnet.callbacks.ReduceLROnPlateau(factor=2)", ValueError,
          r"ReduceLROnPlateau: argument 'factor' expected a finite number in \[0, 1\], got 2"),
    model("reduce_lr_unlogged_monitor", "m.fit(x, y, verbose=0, callbacks=[convnet.callbacks.ReduceLROnPlateau()])",
          ValueError, r"ReduceLROnPlateau: monitored metric 'val_loss' is not logged"),
    model("csv_logger_directory", "m.fit(x, y, verbose=0, callbacks=[convnet.callbacks.CSVLogger('.')])", OSError,
          r"Is a directory"),
    model("csv_logger_separator", "convnet.callbacks.CSVLogger('a.csv', separator='')", ValueError,
          r"CSVLogger: argument 'separator' expected one character"),
    model("set_num_threads_zero", "convnet.set_num_threads(0)", ValueError,
          r"set_num_threads: argument 'threads' expected an int in \[1, 2147483647\], got 0"),
    model("set_num_threads_bool", "convnet.set_num_threads(True)", TypeError, r"set_num_threads: argument 'threads'"),
    model("lambda_callback_unknown_hook", "convnet.callbacks.LambdaCallback(on_batch_end=print)", TypeError,
          r"LambdaCallback: unknown hook 'on_batch_end'"),
    model("lambda_callback_raising_hook_propagates", """
def boom(epoch, logs):
    raise KeyError("from the user's hook")
m.fit(x, y, verbose=0, callbacks=[convnet.callbacks.LambdaCallback(on_epoch_end=boom)])""", KeyError,
          r"from the user's hook"),
]

PROBES = WEIGHTS + LEARNING_RATE + IMAGES + FIT + CALLBACKS + STRUCTURE + ATTACKS + AFTER_TRAINING


@parametrize(PROBES)
def test_probe(probe):
    check(probe)


def test_ctrl_c_stops_a_long_predict():
    """SIGINT during a predict of many batches ends it between chunks, with KeyboardInterrupt, instead
    of when the whole predict is done (here about 35 s of work on this machine, 2 cores)."""
    import signal
    import subprocess
    import sys
    import time

    code = ("import numpy as np, convnet, convnet.models\n"
            "convnet.models._CHUNK_SAMPLES = 256\n"
            "m = convnet.zoo.get('vgg_small'); m.compile(device='cpu')\n"
            "x = np.zeros((60000, 1, 28, 28), np.uint8)\n"
            "m.predict(x[:256])\n"
            "print('started', flush=True)\n"
            "m.predict(x)\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "started", child.communicate()[1]
        time.sleep(0.5)
        child.send_signal(signal.SIGINT)
        sent = time.perf_counter()
        _, err = child.communicate(timeout=300)
        waited = time.perf_counter() - sent
    finally:
        child.kill()
    assert "KeyboardInterrupt" in err, err
    assert waited < 10, f"predict went on for {waited:.1f} s after Ctrl-C"
