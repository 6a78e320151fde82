"""`cvtoolkit pack`: a folder of images into one store, end to end through the CLI."""

from __future__ import annotations

import numpy as np

from cvtoolkit.cli import main
from cvtoolkit.data.image_io import read_image
from cvtoolkit.io import read_store
from conftest import write_image_folder


def test_pack_folder_end_to_end(tmp_path, capsys):
    folder = write_image_folder(tmp_path / "shapes", n_per_class=4, size=24)
    (folder / "square" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (folder / "circle" / "big.png").write_bytes((folder / "circle" / "000.png").read_bytes())
    out = tmp_path / "out" / "images.h5"

    rc = main(["pack", "--dataset", str(folder), "--image-size", "16", "--out", str(out), "--chunk-rows", "5"])
    printed = capsys.readouterr().out
    assert rc == 0
    assert "packed 13 images (16x16x3 uint8)" in printed
    assert "circle 5, square 4, stripes 4" in printed
    assert "skipped files: 1" in printed and "broken.png" in printed
    assert str(out) in printed

    ds = read_store(out, expect_kind="images")
    assert ds.images.shape == (13, 16, 16, 3) and ds.class_names == ["circle", "square", "stripes"]
    assert ds.class_counts() == {"circle": 5, "square": 4, "stripes": 4}
    assert [s.path.endswith("broken.png") for s in ds.skipped] == [True]
    assert ds.attrs["source"] == str(folder) and "16" in str(ds.attrs["preprocessing"])
    # each stored row is its file, resized: the mean colour survives resizing
    for i in (0, 6, 12):
        original = read_image(ds.paths[i]).reshape(-1, 3).mean(axis=0)
        np.testing.assert_allclose(ds.images[i].reshape(-1, 3).mean(axis=0), original, atol=12)
    assert sorted(p.name for p in out.parent.iterdir()) == ["images.h5"]


def test_pack_errors_are_one_line_and_leave_nothing(tmp_path, capsys):
    out = tmp_path / "x.h5"
    assert main(["pack", "--dataset", str(tmp_path / "nope"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cvtoolkit pack: error:") and "nope" in err
    assert not out.exists()

    mixed = tmp_path / "mixed"
    write_image_folder(mixed, n_per_class=2, size=20)
    write_image_folder(mixed, n_per_class=1, size=28, seed=1, classes=("circle", "other"))
    assert main(["pack", "--dataset", str(mixed), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "image-size" in err and not out.exists()
    assert list(tmp_path.glob("*.partial")) == []


def test_pack_streams_one_chunk_at_a_time_and_a_failure_leaves_nothing(tmp_path, capsys, monkeypatch):
    import cvtoolkit.data.folder as folder_module

    folder = write_image_folder(tmp_path / "shapes", n_per_class=4, size=24)
    real, seen = folder_module.load_images, []

    def recording(paths, **kw):
        seen.append(len(paths))
        if len(seen) == 3 and fail:
            raise KeyboardInterrupt  # Ctrl-C part way
        return real(paths, **kw)

    monkeypatch.setattr(folder_module, "load_images", recording)
    out = tmp_path / "s.h5"
    fail = False
    assert main(["pack", "--dataset", str(folder), "--image-size", "8", "--out", str(out), "--chunk-rows", "5"]) == 0
    assert seen == [5, 5, 2] and "(streamed)" in capsys.readouterr().out
    assert len(read_store(out)) == 12

    seen.clear()
    fail = True
    try:
        main(["pack", "--dataset", str(folder), "--image-size", "8", "--out", str(tmp_path / "t.h5"),
              "--chunk-rows", "5"])
    except KeyboardInterrupt:
        pass
    assert not (tmp_path / "t.h5").exists() and list(tmp_path.glob("*.partial")) == []


def test_pack_mixed_sizes_found_in_a_later_chunk_and_file_name_labels(tmp_path, capsys):
    import cv2

    mixed = tmp_path / "mixed"
    write_image_folder(mixed, n_per_class=2, size=20)
    write_image_folder(mixed, n_per_class=1, size=28, seed=1, classes=("zzz",))
    out = tmp_path / "m.h5"
    assert main(["pack", "--dataset", str(mixed), "--out", str(out), "--chunk-rows", "2"]) == 2
    assert "different sizes" in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.glob("*.partial")) == []

    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(3):
        for name in ("cat", "dog"):
            cv2.imwrite(str(flat / f"{name}.{i}.png"), np.full((10, 12, 3), 50 * i, np.uint8))
    assert main(["pack", "--dataset", str(flat), "--label-pattern", r"^(cat|dog)\.", "--out", str(out)]) == 0
    ds = read_store(out)
    assert ds.images.shape == (6, 10, 12, 3) and ds.class_counts() == {"cat": 3, "dog": 3}
