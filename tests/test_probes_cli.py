"""Probes of the command line (convnet.cli.main, as `convnet ...` runs it): a bad argument or file ends
with exit status 2 and one line naming what was wrong, before any training, never a traceback.
Each runs in a forked child (tests/probe.py), in a fresh working directory."""
from probe import check, ok, parametrize

CLI = """
import contextlib, io
import convnet.cli
def cli(*args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = convnet.cli.main(list(args))
        except SystemExit as e:  # argparse's errors
            status = e.code
    return status, out.getvalue(), err.getvalue()

def refused(pattern, *args):
    import re
    status, out, err = cli(*args)
    assert status == 2, (status, out, err)
    assert re.search(pattern, err), err
    assert "Traceback" not in err and "Training" not in out, (out, err)

def saved(path, classes=10, shape=(1, 28, 28), loss="sparse_categorical_crossentropy", compiled=True):
    m = convnet.Sequential([layers.Input(shape), layers.Flatten(),
                            layers.Dense(classes, activation=None if loss == "mean_squared_error" else "softmax")])
    if compiled:
        m.compile(loss=loss, device="cpu")
    m.save(path)
"""


def cli(name, code, timeout=120):
    return ok(name, CLI + code, timeout)


PROBES = [
    cli("out_unwritable_dir", "refused(r\"--out '/sys/x.cnet': cannot write in directory '/sys'\", "
        "'train', '--limit', '50', '--epochs', '1', '--out', '/sys/x.cnet')"),
    cli("out_is_a_directory", "os.mkdir('d'); refused(r\"--out 'd' is a directory\", "
        "'train', '--limit', '50', '--epochs', '1', '--out', 'd')"),
    cli("out_missing_directory", "refused(r\"directory '.*/nope' does not exist\", "
        "'train', '--limit', '50', '--epochs', '1', '--out', 'nope/m.cnet')"),
    cli("out_read_only_directory", """
if os.geteuid() != 0:  # root writes anywhere: the /sys probe covers it
    os.mkdir("ro"); os.chmod("ro", 0o555)
    refused(r"cannot write in directory", "train", "--limit", "50", "--epochs", "1", "--out", "ro/m.cnet")
"""),
    cli("limit_zero", "refused(r'argument --limit: expected an int >= 1, got 0', 'train', '--limit', '0')"),
    cli("limit_negative", "refused(r'argument --limit: expected an int >= 1, got -5', 'train', '--limit', '-5')"),
    cli("limit_not_a_number", "refused(r\"argument --limit: expected an int >= 1, got 'ten'\", 'train', '--limit', 'ten')"),
    cli("epochs_zero", "refused(r'argument --epochs: expected an int >= 1', 'train', '--epochs', '0')"),
    cli("batch_size_negative", "refused(r'argument --batch-size', 'train', '--batch-size', '-1')"),
    cli("seed_negative", "refused(r'argument --seed', 'train', '--seed', '-1')"),
    cli("lr_negative", "refused(r\"--lr: argument 'learning_rate' expected a finite value >= 0\", "
        "'train', '--limit', '50', '--lr', '-1')"),
    cli("lr_nan", "refused(r'--lr: .*nan', 'train', '--limit', '50', '--lr', 'nan')"),
    cli("label_smoothing_nan", "refused(r'label_smoothing', 'train', '--limit', '50', '--label-smoothing', 'nan')"),
    cli("device_unknown", "refused(r\"argument 'device' expected 'auto', 'cpu'\", 'train', '--limit', '50', "
        "'--device', 'gpu')"),
    cli("model_unknown", "refused(r'invalid choice', 'train', '--model', 'resnet1000')"),
    cli("data_missing_directory", "refused(r'/nonexistent/dir', 'train', '--limit', '50', '--data', '/nonexistent/dir')"),
    cli("data_empty_directory", "saved('m.cnet'); os.mkdir('empty'); refused(r'empty', 'evaluate', 'm.cnet', '--data', 'empty')"),
    cli("evaluate_a_directory", "os.mkdir('d'); refused(r\"directory.*'d'|'d'.*directory\", 'evaluate', 'd')"),
    cli("evaluate_missing_file", "refused(r'missing.cnet', 'evaluate', 'missing.cnet')"),
    cli("evaluate_garbage_file", "open('g.cnet', 'wb').write(b'not a model' * 10); "
        "refused(r'g.cnet', 'evaluate', 'g.cnet')"),
    cli("evaluate_empty_file", "open('e.cnet', 'wb').close(); refused(r'e.cnet', 'evaluate', 'e.cnet')"),
    cli("evaluate_uncompiled_model", "saved('u.cnet', compiled=False); refused(r'saved uncompiled', 'evaluate', 'u.cnet')"),
    cli("evaluate_five_class_model", "saved('m5.cnet', classes=5); refused(r\"evaluate: argument 'y'\", "
        "'evaluate', 'm5.cnet', '--limit', '100')"),
    cli("evaluate_other_input_shape", "saved('s.cnet', shape=(3, 32, 32)); "
        "refused(r\"evaluate: argument 'x' expected samples of shape \\(3, 32, 32\\)\", 'evaluate', 's.cnet')"),
    cli("evaluate_mse_model_prints_loss", """
saved("r.cnet", loss="mean_squared_error")
status, out, err = cli("evaluate", "r.cnet", "--limit", "100")
assert status == 2 and "Traceback" not in err, (status, out, err)  # its targets are rows of 10, not labels
"""),
    cli("evaluate_limit_zero", "refused(r'--limit', 'evaluate', 'm.cnet', '--limit', '0')"),
    cli("predict_twelve_class_model", "saved('m12.cnet', classes=12); "
        "refused(r'the model has 12 outputs per image; a Fashion-MNIST classifier has 10', 'predict', 'm12.cnet')"),
    cli("predict_index_out_of_range", "saved('m.cnet'); refused(r'--index expected a value in \\[0, 10000\\), got 10000',"
        " 'predict', 'm.cnet', '--index', '10000')"),
    cli("predict_index_negative", "refused(r'argument --index: expected an int >= 0', 'predict', 'm.cnet', '--index', '-1')"),
    cli("predict_works", """
saved("m.cnet")
status, out, err = cli("predict", "m.cnet", "--index", "3", "--device", "cpu")
assert status == 0 and "Test image 3: predicted" in out, (status, out, err)
"""),
    cli("summary_garbage_file", "open('g.cnet', 'wb').write(b'x' * 100); refused(r'g.cnet', 'summary', '--model', 'g.cnet')"),
    cli("summary_missing_file", "refused(r'nope.cnet', 'summary', '--model', 'nope.cnet')"),
    cli("train_saves_after_checks", """
status, out, err = cli("train", "--limit", "64", "--epochs", "1", "--device", "cpu", "--out", "t.cnet")
assert status == 0 and "on 64 Fashion-MNIST images" in out, (status, out, err)
assert convnet.load_model("t.cnet").evaluate is not None
""", timeout=300),
    cli("no_command", "refused(r'required', )"),
]


@parametrize(PROBES)
def test_probe(probe):
    check(probe)
