"""Shared fixtures: tiny datasets the tests make themselves (nothing downloaded, nothing from ../shared)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["CVTOOLKIT_OFFLINE"] = "1"  # tests never download (the download tests serve files on 127.0.0.1)
# Backbone features run in Keras in the suite (a conversion to ONNX costs seconds and writes to the feature
# cache); tests/test_onnx_backbones.py runs them through ONNX Runtime, in a temporary cache.
os.environ.setdefault("CVTOOLKIT_BACKBONE_RUNTIME", "keras")

from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


def make_class_images(n_per_class: int, classes=("circle", "square", "stripes"), size: int = 32, seed: int = 0):
    """Synthetic RGB images whose class is visible (shape + colour), for end-to-end tests."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label, name in enumerate(classes):
        for _ in range(n_per_class):
            img = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
            c = size // 2 + int(rng.integers(-2, 3))
            colour = [(220, 40, 40), (40, 220, 40), (40, 40, 220), (220, 220, 40)][label % 4]
            if label % 3 == 0:
                cv2.circle(img, (c, c), size // 4, colour, -1)
            elif label % 3 == 1:
                cv2.rectangle(img, (c - size // 4, c - size // 4), (c + size // 4, c + size // 4), colour, -1)
            else:
                img[:, ::4] = colour
            images.append(img)
            labels.append(label)
    return np.stack(images), np.asarray(labels), list(classes)


def write_image_folder(root: Path, n_per_class: int = 8, size: int = 32, ext: str = ".png", seed: int = 0,
                       classes=("circle", "square", "stripes")) -> Path:
    """``root/<class>/<i>.png`` from :func:`make_class_images`; returns ``root``."""
    images, labels, names = make_class_images(n_per_class, classes=classes, size=size, seed=seed)
    for i, (img, lab) in enumerate(zip(images, labels)):
        d = root / names[lab]
        d.mkdir(parents=True, exist_ok=True)
        ok, buf = cv2.imencode(ext, img[:, :, ::-1])
        assert ok
        (d / f"{i:03d}{ext}").write_bytes(buf.tobytes())
    return root


@pytest.fixture
def image_folder(tmp_path) -> Path:
    """A class-per-folder dataset: 3 classes x 8 PNG images of 32x32."""
    return write_image_folder(tmp_path / "shapes")


@pytest.fixture(autouse=True)
def _one_native_thread():
    """Tiny fits are slower with OpenMP/BLAS thread pools on a busy 2-core machine; keep them at one."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield
