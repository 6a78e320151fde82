"""Metrics, ClassificationReport and Leaderboard (cvtoolkit.evaluate)."""

from __future__ import annotations

import csv
import json
import math
import os

import numpy as np
import pytest

from cvtoolkit.evaluate import (
    ClassificationReport,
    Leaderboard,
    classification_metrics,
    confusion_matrix,
    per_class_metrics,
    rank_k_accuracy,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _auc_by_pairs(positive: np.ndarray, scores: np.ndarray) -> float:
    """Mann-Whitney AUC by counting pairs (independent of scikit-learn)."""
    pos = scores[positive]
    neg = scores[~positive]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


# ---------------------------------------------------------------- metrics


def test_rank_k_true_class_third():
    # 7 classes: sample 0 has its true class ranked 3rd, sample 1 ranked 6th,
    # sample 2 ranked 1st.
    proba = np.array(
        [
            [0.30, 0.25, 0.20, 0.10, 0.08, 0.05, 0.02],  # true 2 -> rank 3
            [0.30, 0.25, 0.20, 0.10, 0.08, 0.05, 0.02],  # true 5 -> rank 6
            [0.02, 0.05, 0.08, 0.10, 0.20, 0.25, 0.30],  # true 6 -> rank 1
        ]
    )
    y = np.array([2, 5, 6])
    assert rank_k_accuracy(y, proba, 1) == pytest.approx(1 / 3)
    assert rank_k_accuracy(y, proba, 2) == pytest.approx(1 / 3)
    assert rank_k_accuracy(y, proba, 3) == pytest.approx(2 / 3)
    assert rank_k_accuracy(y, proba, 5) == pytest.approx(2 / 3)
    assert rank_k_accuracy(y, proba, 6) == pytest.approx(1.0)
    m = classification_metrics(y, proba)
    assert m["rank5"] == pytest.approx(2 / 3)
    assert m["rank1"] == pytest.approx(m["accuracy"]) == pytest.approx(1 / 3)


def test_rank_k_rejects_k_zero():
    with pytest.raises(ValueError, match="k must be at least 1"):
        rank_k_accuracy([0], np.array([[0.6, 0.4]]), 0)


def test_rank5_absent_when_five_classes_or_fewer():
    proba = np.full((2, 5), 0.2)
    assert classification_metrics([0, 1], proba)["rank5"] is None


def test_binary_metrics_by_hand():
    y = np.array([0, 0, 1, 1])
    p1 = np.array([0.1, 0.4, 0.35, 0.8])
    proba = np.stack([1 - p1, p1], axis=1)
    m = classification_metrics(y, proba)
    # predictions: 0, 0, 0, 1
    assert m["accuracy"] == pytest.approx(0.75)
    # class 0: precision 2/3, recall 1, f1 0.8; class 1: precision 1, recall .5, f1 2/3
    assert m["precision_macro"] == pytest.approx((2 / 3 + 1) / 2)
    assert m["recall_macro"] == pytest.approx((1 + 0.5) / 2)
    assert m["f1_macro"] == pytest.approx((0.8 + 2 / 3) / 2)
    # the classic example: 3 of 4 positive/negative pairs ordered right
    assert m["roc_auc"] == pytest.approx(0.75)
    expected_ll = -np.mean([math.log(0.9), math.log(0.6), math.log(0.35), math.log(0.8)])
    assert m["log_loss"] == pytest.approx(expected_ll)
    assert m["n_samples"] == 4
    json.dumps(m)  # JSON-ready


def test_one_dimensional_proba_is_positive_class():
    y = [0, 0, 1, 1]
    p1 = np.array([0.1, 0.4, 0.35, 0.8])
    assert classification_metrics(y, p1) == classification_metrics(y, np.stack([1 - p1, p1], 1))


def test_multiclass_roc_auc_one_vs_rest_macro():
    rng = np.random.default_rng(0)
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 2])
    proba = rng.dirichlet(np.ones(3), size=len(y))
    expected = np.mean([_auc_by_pairs(y == c, proba[:, c]) for c in range(3)])
    assert classification_metrics(y, proba)["roc_auc"] == pytest.approx(expected)


def test_perfect_multiclass_scores():
    y = np.array([0, 1, 2, 3, 4, 5, 0, 1])
    proba = np.eye(6)[y] * 0.9 + 0.1 / 6
    m = classification_metrics(y, proba)
    assert m["accuracy"] == m["f1_macro"] == m["rank5"] == m["roc_auc"] == 1.0
    assert 0 < m["log_loss"] < 0.2


