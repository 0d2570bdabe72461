"""Probes of the core, the ops and the bindings (issue 12): hostile arrays, numbers and arguments each
end in a correct result or a clear error (its class and a message naming the function and argument),
never a crash, a write where it must not, or pybind11's generic messages. Each runs in a forked child
(tests/probe.py)."""
from probe import check, ok, parametrize, raises

X = "np.ones((1, 1, 4, 4), np.float32)"
W = "np.ones((1, 1, 3, 3), np.float32)"
RO = "a = np.ones((2, 3), np.float32); a.flags.writeable = False\n"
MODEL = ("m = convnet.Sequential([layers.Input((4,)), layers.Dense(3)]); m.compile('sgd', 'mse', device='cpu')\n"
         "g = m._graph\nx = convnet.tensor(np.ones((3, 4), np.float32)); y = convnet.tensor(np.ones((3, 3), np.float32))\n")

PROBES = [
    # --- sizes: checked arithmetic in one place ---
    raises("zeros_2p31_squared", "convnet.zeros([2**31, 2**31])", ValueError, r"zeros: shape \(2147483648, 2147483648\) is too large"),
    raises("zeros_wraps_to_4", "convnet.zeros([2**62 + 1, 4])", ValueError, r"zeros: shape .* too large"),
    raises("zeros_2p64", "convnet.zeros([2**64])", ValueError, r"zeros: argument 'shape' expected an int"),
    raises("zeros_negative", "convnet.zeros([2, -1])", ValueError, r"zeros: argument 'shape' expected non-negative sizes"),
    raises("zeros_float_dim", "convnet.zeros([2.5, 3])", TypeError, r"zeros: argument 'shape' expected an int.*float"),
    raises("zeros_bool_dim", "convnet.zeros([True, 3])", TypeError, r"zeros: argument 'shape' expected an int.*bool"),
    raises("zeros_not_a_shape", "convnet.zeros('abc')", TypeError, r"zeros: argument 'shape' expected a sequence of ints"),
    ok("zeros_empty", "t = convnet.zeros([0, 3]); assert t.shape == (0, 3) and t.numel() == 0 and np.asarray(t).shape == (0, 3)"),
    ok("zeros_numpy_int_dims", "assert convnet.zeros([np.int64(2), np.int32(3)]).shape == (2, 3)"),
    ok("zeros_int64_uint8", "assert convnet.zeros([2], dtype='int64').dtype == 'int64' and convnet.zeros([2], dtype=np.uint8).dtype == 'uint8'"),
    raises("zeros_dtype_float64", "convnet.zeros([2], dtype='float64')", TypeError, r"dtype.*float32, int64 or uint8.*float64"),
    raises("reshape_two_negatives", "convnet.zeros([2, 3]).reshape(-1, -2)", ValueError, r"reshape: argument 'shape'.*at most one -1.*\(-1, -2\)"),
    raises("reshape_two_minus_ones", "convnet.zeros([2, 3]).reshape(-1, -1)", ValueError, r"reshape: argument 'shape'.*\(-1, -1\)"),
    raises("reshape_wrong_count", "convnet.zeros([2, 3]).reshape(4, 2)", ValueError, r"reshape: argument 'shape' expected a shape with 6 elements"),
    raises("reshape_minus_one_no_fit", "convnet.zeros([2, 3]).reshape(-1, 4)", ValueError, r"reshape: .*6 elements.*\(-1, 4\)"),
    raises("reshape_overflow", "convnet.zeros([2, 3]).reshape(2**62, 2**62)", ValueError, r"reshape: .*too large"),
    raises("reshape_float", "convnet.zeros([2, 3]).reshape(2.0, 3)", TypeError, r"reshape: argument 'shape' expected an int"),
    raises("reshape_zero_with_minus_one", "convnet.zeros([0, 3]).reshape(0, -1)", ValueError, r"reshape: argument 'shape'"),
    ok("reshape_numpy_rules", "t = convnet.zeros([2, 3, 4])\n"
       "assert t.reshape(-1).shape == (24,) and t.reshape(4, -1).shape == (4, 6) and t.reshape([2, -1, 3]).shape == (2, 4, 3)\n"
       "assert t.reshape((6, 4)).shape == (6, 4) and convnet.zeros([0, 3]).reshape(3, 0).shape == (3, 0)"),
    raises("linear_on_huge_zeros", "t = convnet.zeros([2**62 + 1, 4]); ops.linear(t, np.ones((2, 4), np.float32))", ValueError, r"zeros"),
    raises("from_numpy_float64", "convnet.from_numpy(np.ones(3))", TypeError, r"numpy dtype float64 is not supported"),
    raises("from_numpy_bool", "convnet.from_numpy(np.ones(3, bool))", TypeError, r"not supported"),
    raises("tensor_object_array", "convnet.tensor(np.array([object()]))", TypeError, r"tensor"),
    ok("from_numpy_non_contiguous", "a = np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2]\n"
       "assert np.array_equal(np.asarray(convnet.from_numpy(a)), a)"),
    raises("from_numpy_huge_broadcast", "convnet.from_numpy(np.broadcast_to(np.float32(1), (2**31, 3)))", MemoryError, r"Unable to allocate"),
    raises("linear_backward_huge_broadcast", "ops.linear_backward(np.ones((0, 2**31), np.float32), np.ones((0, 3), np.float32), "
           "np.broadcast_to(np.float32(1), (2**31, 3)), None)", MemoryError, r"Unable to allocate"),
    ok("from_numpy_unaligned", "b = np.zeros(17, np.uint8)[1:].view(np.float32); assert np.asarray(convnet.from_numpy(b)).shape == (4,)"),
    ok("from_numpy_big_endian", "a = np.arange(4, dtype='>f4'); assert np.array_equal(np.asarray(ops.relu(a)), a)"),
    ok("from_numpy_0d", "t = convnet.from_numpy(np.array(3.0, np.float32)); assert t.shape == () and t.numel() == 1"),
    # --- read-only memory is never written ---
    raises("copy_into_read_only", RO + "convnet.from_numpy(a).copy_(np.zeros((2, 3), np.float32))", ValueError, r"Tensor.copy_: argument 'self' is read-only"),
    ok("copy_into_read_only_leaves_it", RO + "\ntry:\n    convnet.from_numpy(a).copy_(np.zeros((2, 3), np.float32))\nexcept ValueError:\n    pass\nassert (a == 1).all()"),
    raises("memmap_read_only_copy", "np.ones(6, np.float32).tofile('m.bin'); m = np.memmap('m.bin', np.float32, mode='r')\n"
           "convnet.from_numpy(m).copy_(np.zeros(6, np.float32))", ValueError, r"copy_: argument 'self' is read-only"),
    raises("sgd_step_read_only_tensor", RO + "ops.sgd_step(convnet.from_numpy(a), np.ones((2, 3), np.float32), lr=0.1)", ValueError, r"sgd_step: argument 'param' is read-only"),
    raises("sgd_step_read_only_array", RO + "ops.sgd_step(a, np.ones((2, 3), np.float32), lr=0.1)", ValueError, r"sgd_step: argument 'param' is read-only"),
    raises("sgd_step_read_only_buffer", RO + "ops.sgd_step(np.ones((2, 3), np.float32), np.ones((2, 3), np.float32), a, lr=0.1, momentum=0.9)", ValueError, r"sgd_step: argument 'momentum_buffer' is read-only"),
    raises("adam_step_read_only", RO + "z = np.zeros((2, 3), np.float32)\nops.adam_step(a, z, z.copy(), z.copy(), step=1)", ValueError, r"adam_step: argument 'param' is read-only"),
    raises("adamw_step_read_only_state", RO + "z = np.zeros((2, 3), np.float32)\nops.adamw_step(z.copy(), z, a, z.copy(), step=1)", ValueError, r"adamw_step: argument 'exp_avg' is read-only"),
    raises("rmsprop_step_read_only", RO + "z = np.zeros((2, 3), np.float32)\nops.rmsprop_step(z.copy(), z, a, step=1)", ValueError, r"rmsprop_step: argument 'square_avg' is read-only"),
    raises("memmap_sgd_step", "np.ones(6, np.float32).tofile('m.bin'); m = np.memmap('m.bin', np.float32, mode='r')\n"
           "ops.sgd_step(convnet.from_numpy(m), np.ones(6, np.float32), lr=0.1)", ValueError, r"sgd_step: argument 'param' is read-only"),
    ok("flatten_of_read_only_is_read_only", RO + "b = np.asarray(ops.flatten(a)); assert not b.flags.writeable\n"
       "assert not convnet.from_numpy(a).numpy().flags.writeable and not memoryview(convnet.from_numpy(a)).readonly is False"),
    raises("write_into_flatten_of_read_only", RO + "np.asarray(ops.flatten(a))[0, 0] = 5", ValueError, r"read-only"),
    ok("read_only_inputs_are_read", RO + "assert np.allclose(np.asarray(ops.relu(a)), 1) and np.asarray(ops.linear(a, a)).shape == (2, 2)"),
    ok("writable_copy_works", RO + "t = convnet.tensor(a); t.copy_(np.zeros((2, 3), np.float32)); assert (np.asarray(t) == 0).all() and (a == 1).all()"),
    ok("memmap_writable_copy", "np.ones(6, np.float32).tofile('m.bin'); m = np.memmap('m.bin', np.float32, mode='r+')\n"
       "convnet.from_numpy(m).copy_(np.zeros(6, np.float32)); m.flush(); assert (np.fromfile('m.bin', np.float32) == 0).all()"),
    # --- executor bindings check every index, length and integer ---
    raises("train_steps_order_out_of_range", MODEL + "g.train_steps(x, y, np.array([0, 1, 10**12]), 0, 1, 3)", ValueError, r"fit: argument 'order' expected row indices in \[0, 3\), got 1000000000000"),
    raises("train_steps_order_4_long", MODEL + "g.train_steps(x, y, np.array([0, 1, 2, 10**12]), 0, 1, 3)", ValueError, r"fit: argument 'order' expected shape \(3,\)"),
    raises("train_steps_order_negative", MODEL + "g.train_steps(x, y, np.array([0, -1, 2]), 0, 1, 3)", ValueError, r"fit: argument 'order'.*-1 at position 1"),
    raises("train_steps_batch_2p64", MODEL + "g.train_steps(x, y, np.arange(3), 0, 1, 2**64)", ValueError, r"fit: argument 'batch_size' expected an int in \[1, "),
    raises("train_steps_batch_zero", MODEL + "g.train_steps(x, y, np.arange(3), 0, 1, 0)", ValueError, r"fit: argument 'batch_size'"),
    raises("train_steps_batch_float", MODEL + "g.train_steps(x, y, np.arange(3), 0, 1, 2.5)", TypeError, r"fit: argument 'batch_size' expected an int.*float"),
    ok("train_steps_huge_counts", MODEL + "s = g.train_steps(x, y, np.arange(3), 2**62, 2**62, 2**63 - 1); assert s.steps == 0\n"
       "s = g.train_steps(x, y, np.arange(3), 0, 2**63 - 1, 2**63 - 1); assert s.steps == 1"),
    raises("train_steps_x_not_tensor", MODEL + "g.train_steps('x', y, np.arange(3), 0, 1, 3)", TypeError, r"fit: argument 'x' expected a Tensor"),
    raises("evaluate_label_out_of_range", "m = convnet.Sequential([layers.Input((4,)), layers.Dense(3, activation='softmax')])\n"
           "m.compile('sgd', 'sparse_categorical_crossentropy', device='cpu')\n"
           "m._graph.evaluate(convnet.tensor(np.ones((3, 4), np.float32)), convnet.tensor(np.array([0, 1, 10**12])), 3)",
           ValueError, r"cross_entropy: argument 'target' expected class indices in \[0, 3\), got label 1000000000000"),
    raises("train_steps_label_negative", "m = convnet.Sequential([layers.Input((4,)), layers.Dense(3, activation='softmax')])\n"
           "m.compile('sgd', 'sparse_categorical_crossentropy', device='cpu')\n"
           "m._graph.train_steps(convnet.tensor(np.ones((3, 4), np.float32)), convnet.tensor(np.array([0, -1, 2])), "
           "np.arange(3), 0, 1, 3)", ValueError, r"cross_entropy: argument 'target' expected class indices"),
    raises("predict_batch_negative", MODEL + "g.predict(x, -1)", ValueError, r"predict: argument 'batch_size' expected an int in \[1, "),
    ok("predict_batch_huge", MODEL + "assert g.predict(x, 2**63 - 1)[0].shape == (3, 3)"),
    raises("evaluate_batch_2p63", MODEL + "g.evaluate(x, y, 2**63)", ValueError, r"evaluate: argument 'batch_size'"),
    raises("output_shape_node_out_of_range", MODEL + "g.output_shape(10**12)", ValueError, r"output_shape: argument 'node' expected an int in \[0, 1\]"),
    raises("param_index_out_of_range", MODEL + "g.param(-1)", ValueError, r"param: argument 'index' expected an int in \[0, 1\]"),
    raises("set_trainable_node_huge", MODEL + "g.set_trainable(2**40, False)", ValueError, r"set_trainable: argument 'node'"),
    raises("optimizer_step_2p63", MODEL + "g.optimizer_step = 2**63", ValueError, r"optimizer_step: argument 'step' expected an int in \[0, "),
    raises("optimizer_step_negative", MODEL + "g.optimizer_step = -1", ValueError, r"optimizer_step: argument 'step'"),
    raises("set_loss_output_huge", MODEL + "g.set_loss('mean_squared_error', 2**40)", ValueError, r"compile: argument 'loss output'"),
    raises("graph_seed_negative", "convnet._core.nn.Graph([{'op': 'input', 'name': 'in', 'shape': [2]}], [0], seed=-1)", ValueError, r"Model: argument 'seed' expected an int in \[0, 2\*\*64\), got -1"),
    raises("graph_seed_2p64", "convnet._core.nn.Graph([{'op': 'input', 'name': 'in', 'shape': [2]}], [0], seed=2**64)", ValueError, r"Model: argument 'seed'"),
    raises("graph_outputs_huge", "convnet._core.nn.Graph([{'op': 'input', 'name': 'in', 'shape': [2]}], [2**40])", ValueError, r"Model: argument 'outputs' expected a value that fits in 32 bits"),
    raises("graph_nodes_not_list", "convnet._core.nn.Graph(5, [0])", TypeError, r"Model: argument 'nodes' expected a list of dicts, got an object of type int"),
    raises("graph_node_not_dict", "convnet._core.nn.Graph([3], [0])", TypeError, r"Model: argument 'nodes' expected a list of dicts"),
    raises("graph_inputs_huge", "convnet._core.nn.Graph([{'op': 'input', 'name': 'in', 'shape': [2]}, {'op': 'relu', 'name': 'r', 'inputs': [2**40]}], [1])", ValueError, r"layer 'r'.*'inputs'"),
    raises("permutation_seed_negative", "convnet._core.nn.permutation(3, -1)", ValueError, r"permutation: argument 'seed'"),
    raises("permutation_n_2p64", "convnet._core.nn.permutation(2**64, 0)", ValueError, r"permutation: argument 'n'"),
    # --- layers and models: sizes name the layer ---
    raises("conv2d_filters_1e12", "m = convnet.Sequential([layers.Input((1, 4, 4)), layers.Conv2D(10**12, 3)]); m.compile('sgd')", ValueError, r"layer 'conv2d.*Conv2D.*filters"),
    raises("config_filters_2p64", "convnet._core.nn.Graph([{'op': 'input', 'name': 'in', 'shape': [1, 4, 4]}, {'op': 'conv2d', 'name': 'c', 'inputs': [0], 'out_channels': 2**64, 'kernel_size': 3}], [1])", ValueError, r"layer 'c': argument 'out_channels' expected an int"),
    raises("input_2p31_squared", "m = convnet.Sequential([layers.Input((1, 2**31, 2**31)), layers.Flatten(), layers.Dense(2)]); m.compile('sgd')", ValueError, r"layer 'input.*Input: shape \(1, 2147483648, 2147483648\) is too large"),
    raises("input_huge_predict", "m = convnet.Sequential([layers.Input((1, 2**30, 2**30)), layers.Flatten(), layers.Dense(2)]); m.compile('sgd')", ValueError, r"layer 'dense.*too large"),
    raises("dense_units_2p31", "m = convnet.Sequential([layers.Input((4,)), layers.Dense(2**31 - 1)]); m.compile('sgd')", MemoryError, r"layer 'dense.*weight \(2147483647, 4\).*out of memory"),
    raises("depthwise_multiplier_overflow", "convnet._core.nn.Graph([{'op': 'input', 'name': 'in', 'shape': [2**40, 4, 4]}, {'op': 'conv2d', 'name': 'd', 'inputs': [0], 'depth_multiplier': 2**40, 'kernel_size': 3}], [1])", ValueError, r"layer '(in|d)'"),
    # --- ops: numbers where ints are expected, huge and negative parameters ---
    raises("conv2d_padding_2p30", f"ops.conv2d({X}, {W}, padding=2**30 - 1)", ValueError, r"conv2d: .*too large.*padding \(1073741823"),
    raises("conv2d_same_dilation_2p30", f"ops.conv2d({X}, {W}, padding='same', dilation=2**30)", ValueError, r"conv2d: argument 'padding' expected 'same'.*got 'same' with dilation \(1073741824, 1073741824\)"),
    raises("conv2d_stride_zero", f"ops.conv2d({X}, {W}, stride=0)", ValueError, r"conv2d: argument 'stride' expected positive values"),
    raises("conv2d_stride_2p63", f"ops.conv2d({X}, {W}, stride=2**63)", ValueError, r"conv2d: argument 'stride' expected an int in"),
    raises("conv2d_padding_negative", f"ops.conv2d({X}, {W}, padding=-1)", ValueError, r"conv2d: argument 'padding' expected non-negative"),
    raises("conv2d_padding_float", f"ops.conv2d({X}, {W}, padding=1.5)", TypeError, r"conv2d: argument 'padding' expected an int or a pair"),
    raises("conv2d_padding_nan", f"ops.conv2d({X}, {W}, padding=float('nan'))", TypeError, r"conv2d: argument 'padding'"),
    raises("conv2d_padding_str", f"ops.conv2d({X}, {W}, padding='full')", ValueError, r"conv2d: argument 'padding' expected 'same', 'valid'"),
    raises("conv2d_dilation_bool", f"ops.conv2d({X}, {W}, dilation=True)", TypeError, r"conv2d: argument 'dilation'"),
    raises("conv2d_groups_huge", f"ops.conv2d({X}, {W}, groups=2**40)", ValueError, r"conv2d: argument 'groups'"),
    raises("conv2d_huge_kernel", f"ops.conv2d({X}, np.ones((1, 1, 9, 9), np.float32))", ValueError, r"conv2d: argument 'w' expected a kernel extent"),
    raises("conv2d_stride_huge_padding_huge", f"ops.conv2d({X}, {W}, stride=2**30, padding=2**30 - 1)", ValueError, r"conv2d: .*too large"),
    raises("conv2d_wrong_keyword", f"ops.conv2d({X}, {W}, pad=1)", TypeError, r"^TypeError: conv2d: unexpected keyword argument 'pad' \(accepted: x, w, b, stride, padding, dilation, groups\)$"),
    raises("conv2d_too_many_args", f"ops.conv2d({X}, {W}, None, 1, 0, 1, 1, 5)", TypeError, r"conv2d: takes at most 7 arguments"),
    raises("conv2d_missing_w", f"ops.conv2d({X})", TypeError, r"conv2d: missing argument 'w'"),
    raises("conv2d_rank3", f"ops.conv2d(np.ones((1, 4, 4), np.float32), {W})", ValueError, r"conv2d: argument 'x' expected 4-D tensor"),
    raises("conv2d_empty", f"ops.conv2d(np.ones((0, 1, 4, 4), np.float32), {W})", ValueError, r"conv2d: argument 'x' expected a non-empty tensor"),
    ok("conv2d_big_stride", f"assert ops.conv2d({X}, {W}, stride=2**31 - 1).shape == (1, 1, 1, 1)"),
    raises("conv2d_backward_huge_padding", f"ops.conv2d_backward(np.ones((1, 1, 2, 2), np.float32), {X}, {W}, padding=2**31 - 1)", ValueError, r"conv2d: .*too large"),
    raises("max_pool_kernel_huge", f"ops.max_pool2d({X}, 2**31 - 1)", ValueError, r"max_pool2d: argument 'kernel_size' expected at most the padded input"),
    raises("max_pool_kernel_2p63", f"ops.max_pool2d({X}, 2**63)", ValueError, r"max_pool2d: argument 'kernel_size' expected an int in"),
    raises("avg_pool_stride_zero", f"ops.avg_pool2d({X}, 2, stride=0)", ValueError, r"avg_pool2d: argument 'stride' expected positive"),
    raises("min_pool_padding_negative", f"ops.min_pool2d({X}, 2, padding=-1)", ValueError, r"min_pool2d: argument 'padding'"),
    raises("max_pool_kernel_float", f"ops.max_pool2d({X}, 2.0)", TypeError, r"max_pool2d: argument 'kernel_size' expected an int or a pair"),
    raises("max_pool_wrong_keyword", f"ops.max_pool2d({X}, 2, strides=2)", TypeError, r"max_pool2d: unexpected keyword argument 'strides' \(accepted: x, kernel_size, stride, padding\)"),
    raises("global_avg_pool_rank2", "ops.global_avg_pool2d(np.ones((2, 3), np.float32))", ValueError, r"global_avg_pool2d: argument 'x'"),
    raises("linear_mismatch", "ops.linear(np.ones((2, 3), np.float32), np.ones((4, 5), np.float32))", ValueError, r"linear: argument 'w' expected shape \(out_features, 3\)"),
    raises("linear_bias_wrong", "ops.linear(np.ones((2, 3), np.float32), np.ones((4, 3), np.float32), np.ones(5, np.float32))", ValueError, r"linear: argument 'b'"),
    raises("linear_complex", "ops.linear(np.ones((2, 3), np.complex64), np.ones((4, 3), np.float32))", TypeError, r"linear: argument 'x'"),
    raises("concat_one_input", "ops.concat([np.ones((2, 3), np.float32)])", ValueError, r"concat: argument 'inputs' expected at least 2"),
    raises("concat_mismatch", "ops.concat([np.ones((2, 3, 4), np.float32), np.ones((2, 3, 5), np.float32)])", ValueError, r"concat: argument 'inputs\[1\]'"),
    raises("concat_not_list", "ops.concat(np.ones((2, 3), np.float32))", TypeError, r"concat: argument 'inputs' expected a list"),
    raises("concat_axis_keyword", "ops.concat([np.ones((2, 3), np.float32)] * 2, axis=2**40)", TypeError, r"concat: unexpected keyword argument 'axis' \(accepted: inputs\)"),
    raises("concat_backward_huge_shape", "ops.concat_backward(np.ones((1, 2), np.float32), [(1, 2**62), (1, 2**62)])", ValueError, r"concat_backward: .*too large"),
    raises("softmax_axis_2p40", "ops.softmax(np.ones((2, 3), np.float32), axis=2**40)", ValueError, r"softmax: argument 'axis' expected an int in"),
    raises("softmax_axis_out_of_rank", "ops.softmax(np.ones((2, 3), np.float32), axis=5)", ValueError, r"softmax: argument 'axis'"),
    raises("log_softmax_axis_float", "ops.log_softmax(np.ones((2, 3), np.float32), axis=1.0)", TypeError, r"log_softmax: argument 'axis' expected an int"),
    raises("sgd_step_2p63", "ops.sgd_step(np.ones(4, np.float32), np.ones(4, np.float32), lr=0.1, step=2**63)", ValueError, r"sgd_step: argument 'step' expected an int in"),
    raises("adam_step_zero", "z = np.zeros(4, np.float32)\nops.adam_step(z.copy(), z, z.copy(), z.copy(), step=0)", ValueError, r"adam_step: argument 'step' expected an update number >= 1"),
    raises("adam_betas_strings", "z = np.zeros(4, np.float32)\nops.adam_step(z.copy(), z, z.copy(), z.copy(), step=1, betas=('a', 'b'))", TypeError, r"adam_step: argument 'betas' expected a pair of floats"),
    raises("sgd_lr_nan", "ops.sgd_step(np.ones(4, np.float32), np.ones(4, np.float32), lr=float('nan'))", ValueError, r"sgd_step: argument 'lr'"),
    raises("sgd_lr_inf", "ops.sgd_step(np.ones(4, np.float32), np.ones(4, np.float32), lr=float('inf'))", ValueError, r"sgd_step: argument 'lr'"),
    raises("sgd_lr_string", "ops.sgd_step(np.ones(4, np.float32), np.ones(4, np.float32), lr='big')", TypeError, r"^TypeError: sgd_step: arguments of types \(ndarray, ndarray, lr=str\) do not match"),
    raises("sgd_missing_lr", "ops.sgd_step(np.ones(4, np.float32), np.ones(4, np.float32))", TypeError, r"sgd_step: missing argument 'lr'"),
    raises("rmsprop_step_bool", "z = np.zeros(4, np.float32)\nops.rmsprop_step(z.copy(), z, z.copy(), step=True)", TypeError, r"rmsprop_step: argument 'step' expected an int"),
    raises("dropout_seed_negative", "ops.dropout(np.ones(4, np.float32), 0.5, seed=-1)", ValueError, r"dropout: argument 'seed'"),
    raises("dropout_p_one", "ops.dropout(np.ones(4, np.float32), 1.0)", ValueError, r"dropout: argument 'p'"),
    raises("dropout_p_nan", "ops.dropout(np.ones(4, np.float32), float('nan'))", ValueError, r"dropout: argument 'p'"),
    raises("augment_shift_int_min", f"ops.random_flip_translate({X}, shift_height=-2**31)", ValueError, r"random_flip_translate: argument 'shift_height' expected an int k >= 0"),
    raises("augment_shift_huge", f"ops.random_flip_translate({X}, shift_width=2**31 - 1)", ValueError, r"random_flip_translate: argument 'shift_width' expected a range"),
    raises("augment_shift_2p63", f"ops.random_flip_translate({X}, shift_width=2**63)", ValueError, r"random_flip_translate: argument 'shift_width'"),
    raises("augment_seed_2p64", f"ops.random_flip_translate({X}, seed=2**64)", ValueError, r"random_flip_translate: argument 'seed'"),
    raises("batch_norm_channels", "ops.batch_norm(np.ones((2, 3), np.float32), np.ones(4, np.float32), None, None, None)", ValueError, r"batch_norm: argument 'weight'"),
    raises("cross_entropy_label_out_of_range", "ops.cross_entropy(np.ones((2, 3), np.float32), np.array([0, 10**12]))", ValueError, r"cross_entropy: argument 'target'"),
    raises("cross_entropy_label_smoothing_nan", "ops.cross_entropy(np.ones((2, 3), np.float32), np.array([0, 1]), label_smoothing=float('nan'))", ValueError, r"cross_entropy: argument 'label_smoothing'"),
    raises("mse_shape_mismatch", "ops.mse_loss(np.ones((2, 3), np.float32), np.ones((3, 2), np.float32))", ValueError, r"mse_loss: argument 'target'"),
    raises("add_shape_mismatch", "ops.add(np.ones(3, np.float32), np.ones(4, np.float32))", ValueError, r"add: argument 'b'"),
    raises("relu_wrong_keyword_short", "ops.relu(np.ones((1000, 1000), np.float32), inplace=True)", TypeError, r"^TypeError: relu: unexpected keyword argument 'inplace' \(accepted: x\)$"),
    ok("relu_0d", "assert float(np.asarray(ops.relu(np.array(-2.0, np.float32)))) == 0.0"),
    raises("flatten_0d", "ops.flatten(np.array(1.0, np.float32))", ValueError, r"flatten: argument 'x'"),
    ok("flatten_strided_view", "a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)[:, :, ::2]; assert np.array_equal(np.asarray(ops.flatten(a)), a.reshape(2, -1))"),
    raises("tensor_copy_wrong_size", "convnet.zeros([2, 3]).copy_(np.ones(5, np.float32))", ValueError, r"Tensor.copy_: argument 'src' expected 6 elements"),
    raises("tensor_to_bad_device", "convnet.zeros([2]).to('tpu')", ValueError, r"Tensor.to"),
]


@parametrize(PROBES)
def test_probe(probe):
    check(probe)
