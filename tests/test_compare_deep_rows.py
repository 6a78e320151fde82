"""Issue 10, item 6: backbone rows from weights on disk, MobileNet width from file names, +finetune rows.

Nothing is downloaded: weights files are random-weight backbones the tests save themselves (or empty
files, where only the name matters).
"""

from __future__ import annotations

import json
from dataclasses import replace
import os
import subprocess
import sys

import numpy as np
import pytest

from cvtoolkit.methods import parse_method, validate_methods
from cvtoolkit.transfer.weights_files import (
    default_backbone_rows,
    find_backbone_weights,
    infer_alpha,
    parse_weights_file,
    uses_backbone_size,
)
from cvtoolkit.methods.spec import MethodError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("name, backbone, alpha, top", [
    ("mobilenet_2_5_224_tf_no_top.h5", "mobilenet", 0.25, False),
    ("mobilenet_1_0_224_tf.h5", "mobilenet", 1.0, True),
    ("mobilenet_7_5_160_tf_no_top.h5", "mobilenet", 0.75, False),
    ("mobilenet_v1_0.75_224_imagenet.weights.h5", "mobilenet", 0.75, True),
    ("mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5", "mobilenetv2", 0.35, False),
    ("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "vgg16", None, False),
    ("resnet50_weights_tf_dim_ordering_tf_kernels.h5", "resnet50", None, True),
    ("efficientnetb0_notop.h5", "efficientnetb0", None, False),
])
def test_weights_file_names_say_backbone_and_width(name, backbone, alpha, top):
    info = parse_weights_file(f"/some/folder/{name}")
    assert (info.backbone, info.alpha, info.include_top) == (backbone, alpha, top)


@pytest.mark.parametrize("name", ["weights.h5", "mobilenet.h5", "squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5",
                                  "mobilenet_2_5_224_tf_no_top.h5.bak"])
def test_unknown_file_names_say_nothing(name):
    assert parse_weights_file(name) is None and infer_alpha(name) is None


def _keras_home(tmp_path, monkeypatch, *names):
    models = tmp_path / "keras_home" / "models"
    models.mkdir(parents=True)
    for name in names:
        (models / name).write_bytes(b"")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return models


def test_cached_weights_add_the_strongest_backbone_row(tmp_path, monkeypatch):
    models = _keras_home(tmp_path, monkeypatch, "mobilenet_2_5_224_tf_no_top.h5", "notes.txt")
    rows, options, note = default_backbone_rows()
    assert rows == ["mobilenet+logreg"]
    assert options == {"weights": str(models / "mobilenet_2_5_224_tf_no_top.h5"), "alpha": 0.25}
    assert "mobilenet+logreg" in note and "alpha 0.25" in note
    # a wider MobileNet is stronger: it wins
    (models / "mobilenet_v1_0.75_224_imagenet.weights.h5").write_bytes(b"")
    assert [w.alpha for w in find_backbone_weights()] == [0.75, 0.25]
    assert default_backbone_rows()[1]["alpha"] == 0.75


def test_no_weights_one_line_says_which_file_and_where(tmp_path, monkeypatch):
    models = _keras_home(tmp_path, monkeypatch)
    rows, options, note = default_backbone_rows()
    assert rows == [] and options == {}
    assert "\n" not in note and str(models) in note and "mobilenet_2_5_224_tf_no_top.h5" in note and "--weights" in note
    assert len(note) - len(str(models)) < 170  # short: the issue found a 338-character line


def test_weights_flag_wins_and_unknown_names_are_said(tmp_path, monkeypatch):
    _keras_home(tmp_path, monkeypatch, "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")
    rows, options, _ = default_backbone_rows("/w/mobilenet_5_0_224_tf_no_top.h5")
    assert rows == ["mobilenet+logreg"] and options["alpha"] == 0.5
    rows, _, note = default_backbone_rows("/w/my_backbone.h5")
    assert rows == [] and "my_backbone.h5" in note and "--methods" in note


def test_deciding_needs_no_tensorflow(tmp_path):
    code = ("import sys; from cvtoolkit.transfer.weights_files import default_backbone_rows, uses_backbone_size; "
            "default_backbone_rows(); uses_backbone_size(['mobilenet+finetune']); "
            "from cvtoolkit.methods import validate_methods; validate_methods(['mobilenet+logreg', 'hog+knn']); "
            "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))")
    env = dict(os.environ, PYTHONPATH=ROOT, KERAS_HOME=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_finetune_rows_parse_and_validate():
    spec = parse_method("mobilenet+finetune")
    assert (spec.kind, spec.features, spec.model) == ("cnn", "mobilenet", "mobilenet+finetune")
    assert validate_methods(["efficientnetb0+finetune"])[0].kind == "cnn"
    with pytest.raises(MethodError, match="hog\\+finetune.*pretrained backbone"):
        validate_methods(["hog+finetune"])


def test_backbone_size_only_when_no_row_needs_the_small_size():
    assert uses_backbone_size(["mobilenet+logreg", "combined+random_forest"]) == "mobilenet"
    assert uses_backbone_size(["mobilenet+logreg", "shallownet"]) is None
    assert uses_backbone_size(["hog+linear_svm"]) is None


# ----------------------------------------------------------------- with Keras (tiny random backbones)
def _random_mobilenet_file(folder, alpha=0.25):
    """A random-weight MobileNet saved under the Keras 3 name that gives its width."""
    from cvtoolkit.transfer import build_backbone

    path = folder / f"mobilenet_v1_{alpha}_224_imagenet.weights.h5"
    build_backbone("mobilenet", alpha=alpha, weights=None, input_shape=(32, 32, 3)).save_weights(path)
    return path


@pytest.mark.slow
def test_width_from_the_weights_name_without_alpha(tmp_path):
    from cvtoolkit.transfer import build_backbone

    path = _random_mobilenet_file(tmp_path, 0.25)
    base = build_backbone("mobilenet", weights=path, input_shape=(32, 32, 3))  # no alpha given
    assert base.output_shape == (None, 256)  # alpha 0.25: 1024 * 0.25 channels


@pytest.mark.slow
def test_compare_cli_backbone_row_from_keras_cache(tmp_path):
    from tests.conftest import write_image_folder

    data = write_image_folder(tmp_path / "data", n_per_class=6, size=32)
    home = tmp_path / "keras_home"
    (home / "models").mkdir(parents=True)
    _random_mobilenet_file(home / "models", 0.25)
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=ROOT, KERAS_HOME=str(home), CVTOOLKIT_CACHE_DIR=str(tmp_path / "cache"))
    # no --methods: the default rows (cut down to raw+knn for speed) plus the backbone row found in the cache
    code = ("import sys; import cvtoolkit.methods.spec as s; "
            "s.DEFAULT_CLASSICAL_ROWS = ('raw+knn',); s.DEFAULT_CNN_ROWS = (); "
            "from cvtoolkit.cli import main; "
            "sys.exit(main(['compare', '--dataset', sys.argv[1], '--image-size', '32', '--out', sys.argv[2], "
            "'--quiet']))")
    done = subprocess.run([sys.executable, "-c", code, str(data), str(out)], capture_output=True, text=True,
                          env=env, timeout=240)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "deep row mobilenet+logreg: mobilenet, alpha 0.25" in done.stdout
    rows = {r["method"]: r for r in json.loads((out / "leaderboard.json").read_text())["rows"]}
    assert set(rows) == {"raw+knn", "mobilenet+logreg"}
    assert not rows["mobilenet+logreg"].get("error") and rows["mobilenet+logreg"]["size_bytes"] > 100_000


@pytest.mark.slow
def test_finetune_row_on_the_same_split(tmp_path):
    import keras

    from cvtoolkit.data import Dataset
    from cvtoolkit.methods.artifact import load_pipeline, save_pipeline
    from cvtoolkit.methods.compare import run_compare
    from tests.conftest import make_class_images

    images, labels, names = make_class_images(8, size=32)
    ds = Dataset(images, labels, names, kind="images", source="synthetic")
    weights = _random_mobilenet_file(tmp_path, 0.25)
    result = run_compare(
        ds, ["mobilenet+finetune", "raw+knn"], test_size=0.25, out_dir=tmp_path / "run", progress=False,
        feature_options={"weights": str(weights)},
        cnn_options={"epochs": 1, "warmup_epochs": 2, "image_size": 32, "batch_size": 8, "verbose": 0},
    )
    row = next(r for r in result.rows if r["method"] == "mobilenet+finetune")
    assert not row.get("error"), row.get("error")
    assert 0.0 <= row["accuracy"] <= 1.0 and row["size_bytes"] > 100_000
    assert len(result.histories["mobilenet+finetune"]["loss"]) == 3  # 2 warm-up epochs + 1 after unfreezing
    assert len(result.test) == 6 and result.predictions["mobilenet+finetune"].shape == (6, 3)


@pytest.mark.slow
def test_finetune_keeps_batch_norm_frozen_and_saves_as_a_cnn(tmp_path):
    import keras

    from cvtoolkit.methods.artifact import load_pipeline, save_pipeline
    from cvtoolkit.transfer.finetune import FineTuneClassifier
    from tests.conftest import make_class_images

    images, labels, names = make_class_images(4, size=32)
    weights = _random_mobilenet_file(tmp_path, 0.25)
    clf = FineTuneClassifier("mobilenet", weights=str(weights), image_size=32, warmup_epochs=1, epochs=1,
                             unfreeze_top=None, batch_size=4, verbose=0)
    clf.fit(images, labels)

    def models(model):
        for layer in model.layers:
            if isinstance(layer, keras.Model):
                yield layer
                yield from models(layer)

    base = next(m for m in models(clf.model_) if any(isinstance(x, keras.layers.BatchNormalization)
                                                      for x in m.layers))
    bns = [layer for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization)]
    convs = [layer for layer in base.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D))]
    assert bns and not any(layer.trainable for layer in bns)
    assert all(layer.trainable for layer in convs)  # unfreeze_top=None: every other layer
    # the moving statistics are ImageNet's (here: the saved file's), untouched by training
    from cvtoolkit.transfer import build_backbone

    fresh = build_backbone("mobilenet", weights=str(weights), input_shape=(32, 32, 3), pooling=None)
    fresh_bn = next(layer for layer in fresh.layers if isinstance(layer, keras.layers.BatchNormalization))
    mine = base.get_layer(fresh_bn.name)
    np.testing.assert_allclose(np.asarray(mine.moving_mean), np.asarray(fresh_bn.moving_mean))
    folder = save_pipeline(clf, tmp_path / "p", method="mobilenet+finetune", class_names=names,
                           image_size=32, channels=3)
    loaded = load_pipeline(folder)
    np.testing.assert_allclose(loaded.predict_proba(images), clf.predict_proba(images), atol=1e-5)


