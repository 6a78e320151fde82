"""Issue 11 case 13: an image replaced in place between an interrupted extraction and its resume is described
again (the resume key is path + size + modification time), not kept with its old features."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from conftest import write_image_folder
from cvtoolkit.features import ColorHistogram
from cvtoolkit.features import extraction
from cvtoolkit.features.extraction import extract_to_store
from cvtoolkit.io import read_store


class Crash(Exception):
    pass


def test_a_file_replaced_in_place_is_described_again_after_resume(tmp_path, monkeypatch):
    folder = write_image_folder(tmp_path / "shapes", n_per_class=8, size=32)
    out, ref = tmp_path / "f.h5", tmp_path / "ref.h5"
    real = extraction.describe_chunk
    state = {"n": 0, "fail_at": 3}

    def counting(transformer, *args, **kw):
        if not isinstance(transformer, extraction._Identity):
            state["n"] += 1
            if state["fail_at"] and state["n"] >= state["fail_at"]:
                raise Crash()
        return real(transformer, *args, **kw)

    monkeypatch.setattr(extraction, "describe_chunk", counting)
    with pytest.raises(Crash):
        extract_to_store(ColorHistogram(bins=4), folder, out, batch_size=4, progress=False)
    assert os.path.exists(f"{out}.partial")  # chunks 1-2 committed
    first = sorted(folder.rglob("*.png"))[0]  # described in chunk 1, already in the .partial
    before = first.stat()
    cv2.imwrite(str(first), np.full((32, 32, 3), 255, np.uint8))  # same path, other content
    os.utime(first, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))
    state["fail_at"] = 0
    extract_to_store(ColorHistogram(bins=4), folder, out, batch_size=4, progress=False)
    extract_to_store(ColorHistogram(bins=4), folder, ref, batch_size=4, progress=False)
    got, want = read_store(out), read_store(ref)
    assert got.paths == want.paths and got.paths[0] == str(first)
    np.testing.assert_array_equal(got.images, want.images)  # the replaced image's row is its new features
    assert got.attrs["resumed_rows"] == 0


def test_samples_fingerprint_follows_size_and_mtime(tmp_path):
    folder = write_image_folder(tmp_path / "shapes", n_per_class=2, size=16)
    src, _ = extraction._open_source(folder, None, False)
    order = np.arange(len(src))
    a = extraction.samples_fingerprint(src, order)
    assert extraction.samples_fingerprint(src, order) == a
    path = src.paths[0]
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))
    assert extraction.samples_fingerprint(src, order) != a
