"""Issue 22, item 8 (polish): Pareto labels that do not collide, deep and classical told apart, the heatmap title whole, the cost columns in the terminal table."""

from __future__ import annotations

import numpy as np
import pytest

import cvtoolkit.evaluate.plots as plots
from cvtoolkit.methods.cost import plot_pareto


def _digits_like_rows():
    """Rows as crowded as the default compare on digits: many rows of similar score and speed."""
    rng = np.random.default_rng(0)
    names = ["raw+knn", "raw+logreg", "raw+linear_svm", "raw+random_forest", "color_stats+random_forest",
             "hsv_hist+random_forest", "hog+linear_svm", "lbp+rbf_svm", "hu+random_forest",
             "haralick+random_forest", "sift_bovw+linear_svm", "combined+random_forest", "combined+rbf_svm",
             "shallownet", "mobilenet+logreg"]
    rows = []
    for i, name in enumerate(names):
        rows.append({"method": name, "accuracy": 0.95 + rng.uniform(0, 0.04), "deep": name in ("shallownet", "mobilenet+logreg"),
                     "predict_ms_per_image": float(0.05 * (1.3 ** rng.uniform(0, 4)))})
    return rows


@pytest.fixture
def drawn(monkeypatch, tmp_path):
    figures = []
    real = plots.save_figure

    def keep(fig, path, **kw):
        figures.append(fig)
        real(fig, path, **kw)

    monkeypatch.setattr(plots, "save_figure", keep)
    rows = _digits_like_rows()
    plot_pareto(rows, tmp_path / "pareto.png")
    assert (tmp_path / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    return rows, figures[0]


def test_labels_do_not_overlap(drawn):
    rows, fig = drawn
    ax = fig.axes[0]
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labels = [t for t in ax.texts if t.get_text() in {r["method"] for r in rows}]
    assert sorted(t.get_text() for t in labels) == sorted(r["method"] for r in rows)
    boxes = [t.get_window_extent(renderer) for t in labels]
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            assert not boxes[i].overlaps(boxes[j]), (labels[i].get_text(), labels[j].get_text())


def test_deep_and_classical_have_their_own_markers(drawn):
    rows, fig = drawn
    ax = fig.axes[0]
    paths = {}
    for collection, row in zip(ax.collections, rows):  # one scatter per row, in row order
        vertices = collection.get_paths()[0].vertices
        paths.setdefault(row["deep"], set()).add(len(vertices))
    assert len(paths[True]) == 1 and len(paths[False]) == 1 and paths[True] != paths[False]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("deep") for t in legend) and "classical" in legend


def test_f1_heatmap_title_is_whole_with_three_classes(monkeypatch, tmp_path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from cvtoolkit.evaluate import ClassificationReport
    from cvtoolkit.evaluate.compare_report import plot_f1_heatmap

    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path, **kw: figures.append(fig))
    rng = np.random.default_rng(0)
    y = np.arange(30) % 3
    reports = {r["method"]: ClassificationReport.from_predictions(y, rng.dirichlet(np.ones(3), 30),
                                                                   ["cats", "dogs", "panda"], method=r["method"])
               for r in _digits_like_rows()}
    assert plot_f1_heatmap(reports, list(reports), tmp_path / "f1.png")
    fig = figures[0]
    FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    titles = [t for t in [fig._suptitle, *(ax.title for ax in fig.axes)] if t is not None and t.get_text()]
    assert titles and "per-class F1" in titles[0].get_text()
    page = fig.bbox
    for title in titles:
        box = title.get_window_extent(renderer)
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and box.y1 <= page.y1, (box, page)


def test_terminal_table_shows_feature_cost_and_size():
    from cvtoolkit.evaluate import Leaderboard

    board = Leaderboard([
        {"method": "mobilenet+logreg", "accuracy": 0.94, "f1_macro": 0.94, "fit_seconds": 0.04,
         "predict_ms_per_image": 4.7, "feature_ms_per_image": 4.6, "size_bytes": 2_700_000},
        {"method": "raw+knn", "accuracy": 0.45, "f1_macro": 0.44, "fit_seconds": 0.01,
         "predict_ms_per_image": 0.05, "feature_ms_per_image": 0.001, "size_bytes": 9_000_000},
    ])
    header, _, first, _ = board.to_text().splitlines()
    assert "features ms/img" in header and header.split()[-1] == "size"
    assert first.split()[-3:] == ["4.600", "2.6", "MB"]
    # rows without them (an older leaderboard.json) keep the old table
    assert "size" not in Leaderboard([{"method": "a", "accuracy": 1, "f1_macro": 1, "fit_seconds": 1,
                                       "predict_ms_per_image": 1}]).to_text()


def test_summary_lists_every_file_written(image_folder, tmp_path, capsys):
    import os

    from cvtoolkit.cli import main

    out = tmp_path / "run"
    out.mkdir()
    (out / "leaderboard.json").write_text("[]")  # an earlier run's file: replaced, so listed
    old = out / "notes_from_before.txt"
    old.write_text("x")
    os.utime(old, (1_000_000_000, 1_000_000_000))  # not written by this run: not listed
    rc = main(["compare", "--dataset", str(image_folder), "--image-size", "16", "--methods", "raw+knn,hog+knn",
               "--out", str(out), "--quiet", "--no-cache"])
    printed = capsys.readouterr().out
    assert rc == 0
    summary = printed[printed.index(f"files in {out.as_posix()}/:"):]
    files = [p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p != old]
    assert "settings.json" in files and len(files) > 8
    for name in files:
        row_kind = next((k for k in ("confusion_", "top_losses_", "curves_") if name.startswith(k)), None)
        if row_kind:
            stem = os.path.splitext(name[len(row_kind):])[0]
            assert f"{row_kind}<row>" in summary and stem in summary, name
        elif "/" in name:  # files in a subfolder are listed under it: "rows/: a.json, a.npz"
            folder, base = name.rsplit("/", 1)
            assert f"{folder}/:" in summary and base in summary, name
        else:
            assert name in summary, name
    assert "notes_from_before.txt" not in summary
    assert f"wrote {len(files)} files" in printed
