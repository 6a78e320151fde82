"""compare's interpretation (issue 22, item 5): top losses with file names, top_losses.csv, most_confused,
and the disagreement gallery behind the verdict's McNemar test, checked in headless Chromium."""

from __future__ import annotations

import csv
import re
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.stats import binomtest

from cvtoolkit.data import Dataset
from cvtoolkit.evaluate import ClassificationReport
from cvtoolkit.evaluate.compare_report import write_compare_reports
from cvtoolkit.evaluate.disagreement import GALLERY_MAX, write_top_losses_csv
from cvtoolkit.methods.verdict import split_verdict
from tests.conftest import make_class_images
from tests.test_report_html import _parse, _run_chromium


def _onehot(pred, k=3, p=0.8):
    proba = np.full((len(pred), k), (1 - p) / (k - 1))
    proba[np.arange(len(pred)), pred] = p
    return proba


@pytest.fixture
def compared(tmp_path):
    """A hand-made compare result: 60 test images, a deep and a classical row with planted disagreements."""
    images, y, names = make_class_images(20, size=24, seed=2)
    paths = [str(tmp_path / "data" / names[c] / f"img{i:03d}.png") for i, c in enumerate(y)]
    test = Dataset(images, y, names, paths=paths, source=str(tmp_path / "data"))
    rng = np.random.default_rng(1)
    deep_pred, classical_pred = y.copy(), y.copy()
    deep_wrong = rng.choice(60, 8, replace=False)          # 8 images the deep row misses
    classical_wrong = rng.choice(60, 30, replace=False)    # 30 the classical row misses (some shared)
    deep_pred[deep_wrong] = (y[deep_wrong] + 1) % 3
    classical_pred[classical_wrong] = (y[classical_wrong] + 2) % 3
    predictions = {"shallownet": _onehot(deep_pred), "hog+logreg": _onehot(classical_pred)}
    rows = []
    reports = {}
    for method, proba in predictions.items():
        reports[method] = ClassificationReport.from_predictions(y, proba, names, method=method)
        rows.append({"method": method, "deep": method == "shallownet", **reports[method].metrics,
                     "fit_seconds": 1.0, "predict_ms_per_image": 0.5})
    rows.sort(key=lambda r: -r["accuracy"])
    verdict, detail = split_verdict(rows, predictions, y, sort_metric="accuracy", n_resamples=200)
    out = tmp_path / "run"
    out.mkdir()
    b = int(np.sum((deep_pred == y) & (classical_pred != y)))
    c = int(np.sum((deep_pred != y) & (classical_pred == y)))
    return SimpleNamespace(rows=rows, reports=reports, files={}, settings={}, sort_metric="accuracy", test=test,
                           predictions=predictions, verdict=verdict, verdict_detail=detail, out=out, b=b, c=c,
                           folds=None, names=names)


def test_verdict_detail_carries_mcnemars_discordant_counts(compared):
    detail = compared.verdict_detail
    assert (detail["deep_only_right"], detail["classical_only_right"]) == (compared.b, compared.c)
    b, c = compared.b, compared.c
    assert detail["p_value"] == pytest.approx(binomtest(b, b + c, 0.5).pvalue)


@pytest.mark.slow  # headless Chromium
def test_chromium_shows_the_disagreement_gallery_with_mcnemars_counts(compared, tmp_path):
    files = write_compare_reports(compared, compared.out)
    text = open(files["report.html"], encoding="utf-8").read()
    # after load, count the gallery thumbnails the browser decoded
    probe = ("<script>window.addEventListener('load', function () {"
             "var ok = Array.prototype.filter.call(document.querySelectorAll('.gallery img'),"
             " function (i) { return i.complete && i.naturalWidth > 0; }).length;"
             "document.body.setAttribute('data-decoded', String(ok)); });</script></body>")
    page = tmp_path / "probe.html"
    page.write_text(text.replace("</body>", probe), encoding="utf-8")
    done = _run_chromium(tmp_path, "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = _parse(done.stdout)
    counts = [int(a["data-count"]) for t, a in dom.tags if t == "span" and "data-count" in a]
    assert counts == [compared.b, compared.c]  # deep-only right first, then classical-only right
    flat = re.sub(r"\s+", " ", "".join(dom.text))
    assert f"shallownet right, hog+logreg wrong: {compared.b} test images" in flat
    assert f"hog+logreg right, shallownet wrong: {compared.c} test images" in flat
    shown = min(compared.b, GALLERY_MAX) + min(compared.c, GALLERY_MAX)
    figures = [a for t, a in dom.tags if t == "figure" and "data-index" in a]
    assert len(figures) == shown
    y = compared.test.labels
    deep_ok = compared.predictions["shallownet"].argmax(1) == y
    classical_ok = compared.predictions["hog+logreg"].argmax(1) == y
    first = [int(a["data-index"]) for a in figures[:min(compared.b, GALLERY_MAX)]]
    assert len({int(y[i]) for i in first}) == len(set(y[deep_ok & ~classical_ok].tolist()))  # every class shows
    assert all(deep_ok[i] and not classical_ok[i] for i in first)
    m = re.search(r'data-decoded="(\d+)"', done.stdout)
    assert m and int(m.group(1)) == shown  # every thumbnail decoded in the browser
    assert "img003.png" in flat or any(f"img{i:03d}.png" in flat for i in first)  # captions name the files
    assert "most confused" in flat  # a most_confused table per row


def test_top_losses_csv_names_files_and_sorts_by_loss(compared, tmp_path):
    n = write_top_losses_csv(compared, tmp_path / "top_losses.csv", k=5)
    with open(tmp_path / "top_losses.csv", newline="", encoding="utf-8") as f:
        records = list(csv.DictReader(f))
    assert n == len(records) == 10
    assert list(records[0]) == ["method", "rank", "path", "true", "predicted", "probability", "p_true", "loss"]
    deep = [r for r in records if r["method"] == "shallownet"]
    assert [int(r["rank"]) for r in deep] == [1, 2, 3, 4, 5]
    losses = [float(r["loss"]) for r in deep]
    assert losses == sorted(losses, reverse=True)
    paths = list(compared.test.paths)
    for r in deep:
        i = paths.index(r["path"])
        assert r["true"] == compared.names[compared.test.labels[i]]
        assert r["predicted"] == compared.names[int(compared.predictions["shallownet"][i].argmax())]


def test_top_loss_grid_titles_carry_file_names():
    from cvtoolkit.evaluate.interpret import plot_top_losses

    imgs = np.zeros((3, 8, 8, 3), np.uint8)
    proba = np.array([[.9, .1], [.3, .7], [.6, .4]])
    fig = plot_top_losses(imgs, [0, 0, 1], proba, ["cat", "dog"], k=2,
                          names=["/data/cat/a.jpg", "/data/cat/b.jpg", "/data/dog/c.jpg"])
    assert [ax.get_title().splitlines()[0] for ax in fig.axes] == ["cat/b.jpg", "dog/c.jpg"]
