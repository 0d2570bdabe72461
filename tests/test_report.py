"""The HTML report (convnet.report.write, `convnet report`, `convnet train --report`) and `convnet attack`."""
import html.parser
import os
import subprocess
import sys

import numpy as np
import pytest

import convnet

pytest.importorskip("matplotlib")


def run(*args):
    return subprocess.run([sys.executable, "-m", "convnet", *args], capture_output=True, text=True, timeout=600)


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources, self.headings, self._in_heading = [], [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("img", "a", "link", "script") and (attrs.get("src") or attrs.get("href")):
            self.sources.append(attrs.get("src") or attrs.get("href"))
        self._in_heading = tag == "h2"

    def handle_data(self, data):
        if self._in_heading:
            self.headings.append(data)
            self._in_heading = False


def _links(page):
    parser = _Links()
    with open(page, encoding="utf-8") as f:
        parser.feed(f.read())
    return parser


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from convnet.datasets import fashion_mnist

    (x, y), (xt, yt) = fashion_mnist.load_data()
    convnet.set_random_seed(0)
    model = convnet.zoo.seed_cnn()
    model.compile("adam", metrics=["accuracy"], device="cpu")
    model.fit(x[:3000], y[:3000], epochs=2, verbose=0, validation_data=(xt[:500], yt[:500]))
    path = tmp_path_factory.mktemp("report") / "seed.cnet"
    model.save(path)
    return path, xt[:300], yt[:300]


def test_the_report_page_links_only_files_it_wrote_and_has_every_section(trained, tmp_path):
    path, x, y = trained
    page = convnet.report.write(convnet.load_model(path, device="cpu"), x, y, tmp_path / "out", attack_limit=100, pgd_steps=3)
    assert page == os.path.join(str(tmp_path / "out"), "index.html")
    links = _links(page)
    written = set(os.listdir(tmp_path / "out"))
    assert links.sources and all(src in written for src in links.sources), (links.sources, written)
    assert written == set(links.sources) | {"index.html"}  # nothing written that the page does not show
    for section in ("Summary", "Training curves", "Test set", "Filters", "Feature maps", "Saliency",
                    "Adversarial robustness"):
        assert any(h.startswith(section) for h in links.headings), (section, links.headings)
    text = open(page, encoding="utf-8").read()
    assert "Receptive field" in text and "precision" in text and "Ankle boot" in text


def test_convnet_report_and_attack_from_the_command_line(trained, tmp_path):
    path, _, _ = trained
    result = run("report", str(path), "--out", str(tmp_path / "r"), "--limit", "200", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert os.path.isfile(tmp_path / "r" / "index.html") and "Report:" in result.stdout
    result = run("attack", str(path), "--epsilon", "0,0.1", "--limit", "200", "--steps", "3", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()[2:]}
    assert set(rows) == {"0", "0.1"}
    clean_fgsm, clean_pgd = map(float, rows["0"])
    fgsm, pgd = map(float, rows["0.1"])
    assert clean_fgsm == clean_pgd and fgsm < clean_fgsm - 0.2 and pgd <= fgsm + 0.02


def test_train_with_report(tmp_path):
    result = run("train", "--epochs", "1", "--limit", "300", "--device", "cpu", "--report", str(tmp_path / "rep"))
    assert result.returncode == 0, result.stderr
    assert "Training curves" in (tmp_path / "rep" / "index.html").read_text()


@pytest.mark.parametrize("args, words", [
    (["attack", "{model}", "--epsilon", "-0.1"], "expected finite numbers >= 0"),
    (["attack", "{model}", "--epsilon", "a,b"], "expected comma-separated numbers"),
    (["attack", "{model}", "--steps", "0"], "--steps"),
    (["report", "{model}", "--out", "{file}"], "is a file"),
    (["report", "{model}", "--out", "{missing}/deeper"], "does not exist"),
    (["train", "--limit", "10", "--report", "{file}"], "is a file"),
    (["report", "{uncompiled}", "--out", "{dir}"], "without a classification loss"),
])
def test_command_line_errors_are_messages(trained, tmp_path, args, words):
    (tmp_path / "file").write_text("x")
    uncompiled = tmp_path / "u.cnet"
    convnet.Sequential([convnet.layers.Input((1, 28, 28)), convnet.layers.Flatten(),
                        convnet.layers.Dense(10, activation="softmax")]).save(uncompiled)
    names = dict(model=trained[0], file=tmp_path / "file", missing=tmp_path / "missing", uncompiled=uncompiled,
                 dir=tmp_path / "d")
    result = run(*[a.format(**names) for a in args])
    assert result.returncode == 2 and words in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_robustness_table_text(trained):
    path, x, y = trained
    model = convnet.load_model(path, device="cpu")
    table, text = convnet.report.robustness_table(model, x[:50], y[:50], [0.0, 0.05], steps=2)
    assert set(table) == {"fgsm", "pgd"} and set(table["fgsm"]) == {0.0, 0.05}
    assert text.splitlines()[0].split() == ["epsilon", "FGSM", "accuracy", "PGD", "accuracy"]
    assert np.isclose(float(text.splitlines()[1].split()[1]), table["fgsm"][0.0])


@pytest.mark.cuda
def test_the_report_of_a_model_on_the_gpu(tmp_path):
    """The whole after-training path on a GPU model: predict, input_gradients, attacks, every plot."""
    from conftest import cuda_available

    if not cuda_available():
        pytest.skip("no CUDA GPU visible")
    from convnet import layers as L

    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (64, 28, 28), dtype=np.uint8), rng.integers(0, 10, 64)
    model = convnet.Sequential([L.Input((1, 28, 28)), L.Conv2D(4, 3, activation="relu"), L.MaxPool2D(2),
                                L.Flatten(), L.Dense(10, activation="softmax")])
    model.compile("adam", metrics=["accuracy"], device="cuda")
    model.fit(x, y, epochs=1, verbose=0)
    page = convnet.report.write(model, x[:32], y[:32], tmp_path, images=2, attack_limit=16, pgd_steps=2)
    assert all(src in os.listdir(tmp_path) for src in _links(page).sources)
    on_gpu = convnet.attacks.fgsm(model, x[:8], y[:8], 0.1)
    model.to("cpu")
    on_cpu = convnet.attacks.fgsm(model, x[:8], y[:8], 0.1)
    assert np.mean(on_gpu != on_cpu) < 0.01  # signs of float32 gradients: a near-zero one may flip
