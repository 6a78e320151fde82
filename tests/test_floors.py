"""Each piece on its floor (issue 21): the helpers that moved down, and where they answer from."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])


def test_one_keras_home_for_datasets_and_weights(monkeypatch, tmp_path):
    from cvtoolkit.audit.label_issues import _keras_models_dir
    from cvtoolkit.data.arrays import keras_cache_dir
    from cvtoolkit.data.keras_home import keras_home
    from cvtoolkit.methods.backbone_weights import keras_models_dir

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KERAS_HOME", "~/kh")
    assert keras_home() == tmp_path / "kh"
    assert keras_cache_dir() == tmp_path / "kh" / "datasets"  # "~" expanded for datasets too
    assert keras_models_dir() == _keras_models_dir() == tmp_path / "kh" / "models"
    monkeypatch.delenv("KERAS_HOME")
    assert keras_home() == tmp_path / ".keras"


def test_weight_file_names_live_in_transfer_without_keras():
    code = ("import sys; import cvtoolkit.transfer; from cvtoolkit.transfer.weights_files import parse_weights_file; "
            "from cvtoolkit.methods.backbone_weights import default_backbone_rows; "
            "assert parse_weights_file('mobilenet_2_5_224_tf_no_top.h5').alpha == 0.25; "
            "print(sorted(m for m in ('keras', 'tensorflow', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=ROOT), timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_default_image_size_is_decided_on_the_data_and_features_floors():
    from cvtoolkit.commands._common import default_image_size
    from cvtoolkit.data import DEFAULT_IMAGE_SIZE, default_image_size as data_size
    from cvtoolkit.features.options import image_size_for

    assert data_size("digits", None) == DEFAULT_IMAGE_SIZE == 32
    assert data_size("mnist", None) is None and data_size("digits", None, input_size=224) == 224
    for spec, size, features in [("digits", None, None), ("digits", 20, "hog"), ("digits", None, "dsift_spm"),
                                 ("digits", None, "mobilenet"), ("mnist", None, "hog")]:
        assert image_size_for(spec, size, features=features) == default_image_size(spec, size, features=features)
    assert image_size_for("digits", None, features="mobilenet") == 224
    assert image_size_for("digits", None, features="dsift_spm") is None


def test_feature_options_are_parsed_and_checked_in_features():
    import pytest

    from cvtoolkit.errors import ExtractArgumentError
    from cvtoolkit.features.options import make_extractor

    hog = make_extractor(["hog"], {}, ["orientations=8"])
    assert hog.orientations == 8 and hog.n_jobs == 1
    with pytest.raises(ExtractArgumentError, match="not an option of hog"):
        make_extractor(["hog"], {}, ["bogus=1"])
    with pytest.raises(ExtractArgumentError, match="unknown features 'nope'"):
        make_extractor(["nope"], {})
    with pytest.raises(ExtractArgumentError, match="invalid --set value"):
        make_extractor(["hog"], {}, ["orientations=-3"])


def test_one_float_to_uint8_policy_on_every_route(tmp_path):
    """The same float image becomes the same pixels through the decoder, a dataset array, a descriptor and a plot."""
    import numpy as np

    from cvtoolkit.data import load_dataset, to_rgb_uint8
    from cvtoolkit.evaluate.interpret import to_display_image
    from cvtoolkit.features.base import _one_image
    from cvtoolkit.imageops import to_gray, to_uint8

    rng = np.random.default_rng(0)
    for image in (rng.random((5, 4, 3)).astype(np.float32),           # [0, 1]
                  (rng.random((5, 4, 3)) * 255).astype(np.float32),   # [0, 255]
                  np.full((5, 4, 3), 65535, np.uint16) // np.uint16(3)):  # 16-bit
        want = to_uint8(image)
        assert want.dtype == np.uint8 and want.max() > 1
        np.testing.assert_array_equal(to_rgb_uint8(image), want)
        np.testing.assert_array_equal(to_display_image(image), want)
        np.testing.assert_array_equal(_one_image(image, 0), want)
        np.testing.assert_array_equal(to_gray(image), to_gray(want))
        np.savez(tmp_path / "x.npz", x_train=image[None], y_train=[0], x_test=image[None], y_test=[0])
        np.testing.assert_array_equal(load_dataset(tmp_path / "x.npz", progress=False).images[0], want)


def test_one_resize_rule_for_preprocessors_decoders_and_batches():
    import cv2
    import numpy as np

    from cvtoolkit.data import Resize, decode_image
    from cvtoolkit.imageops import resize_batch, resize_pixels

    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    ok, png = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    for hw in ((12, 16), (60, 80)):  # shrinking: area; growing: bilinear
        flag = cv2.INTER_AREA if hw[0] < 30 else cv2.INTER_LINEAR
        want = cv2.resize(image, hw[::-1], interpolation=flag)
        np.testing.assert_array_equal(resize_pixels(image, hw), want)
        np.testing.assert_array_equal(Resize(hw)(image), want)
        np.testing.assert_array_equal(resize_batch(image[None], hw)[0], want)
        np.testing.assert_array_equal(decode_image(png.tobytes(), size=hw), want)
    # the rarer pixel types go through the same function on every route
    ints = rng.integers(-5, 300, (6, 6), dtype=np.int64)
    np.testing.assert_array_equal(Resize(3)(ints), resize_pixels(ints, (3, 3)))
    assert resize_batch([ints[..., None].astype(np.int32)], (3, 3)).dtype == np.int32


def test_one_csv_writer(tmp_path):
    """Leaderboard, predictions and top-losses CSVs all go through io.csv_safe (formulas neutralised, JSON lists)."""
    import cvtoolkit.evaluate.leaderboard as leaderboard
    from cvtoolkit.evaluate import Leaderboard
    from cvtoolkit.io.csv_safe import dict_csv_text, write_csv_atomic

    assert not hasattr(leaderboard, "csv_text") and not hasattr(leaderboard, "write_csv_atomic")
    board = Leaderboard([{"method": "=evil", "accuracy": 0.5, "fit_seconds": 1.0, "predict_ms_per_image": 1.0,
                          "classes": ["a", "b"]}])
    text = board.to_csv()
    assert text == dict_csv_text(board.to_dicts(), board.columns())
    assert "'=evil" in text and '"[""a"", ""b""]"' in text
    write_csv_atomic(tmp_path / "x.csv", [["id", "p"], ["@x", 1]])
    assert (tmp_path / "x.csv").read_text() == "id,p\n'@x,1\n"


def test_one_leaderboard_renderer_for_compare_and_evaluate_reports(tmp_path):
    from types import SimpleNamespace

    import cvtoolkit.evaluate.compare_report as compare_report
    import cvtoolkit.evaluate.html_report as html_report
    from cvtoolkit.evaluate import Leaderboard

    rows = [{"method": "a", "accuracy": 0.9, "accuracy_ci_low": 0.8, "accuracy_ci_high": 0.95, "f1_macro": 0.9,
             "fit_seconds": 1.0, "predict_ms_per_image": 0.5, "p_vs_best": None, "tied_with_best": True},
            {"method": "b", "accuracy": 0.7, "f1_macro": 0.7, "fit_seconds": 1.0, "predict_ms_per_image": 0.5,
             "p_vs_best": 0.0004, "tied_with_best": False}]
    assert not hasattr(html_report, "_leaderboard_table") and not hasattr(compare_report, "_leaderboard_html")
    evaluate_page = html_report.render_html_report(title="t", settings={}, leaderboard=Leaderboard(rows),
                                                   confusion_pngs={})
    assert html_report.leaderboard_html(rows, "accuracy", sortable=False) in evaluate_page
    compare_page = compare_report.render_compare_html(
        SimpleNamespace(rows=rows, reports={}, files={}, settings={}, verdict="v", sort_metric="accuracy"), tmp_path)
    table = html_report.leaderboard_html(rows, "accuracy")
    assert table in compare_page and '0.900<span class="ci"> [0.800, 0.950]</span>' in table and "&lt; 0.001" in table


def test_registry_docstring_names_every_registry_that_uses_it():
    import importlib

    import cvtoolkit.registry as registry

    for module in ("cvtoolkit.features.registry", "cvtoolkit.classifiers.registry", "cvtoolkit.nn.names",
                   "cvtoolkit.transfer.backbones", "cvtoolkit.train.schedules.factory"):
        if module.split(".")[1] not in ("transfer", "train"):  # (these import Keras: not here, to stay fast)
            assert isinstance(importlib.import_module(module).REGISTRY, registry.Registry)
        assert f"{module}.REGISTRY" in registry.__doc__, module
    assert "can adopt it" not in registry.__doc__
