"""The command line, run as a user would (python -m convnet ...)."""
import subprocess
import sys


def run(*args):
    return subprocess.run([sys.executable, "-m", "convnet", *args], capture_output=True, text=True, timeout=600)


def test_summary_lists_zoo_models():
    for name in ("seed_cnn", "lenet5", "vgg_small", "resnet_small", "mobilenet_small"):
        result = run("summary", "--model", name)
        assert result.returncode == 0, result.stderr
        assert "Total params" in result.stdout and "(None, 10)" in result.stdout


def test_train_evaluate_predict(tmp_path):
    out = tmp_path / "seed.cnet"
    result = run("train", "--model", "seed_cnn", "--epochs", "1", "--limit", "2000", "--device", "cpu",
                 "--schedule", "cosine", "--label-smoothing", "0.1", "--out", str(out))
    assert result.returncode == 0, result.stderr
    accuracy = float(result.stdout.split("test accuracy")[1].split()[0])
    assert accuracy > 0.6, result.stdout
    result = run("evaluate", str(out), "--device", "cpu", "--limit", "2000")
    assert result.returncode == 0 and f"test accuracy {accuracy:.4f}" in result.stdout, result.stdout + result.stderr
    result = run("predict", str(out), "--index", "3", "--device", "cpu")
    assert result.returncode == 0 and "Test image 3: predicted" in result.stdout, result.stderr


def test_errors_are_messages_not_tracebacks(tmp_path):
    result = run("evaluate", str(tmp_path / "missing.cnet"))
    assert result.returncode == 2 and "error:" in result.stderr and "Traceback" not in result.stderr
    result = run("train", "--model", "nope")
    assert result.returncode == 2 and "invalid choice" in result.stderr
    result = run("train", "--epochs", "1", "--batch-size", "0", "--limit", "100")
    assert result.returncode == 2 and "--batch-size" in result.stderr and "Traceback" not in result.stderr
    result = run("train", "--epochs", "1", "--label-smoothing", "1.5", "--limit", "100")
    assert result.returncode == 2 and "label_smoothing" in result.stderr and "Traceback" not in result.stderr