def test_class_absent_from_test_split():
    # 4 columns, but class 3 never appears in y_true (and is never predicted).
    y = np.array([0, 1, 2, 0, 1, 2])
    proba = np.array(
        [
            [0.7, 0.1, 0.1, 0.1],
            [0.1, 0.7, 0.1, 0.1],
            [0.1, 0.1, 0.7, 0.1],
            [0.1, 0.7, 0.1, 0.1],
            [0.1, 0.7, 0.1, 0.1],
            [0.1, 0.1, 0.7, 0.1],
        ]
    )
    m = classification_metrics(y, proba)
    assert m["accuracy"] == pytest.approx(5 / 6)
    assert m["roc_auc"] is None
    expected_ll = -np.mean([math.log(0.7)] * 5 + [math.log(0.1)])
    assert m["log_loss"] == pytest.approx(expected_ll)
    per = per_class_metrics(y, proba.argmax(1), ["a", "b", "c", "d"])
    assert per["d"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert per["a"]["recall"] == pytest.approx(0.5)


def test_binary_roc_auc_undefined_with_one_class():
    m = classification_metrics([1, 1], np.array([[0.2, 0.8], [0.6, 0.4]]))
    assert m["roc_auc"] is None
    assert m["accuracy"] == 0.5


def test_labels_map_columns():
    # columns are the classifier's classes_ = [3, 7]
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]])
    m = classification_metrics([3, 7, 3], proba, labels=[3, 7])
    assert m["accuracy"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="not in labels"):
        classification_metrics([3, 5, 3], proba, labels=[3, 7])


def test_unnormalised_rows_are_rescaled():
    y = [0, 1]
    m1 = classification_metrics(y, np.array([[2.0, 2.0], [1.0, 3.0]]))
    m2 = classification_metrics(y, np.array([[0.5, 0.5], [0.25, 0.75]]))
    assert m1["log_loss"] == pytest.approx(m2["log_loss"])


@pytest.mark.parametrize(
    "y, proba, message",
    [
        ([0, 1, 1], np.eye(2), "3 labels but proba has 2 rows"),
        ([0, -1], np.eye(2), "unlabelled"),
        ([0, 2], np.eye(2), "outside 0..1"),
        ([0, 0], np.ones((2, 1)), "at least 2 classes"),
        ([], np.zeros((0, 2)), "empty"),
        ([0, 1], np.array([[np.nan, 1], [0, 1]]), "NaN"),
    ],
)
def test_bad_inputs_say_what_is_wrong(y, proba, message):
    with pytest.raises(ValueError, match=message):
        classification_metrics(y, proba)


def test_confusion_matrix_has_every_class():
    cm = confusion_matrix([0, 1, 1, 0], [0, 0, 1, 0], 3)
    assert cm.tolist() == [[2, 0, 0], [1, 1, 0], [0, 0, 0]]


# ---------------------------------------------------------------- report


def _report(k: int = 3, n: int = 30, seed: int = 0, names=None) -> ClassificationReport:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    proba = rng.dirichlet(np.ones(k), size=n)
    proba[np.arange(n), y] += 0.5  # mostly right
    names = names or [f"class_{i}" for i in range(k)]
    return ClassificationReport.from_predictions(y, proba, names, method="hog+logreg")


def test_report_contents():
    y = np.array([0, 0, 1, 1, 2])
    proba = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]])
    r = ClassificationReport.from_predictions(y, proba, ["cat", "dog", "panda"], method="raw+knn")
    assert r.confusion_matrix.tolist() == [[1, 1, 0], [0, 2, 0], [0, 0, 1]]
    assert r.metrics["accuracy"] == pytest.approx(0.8)
    assert r.per_class["dog"]["precision"] == pytest.approx(2 / 3)
    assert r.per_class["cat"]["recall"] == pytest.approx(0.5)
    assert r.per_class["panda"]["support"] == 1
    text = r.to_text()
    for name in ("cat", "dog", "panda", "raw+knn", "accuracy", "F1 (macro)", "0.8000"):
        assert name in text
    # metrics first, then one row per class, in label order
    assert text.index("accuracy") < text.index("cat") < text.index("dog") < text.index("panda")


def test_report_json_round_trip(tmp_path):
    r = _report()
    d = r.to_dict()
    assert json.loads(json.dumps(d)) == d
    path = tmp_path / "out" / "report.json"
    text = r.to_json(path)
    assert json.loads(path.read_text()) == json.loads(text) == d
    back = ClassificationReport.from_dict(json.loads(path.read_text()))
    assert back.metrics == r.metrics
    assert back.per_class == r.per_class
    assert np.array_equal(back.confusion_matrix, r.confusion_matrix)
    assert back.class_names == r.class_names and back.method == "hog+logreg"
    assert os.listdir(path.parent) == ["report.json"]  # no temporary leftovers


def test_report_needs_one_name_per_column():
    with pytest.raises(ValueError, match="2 class names for 3 probability columns"):
        ClassificationReport.from_predictions([0, 1], np.full((2, 3), 1 / 3), ["a", "b"])


