"""Issue 10, items 8 and 9: size column, Pareto plot, F1 heatmap, and the compare report that leads with the answer.

Results are built by hand with the keys of the compare contract (CIs, ties, p-values, deep flag,
verdict, leakage), so these tests do not depend on how they were computed.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest

from cvtoolkit.evaluate import ClassificationReport
from cvtoolkit.evaluate.compare_report import format_size, write_compare_reports
from cvtoolkit.methods.cost import folder_size_bytes, pareto_front, pipeline_size_bytes
from tests.test_report_html import PNG_MAGIC, _parse, _run_chromium

HOSTILE = "vgg16<script>alert(1)</script>"


def _row(method, acc, ms, *, deep=False, tied=False, p=None, size=1000, fit=1.0, ci=0.03):
    return {
        "method": method, "accuracy": acc, "accuracy_ci_low": acc - ci, "accuracy_ci_high": min(1.0, acc + ci),
        "balanced_accuracy": acc - 0.01, "balanced_accuracy_ci_low": acc - 0.01 - ci,
        "balanced_accuracy_ci_high": acc - 0.01 + ci,
        "f1_macro": acc - 0.02, "f1_macro_ci_low": acc - 0.02 - ci, "f1_macro_ci_high": acc - 0.02 + ci,
        "log_loss": 1.0 - acc, "tied_with_best": tied, "p_vs_best": p, "deep": deep,
        "fit_seconds": fit, "predict_ms_per_image": ms, "size_bytes": size,
    }


@pytest.fixture
def result(tmp_path):
    rng = np.random.default_rng(0)
    names = ["cat", "dog", "panda"]
    rows = [
        _row("mobilenet+logreg", 0.981, 2.5, deep=True, size=2_600_000, fit=40.0),
        _row("combined+rbf_svm", 0.975, 0.8, tied=True, p=0.21, size=9_000_000, fit=3.0),
        _row("raw+knn", 0.52, 0.05, p=1e-9, size=8_000_000, fit=0.01),
        _row("hog+linear_svm", 0.70, 1.5, p=1e-6, size=90_000, fit=0.5),
        {"method": HOSTILE, "error": "MissingDownloadError: put weights in ~/.keras & retry",
         "accuracy": float("nan"), "f1_macro": float("nan"), "fit_seconds": float("nan"),
         "predict_ms_per_image": float("nan")},
    ]
    reports = {}
    for r in rows[:4]:
        y = np.arange(30) % 3
        proba = rng.dirichlet(np.ones(3), size=30)
        proba[np.arange(30), y] += 3 * r["accuracy"]
        reports[r["method"]] = ClassificationReport.from_predictions(y, proba, names, method=r["method"])
    out = tmp_path / "run"
    out.mkdir()
    files = {}
    for r in rows[:4]:
        png = out / f"confusion_{r['method']}.png"
        reports[r["method"]].save_confusion_matrix(png)
        files[f"confusion:{r['method']}"] = str(png)
    return SimpleNamespace(
        rows=rows, reports=reports, files=files, out=out,
        settings={"dataset": "datasets/animals <3>", "seed": 42},
        sort_metric="accuracy",
        verdict="deep (mobilenet+logreg) beats classical (combined+rbf_svm) by +0.6 points [-0.4, 1.6], p = 0.21: "
                "no significant difference <b>",
        leakage={"test_with_duplicate_in_train": 3, "n_test": 750, "pairs": [], "dedupe": False},
    )


# ----------------------------------------------------------------- cost
def test_pareto_front_by_hand():
    rows = [
        {"method": "fast", "accuracy": 0.80, "predict_ms_per_image": 0.1},
        {"method": "best", "accuracy": 0.95, "predict_ms_per_image": 5.0},
        {"method": "dominated", "accuracy": 0.79, "predict_ms_per_image": 0.2},
        {"method": "middle", "accuracy": 0.90, "predict_ms_per_image": 1.0},
        {"method": "failed", "error": "x", "accuracy": 0.99, "predict_ms_per_image": 0.01},
    ]
    assert pareto_front(rows, "accuracy") == ["best", "middle", "fast"]
    lossy = [dict(r, log_loss=1 - r["accuracy"]) for r in rows]
    assert pareto_front(lossy, "log_loss") == ["best", "middle", "fast"]  # lower is better


def test_size_bytes_is_what_fit_saves(tmp_path):
    from cvtoolkit.data import Dataset
    from cvtoolkit.data.split import split_dataset
    from cvtoolkit.methods import make_method
    from cvtoolkit.methods.artifact import save_pipeline
    from cvtoolkit.methods.compare import run_compare
    from tests.conftest import make_class_images

    images, labels, names = make_class_images(10, size=16)
    ds = Dataset(images, labels, names, kind="images", source="synthetic")
    result = run_compare(ds, ["raw+knn", "raw+logreg"], test_size=0.25, out_dir=None, progress=False)
    sizes = {r["method"]: r["size_bytes"] for r in result.rows}
    train, _ = split_dataset(ds, test_size=0.25, seed=42)
    est = make_method("raw+knn", image_size=(16, 16), channels=3).fit(train.images, train.labels)
    folder = save_pipeline(est, tmp_path / "knn", method="raw+knn", class_names=names, image_size=[16, 16],
                           channels=3)
    # compare's thread policy sets n_jobs on its descriptors: the saved parameters may differ by a few bytes
    assert sizes["raw+knn"] == pytest.approx(folder_size_bytes(folder), abs=64)
    assert sizes["raw+knn"] == pytest.approx(pipeline_size_bytes(est, method="raw+knn", class_names=names, image_size=[16, 16],
                                                   channels=3), abs=64)
    # k-NN keeps the training images; logistic regression only a weight per pixel and class
    assert sizes["raw+knn"] > len(train) * 16 * 16 * 3 > 0 and sizes["raw+logreg"] < sizes["raw+knn"]


def test_format_size_and_leakage_line():
    from types import SimpleNamespace

    import cvtoolkit.evaluate.compare_report as compare_report
    from cvtoolkit.audit import leakage_line

    assert [format_size(v) for v in (0, 1023, 1024, 3 * 1024**2)] == ["0 B", "1023 B", "1.0 KB", "3.0 MB"]
    # one leakage line (issue 21): the report prints what compare prints, and nothing when nothing was checked
    assert not hasattr(compare_report, "leakage_line")
    assert compare_report._leakage_text(SimpleNamespace(leakage=None)) is None
    info = {"test_with_duplicate_in_train": 2, "n_test": 10, "exact": 1, "dedupe": True, "dropped_test": 2,
            "dropped_train": 0}
    assert compare_report._leakage_text(SimpleNamespace(leakage=info)) == leakage_line(info)
    assert "--dedupe dropped 2 test" in leakage_line(info)


# ----------------------------------------------------------------- reports
def test_figures_are_written(result):
    files = write_compare_reports(result, result.out)
    for name in ("pareto.png", "f1_heatmap.png"):
        with open(files[name], "rb") as fh:
            assert fh.read(8) == PNG_MAGIC


def test_html_leads_with_the_answer_and_escapes(result):
    files = write_compare_reports(result, result.out)
    text = open(files["report.html"], encoding="utf-8").read()
    doc = _parse(text)
    flat = "".join(doc.text)
    # order: verdict, leakage, leaderboard, figures, one <details> per method, settings last
    marks = ["Verdict", "leakage: 3 of 750 test images have a near-duplicate in train (0 exact); --dedupe drops them",
             "Leaderboard", "Pareto front", "per-class F1", "Methods", "Settings"]
    positions = [flat.index(m) for m in marks]
    assert positions == sorted(positions)
    assert flat.index("no significant difference <b>") < flat.index("Leaderboard")
    assert "no significant difference &lt;b&gt;" in text and "&lt;script&gt;" in text
    assert HOSTILE in flat and "datasets/animals <3>" in flat
    assert [t for t, _ in doc.tags].count("details") == 4  # the failed row has no figures
    assert all(a["src"].startswith("data:image/png;base64,") for t, a in doc.tags if t == "img")
    assert not any("href" in a or (t == "script" and "src" in a) for t, a in doc.tags)
    # the leaderboard: CIs, tie marks, size, failed row last
    header = next(r for r in doc.rows if r[:2] == ["rank", "method"])
    assert header[2] == "vs best" and "accuracy (sort)" in header and "size" in header
    board = [r for r in doc.rows if len(r) == len(header) and r is not header]
    assert [r[1] for r in board] == [r["method"] for r in result.rows]
    acc = header.index("accuracy (sort)")
    assert board[0][acc] == "0.981 [0.951, 1.000]"
    assert [r[2] for r in board[:3]] == ["best", "tied", ""]
    assert board[2][header.index("p vs best")] == "< 0.001" and board[1][header.index("p vs best")] == "0.21"
    assert board[0][header.index("size")] == "2.5 MB" and board[0][header.index("kind")] == "deep"
    assert board[-1][0] == "-" and board[-1][-1].startswith("error: MissingDownloadError")


def test_markdown_keeps_the_same_order(result):
    files = write_compare_reports(result, result.out)
    md = open(files["report.md"], encoding="utf-8").read()
    order = ["## Verdict", "leakage: 3 of 750", "## Leaderboard", "(pareto.png)", "(f1_heatmap.png)",
             "## Methods", "### mobilenet+logreg", "## Settings"]
    positions = [md.index(m) for m in order]
    assert positions == sorted(positions)
    assert "| 0.981 [0.951, 1.000] |" in md and "| tied |" in md
    assert "(confusion_mobilenet+logreg.png)" in md


def test_rows_without_statistics_still_render(tmp_path):
    rows = [{"method": "raw+knn", "accuracy": 0.9, "f1_macro": 0.88, "fit_seconds": 0.1, "predict_ms_per_image": 0.2}]
    files = write_compare_reports(SimpleNamespace(rows=rows, reports={}, files={}, settings={}), tmp_path)
    text = open(files["report.html"], encoding="utf-8").read()
    assert "0.9000" in text and "no verdict was computed" in text and "leakage:" not in text


def test_chromium_shows_verdict_and_sorts_on_click(result, tmp_path):
    files = write_compare_reports(result, result.out)
    text = open(files["report.html"], encoding="utf-8").read()
    # click the "fit s" header once (ascending), as a user would; then dump the DOM
    click = ('<script>document.querySelector(\'#leaderboard th[data-key="fit_seconds"]\').click();'
             "document.body.setAttribute('data-clicked', 'yes');</script></body>")
    page = tmp_path / "clicked.html"
    page.write_text(text.replace("</body>", click), encoding="utf-8")
    done = _run_chromium(tmp_path, "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    assert 'data-clicked="yes"' in done.stdout  # the page's own script ran without error first
    dom = _parse(done.stdout)
    assert "deep (mobilenet+logreg) beats classical" in "".join(dom.text)
    header = next(r for r in dom.rows if r[:2] == ["rank", "method"])
    assert "balanced accuracy" in header and "macro F1" in header
    board = [r for r in dom.rows if len(r) == len(header) and r is not header]
    methods = [r[1] for r in board]
    assert methods == ["raw+knn", "hog+linear_svm", "combined+rbf_svm", "mobilenet+logreg", HOSTILE]
    assert re.fullmatch(r"0\.\d{3} \[0\.\d{3}, [01]\.\d{3}\]", board[0][header.index("accuracy (sort)")])
    assert 'aria-sort="ascending"' in done.stdout


@pytest.mark.slow  # headless Chromium
def test_leaderboard_readable_at_1400_px(result, tmp_path):
    """Issue 22, item 8: at 1400 px every number (a CI included) sits on one line and nothing scrolls."""
    rows = list(result.rows)
    for i, name in enumerate(["resnet50+finetune", "combined+gradient_boosting", "sift_bovw+linear_svm"]):
        rows.insert(1, _row(name, 0.9 - i / 10, 120.0, deep=i == 0, size=95_000_000, fit=1234.5))
    result.rows = rows
    files = write_compare_reports(result, result.out)
    text = open(files["report.html"], encoding="utf-8").read()
    probe = ("<script>var lines = 0, n = 0;"
             "document.querySelectorAll('#leaderboard td.num').forEach(function (td) {"
             "  var r = document.createRange(); r.selectNodeContents(td);"
             "  var rows = 0, bottom = -1e9;"  # a new line starts below every box of the line before
             "  Array.prototype.slice.call(r.getClientRects()).sort(function (a, b) { return a.top - b.top; })"
             "    .forEach(function (q) { if (q.top >= bottom - 1) { rows += 1; } bottom = Math.max(bottom, q.bottom); });"
             "  lines = Math.max(lines, rows); n += 1; });"
             "var t = document.getElementById('leaderboard');"
             "document.body.setAttribute('data-lines', lines); document.body.setAttribute('data-cells', n);"
             "document.body.setAttribute('data-fits', t.getBoundingClientRect().right <= window.innerWidth ? 'yes' : 'no: ' + t.getBoundingClientRect().right + ' > ' + window.innerWidth + ' ' + Array.prototype.map.call(t.tHead.rows[0].cells, function (c) { return c.offsetWidth; }).join(','));"
             "</script></body>")
    page = tmp_path / "probe.html"
    page.write_text(text.replace("</body>", probe), encoding="utf-8")
    done = _run_chromium(tmp_path, "--window-size=1400,1000", "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    found = dict(re.findall(r'data-(lines|cells|fits)="([^"]*)"', done.stdout))
    assert int(found["cells"]) > 30
    assert found["lines"] == "1", found  # "0.981 [0.961, 0.995]" on one line
    assert found["fits"] == "yes", found
