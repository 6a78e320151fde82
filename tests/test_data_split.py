"""One train/validation(/test) splitter: cvtoolkit.data.split.stratified_split."""

import ast
from pathlib import Path

import numpy as np
import pytest

import cvtoolkit
from cvtoolkit.data.split import stratified_split
from cvtoolkit.errors import DatasetError


def test_same_seed_same_split_sorted_and_stratified():
    labels = np.array([0] * 10 + [1] * 6 + [2] * 4)
    a = stratified_split(labels, test_size=0.25, seed=7)
    b = stratified_split(labels, test_size=0.25, seed=7)
    c = stratified_split(labels, test_size=0.25, seed=8)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[1], c[1])
    train, test = a
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == len(labels)
    assert np.bincount(labels[test]).tolist() == [2, 2, 1]


def test_a_single_sample_class_is_a_dataset_error():
    with pytest.raises(DatasetError, match="single sample"):
        stratified_split(np.array([0, 0, 0, 1]), test_size=0.25, seed=0)


def test_no_other_splitter_in_the_package():
    """scikit-learn's shuffle splitters are called in cvtoolkit/data/split.py only (the one splitter)."""
    root = Path(cvtoolkit.__file__).parent
    found = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "sklearn.model_selection":
                names = {a.name for a in node.names} & {"train_test_split", "StratifiedShuffleSplit", "ShuffleSplit"}
                if names:
                    found.append((path.relative_to(root).as_posix(), sorted(names)))
    assert found == [("data/split.py", ["train_test_split"])]