@pytest.mark.parametrize("normalize", [None, "true"])
def test_confusion_matrix_png(tmp_path, normalize):
    import matplotlib.image as mpimg

    path = tmp_path / "cm.png"
    _report().save_confusion_matrix(path, normalize=normalize, title="a title")
    assert path.read_bytes()[:8] == PNG_MAGIC
    pixels = mpimg.imread(path)
    assert pixels.ndim == 3 and min(pixels.shape[:2]) >= 300
    assert pixels[..., :3].std() > 0.05  # something drawn, not a blank page
    assert sorted(os.listdir(tmp_path)) == ["cm.png"]


def test_confusion_matrix_png_grows_with_classes(tmp_path):
    import matplotlib.image as mpimg

    small, big = tmp_path / "small.png", tmp_path / "big.png"
    _report(k=2).save_confusion_matrix(small)
    names = [f"a rather long class name {i}" for i in range(20)]
    _report(k=20, n=60, names=names).save_confusion_matrix(big)
    assert mpimg.imread(big).shape[0] > mpimg.imread(small).shape[0] * 1.5


def test_confusion_matrix_figure_labels():
    from cvtoolkit.evaluate.plots import plot_confusion_matrix

    fig = plot_confusion_matrix(np.array([[3, 1], [2, 4]]), ["cat", "dog"], title="T")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat", "dog"]
    assert sorted(t.get_text() for t in ax.texts) == ["1", "2", "3", "4"]
    with pytest.raises(ValueError, match="normalize"):
        plot_confusion_matrix(np.eye(2), ["a", "b"], normalize="rows")


# ---------------------------------------------------------------- leaderboard


def _row(method, acc, f1=None, **extra):
    return {
        "method": method,
        "accuracy": acc,
        "f1_macro": acc if f1 is None else f1,
        "fit_seconds": 1.5,
        "predict_ms_per_image": 0.25,
        **extra,
    }


def _board():
    board = Leaderboard()
    board.add(_row("hog+linear_svm", 0.70))
    board.add({"method": "vgg16+logreg", "error": "MissingDownloadError: no weights"})
    board.add(_row("shallownet", 0.90, log_loss=np.float32(0.3)))
    board.add(_row("raw+knn", 0.70, f1=0.75))
    board.add({"method": "lenet", "error": "out of memory"})
    return board


def test_leaderboard_sorting():
    order = [r["method"] for r in _board().sorted_rows()]
    # accuracy descending, ties by macro F1, failed rows last in insertion order
    assert order == ["shallownet", "raw+knn", "hog+linear_svm", "vgg16+logreg", "lenet"]
    assert _board().best()["method"] == "shallownet"


def test_leaderboard_add_needs_method():
    with pytest.raises(ValueError, match="method"):
        Leaderboard().add({"accuracy": 0.5})


def test_leaderboard_text_and_markdown():
    board = _board()
    lines = board.to_text().splitlines()
    assert lines[0].split()[:2] == ["rank", "method"]
    assert "macro F1" in lines[0] and "predict ms/img" in lines[0]
    assert lines[2].split()[:3] == ["1", "shallownet", "0.9000"]
    assert lines[4].split()[:2] == ["3", "hog+linear_svm"]
    assert "error: out of memory" in lines[-1]
    # aligned: every data line starts the accuracy column at the same place
    col = lines[0].index("accuracy") + len("accuracy")
    assert all(line[col - 1] != " " for line in lines[2:5])
    md = board.to_markdown().splitlines()
    assert md[0].startswith("| rank | method |")
    assert len(md) == 2 + 5
    assert md[2].startswith("| 1 | shallownet | 0.9000 |")


def test_leaderboard_files(tmp_path):
    board = _board()
    board.save_json(tmp_path / "leaderboard.json")
    rows = json.loads((tmp_path / "leaderboard.json").read_text())
    assert isinstance(rows, list) and [r["method"] for r in rows][0] == "shallownet"
    assert rows[0]["log_loss"] == pytest.approx(0.3)
    assert rows[3] == {"method": "vgg16+logreg", "error": "MissingDownloadError: no weights"}
    again = Leaderboard.load_json(tmp_path / "leaderboard.json")
    assert again.sorted_rows() == rows

    board.save_csv(tmp_path / "leaderboard.csv")
    with open(tmp_path / "leaderboard.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [r["method"] for r in table] == [r["method"] for r in rows]
    assert float(table[0]["accuracy"]) == pytest.approx(0.9)
    assert table[0]["error"] == "" and table[-1]["error"] == "out of memory"
    assert list(table[0])[:5] == ["method", "accuracy", "f1_macro", "fit_seconds", "predict_ms_per_image"]
    assert sorted(os.listdir(tmp_path)) == ["leaderboard.csv", "leaderboard.json"]


def test_leaderboard_load_rejects_other_json(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"method": "a"}')
    with pytest.raises(ValueError, match="x.json is not a leaderboard"):
        Leaderboard.load_json(path)
