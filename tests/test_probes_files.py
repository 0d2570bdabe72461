"""Probes of the file boundaries (issue 12): model files, saves, data set files and directories. Each
probe runs in a forked child in a fresh temporary directory (tests/probe.py), so a crash or a hang
fails one probe; each must end normally or with a clear error naming the file and what is wrong."""

from probe import check, ok, parametrize, raises

# A saved model (m.cnet) and helpers that rewrite it.
MODEL = """
import copy, json, struct
from convnet import serialization as S

model = convnet.Sequential([layers.Input((1, 6, 6)), layers.Conv2D(2, 3, activation="relu"), layers.Flatten(),
                            layers.Dense(3, activation="softmax")])
model.compile()
model.save("m.cnet")
CONFIG, TENSORS, _ = S.load_model_file("m.cnet")
DATA = open("m.cnet", "rb").read()
HEADER_LEN = struct.unpack("<Q", DATA[:8])[0]
HEADER = json.loads(DATA[8:8 + HEADER_LEN])

def with_config(edit, path="m.cnet"):
    '''Saves CONFIG changed by edit(config) (a deep copy) with the model's tensors.'''
    config = copy.deepcopy(CONFIG)
    edit(config)
    S.save_model_file(path, config, TENSORS)

def with_tensors(edit, path="m.cnet"):
    tensors = dict(TENSORS)
    edit(tensors)
    S.save_model_file(path, CONFIG, tensors)

def with_header(header, path="m.cnet"):
    '''The file with another safetensors JSON header (the tensor bytes kept).'''
    raw = json.dumps(header).encode()
    open(path, "wb").write(struct.pack("<Q", len(raw)) + raw + DATA[8 + HEADER_LEN:])

def metadata(**changes):
    header = copy.deepcopy(HEADER)
    header["__metadata__"].update(changes)
    return header

def layer(config, i):
    return config["layers"][i]["config"]

def load(path="m.cnet"):
    return convnet.load_model(path, device="cpu")
"""

FUNCTIONAL = """
from convnet import serialization as S
x = layers.Input((4,))
h = layers.Dense(3, name="hidden")(x)
y = layers.Dense(2, name="out")(h)
convnet.Model(x, [h, y]).save("f.cnet")
FCONFIG, FTENSORS, _ = S.load_model_file("f.cnet")

def with_fconfig(edit):
    import copy
    config = copy.deepcopy(FCONFIG)
    edit(config)
    S.save_model_file("f.cnet", config, FTENSORS)
"""

# Fashion-MNIST-like IDX files.
IDX = """
import gzip, struct, zlib
from convnet.datasets import fashion_mnist as fm
from convnet.datasets.idx import read_idx, write_idx

def idx(dims, payload=None, code=0x08):
    header = struct.pack(f">BBBB{len(dims)}I", 0, 0, code, len(dims), *dims)
    size = int(np.prod(dims)) if dims else 0
    return header + (bytes(size) if payload is None else payload)

def put(name, data):
    open(name, "wb").write(data)
    return name

def dataset(directory, n=3):
    os.makedirs(directory, exist_ok=True)
    for split in ("train", "t10k"):
        write_idx(f"{directory}/{split}-images-idx3-ubyte.gz", np.zeros((n, 28, 28), np.uint8))
        write_idx(f"{directory}/{split}-labels-idx1-ubyte.gz", np.zeros(n, np.uint8))
"""

AS_NOBODY = """
if os.geteuid() == 0:  # root writes anywhere: drop to nobody to see the permission error
    os.chmod(".", 0o711)
    os.setgid(65534)
    os.setuid(65534)
"""


def model_probe(name, code, error, match, **kw):
    return raises(name, MODEL + code, error, match, **kw)


def config_probe(name, edit, match):
    """A model file whose config `edit` (source of a statement on `c`) breaks: a ValueError naming the
    file and `match`."""
    return raises(name, MODEL + f"with_config(lambda c: {edit})\nload()", ValueError, r"load_model: convnet model file "
                  r"'m\.cnet': model config.*" + match)


