"""Each script in examples/ runs, on a small slice of Fashion-MNIST, and writes what it says."""
import importlib.util
import os

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def _example(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_is_tested():
    tested = {"inspect_model", "transfer", "attack", "report"}
    assert {f[:-3] for f in os.listdir(EXAMPLES) if f.endswith(".py")} == tested


def test_inspect_model(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    _example("inspect_model").main(["--device", "cpu", "--epochs", "1", "--limit", "600", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "Receptive field" in out and "precision" in out
    assert {"confusion_matrix.png", "filters.png", "feature_maps.png", "saliency.png", "receptive_field.png",
            "history.png"} <= set(os.listdir(tmp_path))


def test_transfer(tmp_path):
    results = _example("transfer").main(["--device", "cpu", "--labelled", "50", "--pretrain-limit", "600", "--pretrain-epochs", "1",
                                         "--epochs", "2", "--test-limit", "200", "--model", str(tmp_path / "p.cnet")])
    assert all(0 <= acc <= 1 for runs in results.values() for acc, _ in runs)


def test_attack(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    results = _example("attack").main(["--device", "cpu", "--epochs", "1", "--limit", "1500", "--test-limit", "200",
                                       "--out", str(tmp_path)])
    clean, fgsm, pgd = results["plain"]
    assert fgsm < clean and pgd <= fgsm + 0.02
    assert os.path.isfile(tmp_path / "adversarial.png") and "FGSM-trained" in capsys.readouterr().out


def test_report(tmp_path):
    pytest.importorskip("matplotlib")
    page = _example("report").main(["--device", "cpu", "--epochs", "1", "--limit", "600", "--out", str(tmp_path / "r"),
                                    "--save", str(tmp_path / "m.cnet")])
    assert os.path.isfile(page) and os.path.isfile(tmp_path / "m.cnet")