def test_backbone_rows_reread_small_loads_at_their_size(tmp_path):
    from cvtoolkit.data import load_dataset, split_dataset
    from cvtoolkit.transfer.weights_files import backbone_images
    from tests.conftest import write_image_folder

    folder = write_image_folder(tmp_path / "data", n_per_class=4, size=48)
    ds = load_dataset(str(folder), image_size=16, progress=False)
    train, test = split_dataset(ds, test_size=0.25, seed=0)
    big_train, big_test = backbone_images(train, test, size=40)
    assert big_train.images.shape[1:] == (40, 40, 3) and big_test.images.shape[1:] == (40, 40, 3)
    assert big_train.labels.tolist() == train.labels.tolist() and big_test.paths == test.paths
    # already large enough, or no files to read again: the loaded images are used
    assert backbone_images(train, test, size=16) is None
    assert backbone_images(replace(train, paths=None), test, size=40) is None


@pytest.mark.slow
def test_a_kept_backbone_row_whose_width_came_from_the_file_name_loads_and_predicts_the_same(tmp_path):
    """compare passes weights=<file> and no alpha (the name says 0.25): the saved pipeline must rebuild that width."""
    import numpy as np

    from cvtoolkit.methods import make_method
    from cvtoolkit.methods.artifact import load_pipeline, save_pipeline

    path = _random_mobilenet_file(tmp_path, 0.25)
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    y = np.arange(12) % 2
    est = make_method("mobilenet+logreg", feature_options={"weights": str(path), "image_size": 32,
                                                           "flip_average": False}).fit(X, y)
    assert est.named_steps["features"].alpha is None
    saved = save_pipeline(est, tmp_path / "kept", method="mobilenet+logreg", class_names=["a", "b"],
                          image_size=[32, 32], channels=3)
    np.testing.assert_allclose(load_pipeline(saved).predict_proba(X), est.predict_proba(X), atol=1e-6)