PROBES = [
    # ------------------------------------------------------------------------------ model files: bytes
    model_probe("load_missing", "load('absent.cnet')", FileNotFoundError, r"load_model: cannot read 'absent\.cnet'"),
    model_probe("load_empty", "open('m.cnet', 'wb').close(); load()", ValueError, r"'m\.cnet'.*truncated"),
    model_probe("load_7_bytes", "open('m.cnet', 'wb').write(DATA[:7]); load()", ValueError, r"'m\.cnet'.*too short"),
    model_probe("load_truncated_header", "open('m.cnet', 'wb').write(DATA[:40]); load()", ValueError,
                r"'m\.cnet'.*header length"),
    model_probe("load_truncated_tensors", "open('m.cnet', 'wb').write(DATA[:-9]); load()", ValueError,
                r"'m\.cnet'.*truncated or corrupted"),
    model_probe("load_random_bytes", "open('m.cnet', 'wb').write(os.urandom(5000)); load()", ValueError,
                r"'m\.cnet'.*corrupted"),
    model_probe("load_png_magic", "open('m.cnet', 'wb').write(b'\\x89PNG\\r\\n\\x1a\\n' + DATA[8:]); load()", ValueError,
                r"'m\.cnet'.*header length"),
    model_probe("load_header_length_huge", "open('m.cnet', 'wb').write(struct.pack('<Q', 2**63) + DATA[8:]); load()",
                ValueError, r"'m\.cnet'.*header length 9223372036854775808 exceeds"),
    model_probe("load_header_length_negative", "open('m.cnet', 'wb').write(struct.pack('<q', -8) + DATA[8:]); load()",
                ValueError, r"'m\.cnet'.*header length"),
    model_probe("load_header_not_json",
                "open('m.cnet', 'wb').write(DATA[:8] + b'{not json' + DATA[17:]); load()", ValueError,
                r"'m\.cnet'.*header is not JSON"),
    model_probe("load_header_list", "with_header([1, 2]); load()", ValueError, r"'m\.cnet'.*expected a JSON object"),
    model_probe("load_header_nested_deep", "open('m.cnet', 'wb').write(struct.pack('<Q', 200000) + b'[' * 200000); "
                "load()", ValueError, r"'m\.cnet'.*not JSON"),
    model_probe("load_tensor_offsets_junk",
                "h = copy.deepcopy(HEADER); h['dense/kernel']['data_offsets'] = [-5, 'x']; with_header(h); load()",
                ValueError, r"'m\.cnet'.*corrupted"),
    model_probe("load_no_metadata", "h = copy.deepcopy(HEADER); del h['__metadata__']; with_header(h); load()",
                ValueError, r"'m\.cnet'.*not a convnet model \(no metadata\)"),
    model_probe("load_metadata_not_strings", "with_header(metadata(format_version=1)); load()", ValueError,
                r"'m\.cnet'.*'__metadata__' expected an object of strings"),
    model_probe("load_metadata_list", "h = copy.deepcopy(HEADER); h['__metadata__'] = ['a']; with_header(h); load()",
                ValueError, r"'m\.cnet'.*__metadata__"),
    model_probe("load_other_format", "with_header(metadata(format='onnx')); load()", ValueError,
                r"'m\.cnet'.*not a convnet model \(format='onnx'\)"),
    model_probe("load_format_version_2", "with_header(metadata(format_version='2')); load()", ValueError,
                r"'m\.cnet'.*format_version '2'"),
    model_probe("load_config_missing", "h = copy.deepcopy(HEADER); del h['__metadata__']['config']; with_header(h); "
                "load()", ValueError, r"'m\.cnet'.*missing or invalid 'config'"),
    model_probe("load_config_not_json", "with_header(metadata(config='{oops')); load()", ValueError,
                r"'m\.cnet'.*invalid 'config'"),
    model_probe("load_config_a_list", "with_header(metadata(config='[1]')); load()", ValueError,
                r"'m\.cnet'.*'config' metadata expected a JSON object, got list"),
    # ------------------------------------------------------------------------------ model files: configs
    config_probe("config_history_not_object", "c.update(history=[1])", r"key 'history' expected dict"),
    config_probe("config_history_epoch_junk", "c.update(history={'epoch': 'x', 'logs': {}})",
                 r"history: key 'epoch' expected a list of ints"),
    config_probe("config_history_logs_short", "c.update(history={'epoch': [0, 1], 'logs': {'loss': [0.5]}})",
                 r"history: logs\['loss'\] expected 2 numbers"),
    config_probe("config_history_logs_strings", "c.update(history={'epoch': [0], 'logs': {'loss': ['a']}})",
                 r"history: logs\['loss'\] expected 1 numbers"),
    config_probe("config_empty_layers", "c.update(layers=[])", r"no input or no layers"),
    config_probe("config_no_input", "c.update(input=None)", r"no input or no layers"),
    config_probe("config_layers_not_list", "c.update(layers={'a': 1})", r"key 'layers' expected list, got \{'a': 1\}"),
    config_probe("config_layer_entry_list", "c.update(layers=[[1, 2]])", r"layers\[0\]: expected a layer entry"),
    config_probe("config_layer_no_class_name", "c['layers'][1].pop('class_name')", r"layers\[1\]: missing key 'class_name'"),
    config_probe("config_layer_config_string", "c['layers'][1].update(config='x')", r"layers\[1\]: key 'config' expected dict"),
    config_probe("config_unknown_layer", "c['layers'][1].update(class_name='Conv3D')", r"layers\[1\].*unknown layer 'Conv3D'"),
    config_probe("config_class_name_junk", "c.update(class_name='Foo')", r"key 'class_name' expected 'Model' or 'Sequential'"),
    config_probe("config_name_int", "c.update(name=5)", r"key 'name' expected str or null, got 5"),
    config_probe("config_trainable_string", "c.update(trainable='yes')", r"key 'trainable' expected bool"),
    config_probe("config_seed_string", "c.update(seed='abc')", r"key 'seed' expected int, got 'abc'"),
    config_probe("config_seed_negative", "c.update(seed=-1)", r"key 'seed' expected an int in \[0, 2\*\*63\), got -1"),
    config_probe("config_frozen_junk", "c.update(frozen=3)", r"key 'frozen' expected list"),
    config_probe("config_compile_missing_optimizer", "c['compile'].pop('optimizer')", r"compile: missing key 'optimizer'"),
    config_probe("config_compile_unknown_optimizer", "c['compile'].update(optimizer='lbfgs')",
                 r": compile: unknown optimizer 'lbfgs'"),
    config_probe("config_compile_bad_optimizer_key", "c['compile']['optimizer']['config'].update(bogus=1)", r"bogus"),
    config_probe("config_compile_unknown_loss", "c['compile'].update(loss={'class_name': 'Hinge'})", r"unknown loss 'Hinge'"),
    config_probe("config_compile_list", "c.update(compile=[1])", r"key 'compile' expected dict"),
    config_probe("config_input_shape_string", "c['input'].update(shape='abc')", r"input: InputLayer config: key 'shape'"),
    config_probe("config_input_shape_zero", "c['input'].update(shape=[1, 0, 6])", r"input: .*positive sizes"),
    config_probe("config_input_unknown_key", "c['input'].update(color=1)", r"input: InputLayer config: unknown key 'color'"),
    config_probe("config_units_string", "layer(c, 2).update(units='abc')", r"layers\[2\] \('dense'\).*'units'.*'abc'"),
    config_probe("config_units_float", "layer(c, 2).update(units=3.5)", r"layers\[2\] \('dense'\).*'units'.*3\.5"),
    config_probe("config_units_bool", "layer(c, 2).update(units=True)", r"layers\[2\] \('dense'\).*'units'"),
    config_probe("config_units_2_70", "layer(c, 2).update(units=2**70)", r"layers\[2\] \('dense'\).*key 'units'"),
    config_probe("config_filters_negative", "layer(c, 0).update(filters=-3)", r"layers\[0\] \('conv2d'\).*'filters'.*-3"),
    config_probe("config_kernel_size_empty", "layer(c, 0).update(kernel_size=[])", r"layers\[0\].*'kernel_size'.*\[\]"),
    config_probe("config_kernel_size_nested", "layer(c, 0).update(kernel_size=[[3], {}])", r"layers\[0\].*'kernel_size'"),
    config_probe("config_activation_unknown", "layer(c, 2).update(activation='nope')", r"layers\[2\].*activation 'nope'"),
    config_probe("config_activation_int", "layer(c, 2).update(activation=7)", r"layers\[2\].*activation 7"),
    config_probe("config_unknown_layer_key", "layer(c, 2).update(bogus=1)", r"layers\[2\].*Dense config: unknown key 'bogus'"),
    config_probe("config_use_bias_nested_junk", "layer(c, 2).update(use_bias={'a': [1, {}]})", r"layers\[2\].*'use_bias'"),
    config_probe("config_padding_junk", "layer(c, 0).update(padding='sideways')", r"layers\[0\].*'padding'"),
    config_probe("config_initializer_junk", "layer(c, 2).update(kernel_initializer='magic')", r"layers\[2\].*initializer 'magic'"),
    config_probe("config_layer_name_int", "layer(c, 2).update(name=3)", r"layers\[2\].*'name'"),
    config_probe("config_dense_on_image", "c['layers'].pop(1)", r"dense"),  # Dense straight on (2, 4, 4): the core says
    config_probe("config_filters_huge", "layer(c, 0).update(filters=10**12)", r"conv2d.*filters"),
    config_probe("config_nested_model_junk", "c['layers'].insert(0, {'class_name': 'Sequential', 'config': {'layers': 5}})",
                 r"layers\[0\] \(Sequential\): key 'layers' expected list"),
    raises("config_functional_unknown_inbound",
           FUNCTIONAL + "with_fconfig(lambda c: c['layers'][1].update(inbound=[['nope', 0]]))\nconvnet.load_model('f.cnet')",
           ValueError, r"'f\.cnet'.*layers\[1\] \('out'\) inbound.*\['nope', 0\]"),
    raises("config_functional_inbound_junk",
           FUNCTIONAL + "with_fconfig(lambda c: c['layers'][0].update(inbound=[[{}, 'x']]))\nconvnet.load_model('f.cnet')",
           ValueError, r"'f\.cnet'.*layers\[0\] \('hidden'\) inbound"),
    raises("config_functional_layer_name_missing",
           FUNCTIONAL + "with_fconfig(lambda c: c['layers'][1]['config'].pop('name'))\nconvnet.load_model('f.cnet')",
           ValueError, r"'f\.cnet'.*layers\[1\]: missing key 'name'"),
    raises("config_functional_no_inbound",
           FUNCTIONAL + "with_fconfig(lambda c: c['layers'][0].pop('inbound'))\nconvnet.load_model('f.cnet')",
           ValueError, r"'f\.cnet'.*layers\[0\]: missing key 'inbound'"),
    raises("config_functional_outputs_empty",
           FUNCTIONAL + "with_fconfig(lambda c: c.update(outputs=[]))\nconvnet.load_model('f.cnet')",
           ValueError, r"'f\.cnet'.*'outputs' expected at least one output"),
    raises("config_functional_output_call_index",
           FUNCTIONAL + "with_fconfig(lambda c: c.update(outputs=[['out', 7]]))\nconvnet.load_model('f.cnet')",
           ValueError, r"'f\.cnet'.*outputs.*\['out', 7\]"),
    raises("config_functional_empty_layers",
           FUNCTIONAL + "with_fconfig(lambda c: c.update(layers=[]))\nconvnet.load_model('f.cnet')",
           ValueError, r"'f\.cnet'.*functional Model expected an 'input' and at least one layer"),
    raises("config_custom_layer_unknown_key", """
@layers.register
class Twice(layers.Layer):
    def __init__(self, units=2, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(units)

    def call(self, x):
        return self.dense(x)

    def get_config(self):
        return dict(super().get_config(), units=self.dense.units)

assert isinstance(Twice.from_config({"units": 3, "name": "t"}), Twice)
Twice.from_config({"units": 3, "bogus": 1})
""", ValueError, r"Twice config: .*'bogus'"),
    raises("config_model_from_config_not_dict", "convnet.models.model_from_config([1])", ValueError,
           r"model_from_config: model config expected a JSON object"),
    # ------------------------------------------------------------------------------ model files: tensors
    model_probe("tensor_missing", "with_tensors(lambda t: t.pop('dense/kernel')); load()", ValueError,
                r"'m\.cnet'.*missing tensor 'dense/kernel'"),
    model_probe("tensor_extra", "with_tensors(lambda t: t.update(extra=np.zeros(2, np.float32))); load()", ValueError,
                r"'m\.cnet'.*unexpected tensor 'extra'"),
    model_probe("tensor_wrong_dtype", "with_tensors(lambda t: t.update({'dense/bias': t['dense/bias'].astype(np.int32)}));"
                " load()", ValueError, r"'m\.cnet'.*'dense/bias' expected float32 of shape \(3,\), got int32"),
    model_probe("tensor_wrong_shape", "with_tensors(lambda t: t.update({'dense/bias': np.zeros(4, np.float32)})); load()",
                ValueError, r"'m\.cnet'.*'dense/bias' expected float32 of shape \(3,\).*\(4,\)"),
    model_probe("tensor_nan", "with_tensors(lambda t: t.update({'dense/kernel': t['dense/kernel'] * np.nan})); load()",
                ValueError, r"'m\.cnet'.*tensor 'dense/kernel' holds NaN or infinite values"),
    model_probe("tensor_inf", "with_tensors(lambda t: t.update({'conv2d/bias': np.full(2, np.inf, np.float32)})); load()",
                ValueError, r"'m\.cnet'.*tensor 'conv2d/bias' holds NaN"),
    model_probe("tensor_optimizer_step_float",
                "with_tensors(lambda t: t.update({'optimizer/step': np.zeros(1, np.float32)})); load()", ValueError,
                r"'m\.cnet'.*'optimizer/step' expected int64"),
    model_probe("tensor_bits_flipped", "d = bytearray(DATA); d[-5] ^= 0x40; open('m.cnet', 'wb').write(d); load()",
                ValueError, r"'m\.cnet'.*tensors_sha256 does not match"),
    ok("tensor_no_optimizer_state_loads",
       MODEL + "with_tensors(lambda t: [t.pop(k) for k in list(t) if k.startswith('optimizer/')]); load()"),
    # ------------------------------------------------------------------------------ model files: what the path is
    model_probe("load_fifo", "os.mkfifo('p.cnet'); load('p.cnet')", OSError,
                r"load_model: cannot read 'p\.cnet': expected a regular file, got a named pipe \(FIFO\)", timeout=20),
    model_probe("load_directory", "os.mkdir('d.cnet'); load('d.cnet')", IsADirectoryError,
                r"'d\.cnet'.*got a directory"),
    model_probe("load_dev_urandom", "load('/dev/urandom')", OSError, r"'/dev/urandom'.*character device", timeout=20),
    model_probe("load_dev_null", "load('/dev/null')", OSError, r"'/dev/null'.*character device"),
    model_probe("load_symlink_loop", "os.symlink('a.cnet', 'b.cnet'); os.symlink('b.cnet', 'a.cnet'); load('a.cnet')",
                OSError, r"load_model: cannot read 'a\.cnet'"),
    model_probe("load_dangling_symlink", "os.symlink('gone.cnet', 'l.cnet'); load('l.cnet')", FileNotFoundError,
                r"'l\.cnet'"),
    model_probe("load_path_int", "load(3)", TypeError, r"load_model: argument 'path' expected str, bytes or os.PathLike, got int"),
    model_probe("load_path_nul", "load('m\\0.cnet')", ValueError, r"load_model: argument 'path'"),
    ok("load_bytes_path", MODEL + "assert load(os.fsencode(os.path.abspath('m.cnet'))).count_params() == model.count_params()"),
    ok("load_pathlike", MODEL + "import pathlib\nassert load(pathlib.Path('m.cnet')).count_params() == model.count_params()"),
    ok("load_symlink_follows", MODEL + "os.symlink('m.cnet', 'l.cnet'); load('l.cnet')"),
    # ------------------------------------------------------------------------------ saving
    ok("save_bytes_path", MODEL + "os.remove('m.cnet'); model.save(b'm.cnet'); assert os.listdir('.') == ['m.cnet']; load()"),
    ok("save_pathlike", MODEL + "import pathlib\nmodel.save(pathlib.Path('p.cnet')); load('p.cnet')"),
    model_probe("save_path_int", "model.save(42)", TypeError, r"save: argument 'path' expected str, bytes or os.PathLike, got int"),
    model_probe("save_path_list", "model.save(['m.cnet'])", TypeError, r"save: argument 'path'.*got list"),
    model_probe("save_onto_directory", "os.mkdir('d.cnet'); model.save('d.cnet')", IsADirectoryError,
                r"save: cannot write 'd\.cnet': expected a regular file or a new name, got a directory"),
    ok("save_onto_fifo_refused", MODEL + "import stat\nos.mkfifo('p.cnet')\n"
       "try:\n    model.save('p.cnet')\nexcept OSError as e:\n    assert 'named pipe' in str(e) and 'p.cnet' in str(e), e\n"
       "else:\n    raise AssertionError('saved onto a FIFO')\nassert stat.S_ISFIFO(os.lstat('p.cnet').st_mode)", timeout=20),
    model_probe("save_into_missing_directory", "model.save('nowhere/m.cnet')", FileNotFoundError,
                r"save: cannot write 'nowhere/m\.cnet'"),
    model_probe("save_unwritable_directory", "os.mkdir('ro', 0o555)\n" + AS_NOBODY + "model.save('ro/m.cnet')",
                PermissionError, r"save: cannot write 'ro/m\.cnet': Permission denied"),
    ok("save_onto_symlink_replaces_its_target", MODEL + "os.mkdir('real')\nos.rename('m.cnet', 'real/m.cnet')\n"
       "os.symlink('real/m.cnet', 'link.cnet')\nmodel.save('link.cnet')\n"
       "assert os.path.islink('link.cnet') and os.readlink('link.cnet') == 'real/m.cnet'\n"
       "assert sorted(os.listdir('real')) == ['m.cnet'] and sorted(os.listdir('.')) == ['link.cnet', 'real']\n"
       "load('link.cnet')"),
    ok("save_onto_dangling_symlink_creates_target", MODEL + "os.symlink('new.cnet', 'link.cnet')\nmodel.save('link.cnet')\n"
       "assert os.path.islink('link.cnet') and os.path.isfile('new.cnet')\nload('new.cnet')"),
    model_probe("save_onto_symlink_loop", "os.symlink('a.cnet', 'b.cnet'); os.symlink('b.cnet', 'a.cnet'); "
                "model.save('a.cnet')", OSError, r"save: cannot write 'a\.cnet'"),
    ok("save_mode_follows_umask", MODEL + "import stat\nos.umask(0o022); model.save('a.cnet'); os.umask(0o077); "
       "model.save('b.cnet')\nassert stat.S_IMODE(os.stat('a.cnet').st_mode) == 0o644, oct(os.stat('a.cnet').st_mode)\n"
       "assert stat.S_IMODE(os.stat('b.cnet').st_mode) == 0o600"),
    ok("save_keeps_existing_mode", MODEL + "import stat\nos.chmod('m.cnet', 0o640); os.umask(0o077); model.save('m.cnet')\n"
       "assert stat.S_IMODE(os.stat('m.cnet').st_mode) == 0o640"),
    ok("save_leaves_no_temporary", MODEL + "for _ in range(3):\n    model.save('m.cnet')\nassert os.listdir('.') == ['m.cnet']"),
    ok("save_named_fallback_leaves_no_temporary", MODEL + "S._O_TMPFILE = None\nmodel.save('m.cnet')\n"
       "assert os.listdir('.') == ['m.cnet']\nload()"),
    ok("save_removes_stale_temporaries_only", MODEL + "import fcntl\n"
       "for name in ('.m.cnet.ab12cd34.tmp', '.m.cnet.k9_x2ztq.tmp', '.m.cnet.live0000.tmp', '.m.cnet.notmine.tmp', "
       "'.m.cnet2.ab12cd34.tmp', '.m.cnet.ab12cd34.tmp.bak'):\n    open(name, 'wb').write(b'x' * 1000)\n"
       "live = open('.m.cnet.live0000.tmp', 'rb'); fcntl.flock(live, fcntl.LOCK_EX)  # a save in progress\n"
       "model.save('m.cnet')\n"
       "assert sorted(os.listdir('.')) == ['.m.cnet.ab12cd34.tmp.bak', '.m.cnet.live0000.tmp', '.m.cnet.notmine.tmp', "
       "'.m.cnet2.ab12cd34.tmp', 'm.cnet'], os.listdir('.')"),
    # ------------------------------------------------------------------------------ data set files
    raises("idx_empty", IDX + "read_idx(put('x', b''))", ValueError, r"IDX file 'x': truncated"),
    raises("idx_bad_gzip", IDX + "read_idx(put('x.gz', b'\\x1f\\x8b' + b'junk' * 20))", ValueError,
           r"IDX file 'x\.gz': corrupted or truncated gzip"),
    raises("idx_truncated_gzip", IDX + "read_idx(put('x.gz', gzip.compress(idx([100, 28, 28]))[:-30]))", ValueError,
           r"IDX file 'x\.gz': corrupted or truncated gzip"),
    raises("idx_gzip_crc", IDX + "d = bytearray(gzip.compress(idx([10]))); d[-8] ^= 1; read_idx(put('x.gz', bytes(d)))",
           ValueError, r"IDX file 'x\.gz': corrupted"),
    raises("idx_bad_magic", IDX + "read_idx(put('x', b'GIF8' + bytes(100)))", ValueError, r"'x'.*magic number 0x47494638"),
    raises("idx_float_element_type", IDX + "read_idx(put('x', idx([2], bytes(8), code=0x0D)))", ValueError,
           r"'x'.*element type 0x0d"),
    raises("idx_wrong_rank", IDX + "read_idx(put('x', idx([2, 2])))", ValueError, r"'x'.*magic number 0x00000802"),
    raises("idx_truncated_header", IDX + "read_idx(put('x', idx([5, 28, 28])[:9]))", ValueError,
           r"'x': truncated header"),
    raises("idx_truncated_data", IDX + "read_idx(put('x', idx([5, 28, 28])[:-1]))", ValueError,
           r"'x': truncated data.*3919 bytes of the 3920"),
    raises("idx_trailing_bytes", IDX + "read_idx(put('x', idx([5]) + b'\\0'))", ValueError, r"'x': trailing data"),
    raises("idx_trailing_bytes_gz", IDX + "read_idx(put('x.gz', gzip.compress(idx([5]) + b'\\0' * 7)))", ValueError,
           r"'x\.gz': trailing data"),
    raises("idx_header_claims_huge", IDX + "read_idx(put('x', idx([2**32 - 1] * 3, b'')))", ValueError,
           r"'x'.*more than the \d+ this reader accepts"),
    raises("idx_header_claims_more_than_gz_holds", IDX + "read_idx(put('x.gz', gzip.compress(idx([10**6, 28, 28], b'\\0' * 99))))",
           ValueError, r"'x\.gz'.*truncated data"),
    ok("idx_lying_header_bounded_memory", IDX + """
import resource
# 7840 bytes announced, 300 MB in the stream: rejected after reading 7841 of them
z = zlib.compressobj(1, zlib.DEFLATED, 31)
parts = [z.compress(idx([10, 28, 28]))] + [z.compress(bytes(1 << 20)) for _ in range(300)] + [z.flush()]
put('x.gz', b''.join(parts))
del parts
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    read_idx('x.gz')
except ValueError as e:
    assert "'x.gz': trailing data" in str(e), e
else:
    raise AssertionError('accepted trailing data')
grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before  # KiB
assert grew < 50_000, f'memory grew by {grew} KiB'
"""),
    raises("idx_fifo", IDX + "os.mkfifo('x'); read_idx('x')", OSError, r"read_idx: cannot read 'x'.*named pipe",
           timeout=20),
    raises("idx_directory", IDX + "os.mkdir('x'); read_idx('x')", IsADirectoryError, r"'x'.*directory"),
    raises("idx_path_int", IDX + "read_idx(5)", TypeError, r"read_idx: argument 'path'"),
    ok("idx_bytes_and_pathlike_paths", IDX + "import pathlib\nput('x', idx([3]))\n"
       "assert read_idx(b'x').shape == (3,) and read_idx(pathlib.Path('x')).shape == (3,)"),
    raises("data_dir_missing", IDX + "fm.load_data('/nonexistent/dir', allow_download=False)", FileNotFoundError,
           r"Fashion-MNIST data directory '/nonexistent/dir' does not exist"),
    raises("data_dir_is_a_file", IDX + "put('f', b''); fm.load_data('f', allow_download=False)", FileNotFoundError,
           r"data directory 'f' is not a directory"),
    raises("data_dir_lacks_files", IDX + "dataset('d'); os.remove('d/train-labels-idx1-ubyte.gz'); fm.load_data('d')",
           FileNotFoundError, r"data directory 'd' lacks train-labels-idx1-ubyte"),
    raises("data_dir_int", IDX + "fm.load_data(7)", TypeError, r"argument 'path' expected str, bytes or os.PathLike"),
    ok("data_dir_bytes_and_pathlike", IDX + "import pathlib\ndataset('d')\n"
       "assert len(fm.load_data(b'd')[0][0]) == 3 and len(fm.load_data(pathlib.Path('d'))[1][0]) == 3"),
    raises("data_dir_corrupted_file_named", IDX + "dataset('d'); put('d/t10k-images-idx3-ubyte.gz', b'\\x1f\\x8bxx'); "
           "fm.load_data('d')", ValueError, r"/d/t10k-images-idx3-ubyte\.gz'.*gzip"),
    ok("cli_data_missing_dir", "import contextlib, io\nfrom convnet import cli\nerr = io.StringIO()\n"
       "with contextlib.redirect_stderr(err):\n    code = cli.main(['train', '--data', '/nonexistent/dir', '--epochs', '1'])\n"
       "assert code == 2 and \"'/nonexistent/dir' does not exist\" in err.getvalue(), err.getvalue()"),
]


