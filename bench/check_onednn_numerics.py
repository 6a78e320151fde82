"""Check: how much oneDNN (TensorFlow's default on x86) changes the CNNs' numbers.

Runs the same computations twice in fresh processes, with
``TF_ENABLE_ONEDNN_OPTS=0`` and with TensorFlow's default (on), and prints
the largest differences: forward passes of every built-in CNN and of the
MobileNet 0.25 feature extractor on fixed inputs, and a few seeded training
steps of ShallowNet (loss and weights after training).

Usage::

    python bench/check_onednn_numerics.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _paths import SHARED  # noqa: E402  (bench/ is on sys.path when a script runs)


def _child(out: str) -> None:
    from cvtoolkit._quiet import quiet_tensorflow_import

    quiet_tensorflow_import()
    import keras
    import numpy as np

    from cvtoolkit.nn import build_model
    from cvtoolkit.nn.names import BUILTIN_MODELS
    from cvtoolkit.transfer.backbones import build_feature_extractor

    rng = np.random.default_rng(0)
    results = {}
    for name in BUILTIN_MODELS:
        keras.utils.set_random_seed(0)
        shape = (28, 28, 1) if name == "lenet" else (64, 64, 3) if name == "alexnet" else (32, 32, 3)
        model = build_model(name, shape, classes=10)
        x = rng.random((16,) + shape).astype("float32")
        results[name] = model.predict(x, verbose=0)
    weights = SHARED / "weights" / "mobilenet_2_5_224_tf_no_top.h5"
    if weights.exists():
        model = build_feature_extractor("mobilenet", image_size=(224, 224), alpha=0.25, weights=str(weights))
        results["mobilenet_0.25_features"] = model.predict(rng.integers(0, 256, (8, 224, 224, 3)).astype("float32"),
                                                           verbose=0)
    keras.utils.set_random_seed(0)
    model = build_model("shallownet", (32, 32, 3), classes=3)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
    x = rng.random((96, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 3, 96)
    hist = model.fit(x, y, epochs=3, batch_size=32, shuffle=False, verbose=0)
    results["shallownet_train_loss"] = np.asarray(hist.history["loss"])
    results["shallownet_trained_weights"] = np.concatenate([w.ravel() for w in model.get_weights()])
    np.savez(out, **results)


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        _child(sys.argv[2])
        return 0
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for label, value in (("off", "0"), ("on", None)):
            env = dict(os.environ)
            env.pop("TF_ENABLE_ONEDNN_OPTS", None)
            if value is not None:
                env["TF_ENABLE_ONEDNN_OPTS"] = value
            files[label] = str(Path(tmp) / f"{label}.npz")
            subprocess.run([sys.executable, __file__, "--child", files[label]], env=env, check=True)
        off, on = np.load(files["off"]), np.load(files["on"])
        report = {}
        for key in off.files:
            a, b = off[key].astype(np.float64), on[key].astype(np.float64)
            diff = np.abs(a - b)
            report[key] = {"max_abs": float(diff.max()), "max_rel": float((diff / (np.abs(a) + 1e-12)).max()),
                           "scale": float(np.abs(a).max())}
            extra = ""
            if a.ndim == 2 and a.shape[1] > 1 and key != "mobilenet_0.25_features":
                extra = f", argmax agrees {float((a.argmax(1) == b.argmax(1)).mean()):.3f}"
            print(f"{key:<30} max |off - on| {diff.max():.3g} (values up to {np.abs(a).max():.3g}){extra}")
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
