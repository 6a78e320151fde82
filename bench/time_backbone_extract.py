"""One backbone extraction in this process: images/s and CPU milliseconds per image (all threads).

Run it alternately with two checkouts on ``PYTHONPATH`` to compare code versions end to end (the
process is fresh each time, so neither inherits the other's warm state). With ONNX Runtime the
first run converts the network once (into the feature cache): run the new code once before timing::

    for r in 1 2 3; do
        PYTHONPATH=/path/to/old python bench/time_backbone_extract.py old
        PYTHONPATH=. python bench/time_backbone_extract.py new
    done
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from _paths import SHARED  # bench/ is on sys.path when a script runs


def main(argv: list[str]) -> int:
    label = argv[0] if argv else "run"
    images = int(argv[1]) if len(argv) > 1 else 3000
    from cvtoolkit._quiet import quiet_tensorflow_import

    quiet_tensorflow_import()
    from cvtoolkit.features.extraction import extract_to_store
    from cvtoolkit.transfer.features import BackboneFeatures

    weights = SHARED / "weights" / "mobilenet_2_5_224_tf_no_top.h5"
    with tempfile.TemporaryDirectory() as tmp:
        feats = BackboneFeatures("mobilenet", alpha=0.25, weights=str(weights), flip_average=False)
        c0, t0 = time.process_time(), time.perf_counter()
        summary = extract_to_store(feats, SHARED / "animals", Path(tmp) / "f.h5", progress=False, resume=False,
                                   max_images=images)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"{label}: {summary.n_rows / wall:.0f} images/s, {cpu / summary.n_rows * 1e3:.2f} CPU-ms per image "
          f"({summary.n_rows} images, load average {os.getloadavg()[0]:.1f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