# Sizes the C++ core refuses (checked size arithmetic), or cannot allocate, named with the file and the layer.
PROBES += [
    config_probe("config_input_shape_huge", "c['input'].update(shape=[1, 2**31, 2**31])", r"input_layer|conv2d"),
    raises("config_units_2_31", MODEL + "with_config(lambda c: layer(c, 2).update(units=2**31 - 1))\nload()",
           MemoryError, r"load_model: convnet model file 'm\.cnet': layer 'dense' \(linear\) \(weight \(2147483647, "),
]

# Paths taken by the callbacks and the command line.
PROBES += [
    ok("checkpoint_bytes_path", "m = convnet.Sequential([layers.Input((4,)), layers.Dense(2, activation='softmax')])\n"
       "m.compile()\nm.fit(np.zeros((8, 4), np.float32), np.zeros(8, np.int64), epochs=1, verbose=0, "
       "callbacks=[convnet.callbacks.ModelCheckpoint(b'ck.cnet', monitor='loss')])\nassert os.listdir('.') == ['ck.cnet']"),
    ok("cli_model_not_a_regular_file", "import contextlib, io\nfrom convnet import cli\nerr = io.StringIO()\n"
       "with contextlib.redirect_stderr(err):\n    code = cli.main(['summary', '--model', '/dev/urandom'])\n"
       "assert code == 2 and \"'/dev/urandom'\" in err.getvalue(), err.getvalue()"),
]


@parametrize(PROBES)
def test_probe(probe):
    check(probe)


