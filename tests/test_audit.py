"""cvtoolkit.audit and `cvtoolkit audit`: planted duplicates (exact, resized, re-encoded), leakage across the
compare split, planted label flips, the compare/fit pre-flight and --dedupe, and audit.html in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest

from cvtoolkit.audit import compute_hashes, leakage_line, preflight_leakage, run_audit, write_audit_html
from cvtoolkit.audit.duplicates import near_pairs
from cvtoolkit.data import Dataset, load_dataset, split_dataset


def _photo(seed: int, h: int = 96, w: int = 128) -> np.ndarray:
    """A smooth random 'photo': distinct seeds give distinct perceptual hashes."""
    rng = np.random.default_rng(seed)
    low = rng.integers(0, 256, (5, 6, 3)).astype(np.float32)
    return np.clip(cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)


def _write(path: Path, rgb: np.ndarray, quality: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if quality else []
    ok, buf = cv2.imencode(path.suffix, np.ascontiguousarray(rgb[:, :, ::-1]), params)
    assert ok
    path.write_bytes(buf.tobytes())


@pytest.fixture
def planted(tmp_path) -> dict:
    """3 classes x 12 distinct images, plus planted copies and odd files; returns paths of the plants."""
    root = tmp_path / "planted"
    classes = ("ant", "bee", "cow")
    for c, name in enumerate(classes):
        for i in range(12):
            _write(root / name / f"{i:02d}.png", _photo(100 * c + i))
    src = root / "ant" / "00.png"
    shutil.copy(src, root / "ant" / "00_copy.png")                                        # exact (same bytes)
    _write(root / "ant" / "00_meta.bmp", _photo(0))                                       # exact pixels, other file
    _write(root / "bee" / "03_small.png", cv2.resize(_photo(103), (64, 48), interpolation=cv2.INTER_AREA))  # resized
    _write(root / "cow" / "05_q40.jpg", _photo(205), quality=40)                           # re-encoded JPEG
    _write(root / "cow" / "zz_from_ant.jpg", _photo(7), quality=60)                        # near copy, other class
    _write(root / "bee" / "blank.png", np.full((40, 40, 3), 128, np.uint8))
    _write(root / "bee" / "tiny.png", _photo(999, 20, 20))
    (root / "cow" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    return {"root": root, "exact": {"ant/00.png", "ant/00_copy.png", "ant/00_meta.bmp"},
            "resized": {"bee/03.png", "bee/03_small.png"}, "reencoded": {"cow/05.png", "cow/05_q40.jpg"},
            "cross": {"ant/07.png", "cow/zz_from_ant.jpg"}}


def _rel(path: str) -> str:
    return "/".join(Path(path).parts[-2:])


def test_planted_duplicates_are_grouped_and_nothing_else(planted, tmp_path):
    ds = load_dataset(str(planted["root"]), image_size=32, progress=False)
    result = run_audit(ds, label_issues=False, cache_dir=tmp_path / "cache", progress=False)
    groups = {frozenset(_rel(p) for p in g["paths"]): g for g in result.duplicates}
    exact = groups[frozenset(planted["exact"])]
    assert exact["kind"] == "exact" and not exact["conflicting"]
    for key in ("resized", "reencoded"):
        g = groups[frozenset(planted[key])]
        assert g["kind"] == "near" and not g["conflicting"], g
    cross = groups[frozenset(planted["cross"])]
    assert cross["conflicting"] and set(cross["classes"]) == {"ant", "cow"}
    assert set(groups) == {frozenset(planted[k]) for k in ("exact", "resized", "reencoded", "cross")}
    assert result.duplicate_pairs == 3 + 1 + 1 + 1
    data = result.to_dict()
    for key in ("duplicates", "leakage", "label_issues", "class_counts", "skipped"):
        assert key in data
    assert [_rel(s["path"]) for s in data["skipped"]] == ["cow/broken.jpg"]
    assert [_rel(p) for p in data["images"]["blank"]["paths"]] == ["bee/blank.png"]
    assert [_rel(p) for p in data["images"]["very_small"]["paths"]] == ["bee/tiny.png"]
    json.dumps(data)  # plain data


def test_leakage_uses_the_compare_split_and_matches_brute_force(planted):
    ds = load_dataset(str(planted["root"]), image_size=32, progress=False)
    result = run_audit(ds, label_issues=False, test_size=0.4, seed=3, progress=False)
    train, test = split_dataset(ds, test_size=0.4, seed=3)
    side = {p: "train" for p in train.paths} | {p: "test" for p in test.paths}
    expected = set()
    for key in ("exact", "resized", "reencoded", "cross"):
        members = [p for p in ds.paths if _rel(p) in planted[key]]
        if any(side[p] == "train" for p in members):
            expected |= {p for p in members if side[p] == "test"}
    leak = result.leakage
    assert (leak["test_size"], leak["seed"], leak["n_test"]) == (0.4, 3, len(test))
    assert {t for t, _ in leak["pairs"]} == expected
    assert leak["test_with_duplicate_in_train"] == len(expected)
    assert all(side[t] == "test" and side[r] == "train" for t, r in leak["pairs"])


def test_preflight_dedupe_drops_leaked_test_images_and_train_copies(planted):
    ds = load_dataset(str(planted["root"]), image_size=32, progress=False)
    train, test = split_dataset(ds, test_size=0.5, seed=0)
    _, _, info = preflight_leakage(ds, train, test, dedupe=False, progress=False)
    assert info["dedupe"] is False and info["dropped_test"] == 0
    tr2, te2, info2 = preflight_leakage(ds, train, test, dedupe=True, progress=False)
    leaked = {t for t, _ in info2["pairs"]}
    assert len(te2) == len(test) - len(leaked) == len(test) - info2["dropped_test"]
    assert not leaked & set(te2.paths)
    pixel = {p: h for p, h in zip(ds.paths, compute_hashes(ds, progress=False).pixel)}
    assert len({pixel[p] for p in tr2.paths}) == len(tr2.paths)  # no exact duplicates left in train
    assert len(tr2) == len(train) - info2["dropped_train"]
    assert np.array_equal(np.asarray(te2.paths), np.asarray(ds.paths)[te2.attrs["split_indices"]])
    line = leakage_line(info2)
    assert line.startswith(f"leakage: {len(leaked)} of {len(test)} test images have a near-duplicate in train")


def test_compare_result_carries_leakage_and_dedupe(planted, tmp_path):
    from cvtoolkit.methods.compare import run_compare

    ds = load_dataset(str(planted["root"]), image_size=32, progress=False)
    seen = []
    plain = run_compare(ds, ["raw+knn"], test_size=0.5, seed=0, out_dir=None, progress=False, on_leakage=seen.append)
    deduped = run_compare(ds, ["raw+knn"], test_size=0.5, seed=0, out_dir=None, progress=False, dedupe=True)
    assert seen == [plain.leakage] and plain.settings["leakage"] is plain.leakage
    for key in ("test_with_duplicate_in_train", "n_test", "pairs", "dedupe"):
        assert key in plain.leakage
    n = plain.leakage["test_with_duplicate_in_train"]
    assert n >= 1 and deduped.leakage["dedupe"] is True
    assert deduped.settings["test_samples"] == plain.settings["test_samples"] - n


def test_hashes_come_from_the_cache_the_second_time(planted, tmp_path, monkeypatch):
    from cvtoolkit.audit import hashing

    ds = load_dataset(str(planted["root"]), image_size=32, progress=False)
    first = compute_hashes(ds, cache_dir=tmp_path / "c", progress=False)
    monkeypatch.setattr(hashing, "_fingerprint_file", lambda *a: pytest.fail("decoded again"))
    second = compute_hashes(ds, cache_dir=tmp_path / "c", progress=False)
    assert np.array_equal(first.phash, second.phash) and list(first.pixel) == list(second.pixel)


def test_array_datasets_are_named_by_index():
    img = _photo(1, 32, 32)
    ds = Dataset(np.stack([img, img, _photo(2, 32, 32), _photo(3, 32, 32)]), [0, 0, 1, 1], ["a", "b"],
                 source="arrays.npz")
    result = run_audit(ds, label_issues=False, test_size=0.5, progress=False)
    assert result.duplicates[0]["paths"] == ["arrays.npz[0]", "arrays.npz[1]"]


def test_near_pairs_blocks_match_the_full_matrix(monkeypatch):
    from cvtoolkit.audit import duplicates

    rng = np.random.default_rng(0)
    ph = rng.integers(0, 2**63, 300, dtype=np.uint64)
    ph[150:] = ph[:150] ^ (np.uint64(1) << rng.integers(0, 64, 150).astype(np.uint64))
    full = near_pairs(ph, threshold=3)
    monkeypatch.setattr(duplicates, "_CHUNK_CELLS", 1000)
    assert np.array_equal(near_pairs(ph, threshold=3), full) and len(full) >= 150


def test_planted_label_flips_are_found():
    from cvtoolkit.audit import find_label_issues
    from conftest import make_class_images

    images, labels, names = make_class_images(40, seed=1)
    rng = np.random.default_rng(0)
    flipped = rng.choice(len(labels), 6, replace=False)
    labels = labels.copy()
    labels[flipped] = (labels[flipped] + 1 + rng.integers(0, 2, 6)) % 3
    ds = Dataset(images, labels, names, source="shapes")
    found = find_label_issues(ds, features="color_stats", folds=5, progress=False)
    flagged = {i["index"] for i in found.issues}
    assert len(flagged & set(flipped.tolist())) >= 5
    assert len(flagged - set(flipped.tolist())) <= 2
    top = found.issues[0]
    assert top["given"] != top["suggested"] and top["path"].startswith("shapes[")


def test_cli_audit_writes_json_and_html(planted, tmp_path, capsys):
    from cvtoolkit.cli import main

    out = tmp_path / "out"
    rc = main(["audit", "--dataset", str(planted["root"]), "--out", str(out), "--quiet", "--no-label-issues",
               "--cache-dir", str(tmp_path / "cache")])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "duplicates: 6 pairs (exact or near) in 4 groups" in text
    data = json.loads((out / "audit.json").read_text())
    assert data["label_issues"] == [] and data["label_model"] is None
    assert (out / "audit.html").read_text().count("data:image/png;base64,") >= 9


def test_cli_audit_bad_input_is_one_line(tmp_path, capsys):
    from cvtoolkit.cli import main

    assert main(["audit", "--dataset", str(tmp_path / "nope"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such file or folder" in err[0]
    assert main(["audit", "--dataset", "digits", "--threshold", "99", "--quiet"]) == 2


def test_help_lists_audit_without_heavy_imports():
    code = ("import sys; from cvtoolkit.cli import build_parser; p = build_parser(['--help']); "
            "print(sorted(m for m in ('imagehash', 'cleanlab', 'keras', 'sklearn') if m in sys.modules)); "
            "print('audit' in p.format_help())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["[]", "True"], done.stdout


# ---------------------------------------------------------------- headless Chromium


class _Imgs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.srcs: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.srcs.append(dict(attrs).get("src", ""))


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or (
        "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if not found:
        pytest.fail("headless Chromium is required for this test: bash scripts/install_test_system_deps.sh (README command (b) runs it)")
    return found


@pytest.mark.slow
def test_chromium_shows_the_thumbnails(planted, tmp_path):
    root = planted["root"]
    (root / "ant" / "<b>evil&.png").write_bytes((root / "ant" / "01.png").read_bytes())
    ds = load_dataset(str(root), image_size=32, progress=False)
    result = run_audit(ds, label_issues=False, progress=False)
    page = tmp_path / "audit.html"
    write_audit_html(result, ds, page)
    profile = tmp_path / "profile"
    base = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--force-device-scale-factor=1", f"--user-data-dir={profile}"]
    env = dict(os.environ, HOME=str(tmp_path))
    done = subprocess.run(base + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=180,
                          env=env, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = _Imgs()
    dom.feed(done.stdout)
    assert "script" not in dom.tags
    assert "&lt;b&gt;evil&amp;.png" in done.stdout  # the file name is text, not markup
    thumbs = [s for s in dom.srcs if s.startswith("data:image/png;base64,")]
    assert len(thumbs) >= 11 and len(thumbs) == len(dom.srcs)
    # The browser decodes them: a screenshot of the first group shows its (colourful) thumbnails.
    shot = tmp_path / "shot.png"
    done = subprocess.run(base + ["--window-size=1000,900", f"--screenshot={shot}", page.as_uri()],
                          capture_output=True, text=True, timeout=180, env=env, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    pixels = cv2.imread(str(shot))
    assert pixels is not None
    saturation = cv2.cvtColor(pixels, cv2.COLOR_BGR2HSV)[..., 1]
    assert np.count_nonzero(saturation > 80) > 96 * 60  # at least one thumbnail's worth of colour


def test_fit_prints_the_validation_leakage_and_dedupes(planted, tmp_path, capsys, monkeypatch):
    from cvtoolkit.cli import main

    monkeypatch.setenv("CVTOOLKIT_CACHE_DIR", str(tmp_path / "cache"))
    common = ["fit", "--dataset", str(planted["root"]), "--method", "raw+knn", "--val-size", "0.5", "--quiet"]
    assert main(common + ["--out", str(tmp_path / "m1")]) == 0
    text = capsys.readouterr().out
    line = next(l for l in text.splitlines() if l.startswith("leakage: "))
    n = int(line.split()[1])
    assert n >= 1 and "validation images have a near-duplicate in train" in line
    assert main(common + ["--out", str(tmp_path / "m2"), "--dedupe"]) == 0
    assert f"--dedupe dropped {n} test" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "m2" / "manifest.json").read_text())
    assert json.dumps(manifest).count('"dedupe": true') == 1


def test_audit_of_a_keras_npz_uses_its_official_split(tmp_path):
    rng = np.random.default_rng(0)
    x = np.stack([cv2.cvtColor(_photo(i, 28, 28), cv2.COLOR_RGB2GRAY) for i in range(40)])
    y = np.arange(40) % 2
    x_test = x[:6].copy()  # the "official" test part repeats 6 training images
    path = tmp_path / "mini.npz"
    np.savez(path, x_train=x, y_train=y, x_test=x_test, y_test=y[:6])
    ds = load_dataset(str(path), progress=False)
    result = run_audit(ds, label_issues=False, progress=False)
    leak = result.leakage
    assert leak["test_size"] == "official" and leak["n_test"] == 6
    assert leak["test_with_duplicate_in_train"] == 6 and leak["exact"] == 6
    assert leak["pairs"][0] == ["mini.npz[40]", "mini.npz[0]"]


@pytest.mark.slow
def test_backbone_weights_in_the_keras_cache_are_preferred(tmp_path, monkeypatch):
    from cvtoolkit.audit.label_issues import backbone_weights_on_disk
    from cvtoolkit.errors import CvToolkitError
    from cvtoolkit.transfer.backbones import imagenet_weights_file

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    assert backbone_weights_on_disk() is None
    models = tmp_path / "keras" / "models"
    models.mkdir(parents=True)
    (models / "unrelated.h5").write_bytes(b"x")
    assert backbone_weights_on_disk() is None
    name = imagenet_weights_file("mobilenet", alpha=0.5)
    (models / name).write_bytes(b"x")
    assert backbone_weights_on_disk() == ("mobilenet", {"weights": str(models / name), "alpha": 0.5})
    with pytest.raises(CvToolkitError, match="not a file name Keras gives"):
        backbone_weights_on_disk(models / "unrelated.h5")


def test_tiny_images_count_exact_copies_only():
    """8x8 digits: a perceptual hash matches look-alikes, so only pixel-identical copies are leakage."""
    from cvtoolkit.audit.duplicates import MIN_NEAR_SIDE, leakage_pairs
    from cvtoolkit.audit.hashing import compute_hashes
    from cvtoolkit.audit.leakage import leakage_line, leakage_report
    from cvtoolkit.data import Dataset

    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
    nudged = np.clip(base.astype(int) + 3, 0, 255).astype(np.uint8)  # same look, other pixels
    other = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
    ds = Dataset(np.stack([base, other, base, nudged]), [0, 1, 0, 0], ["a", "b"])
    hashes = compute_hashes(ds, progress=False)
    assert hashes.phash[0] == hashes.phash[3] or bin(int(hashes.phash[0] ^ hashes.phash[3])).count("1") <= 6
    found = leakage_pairs(hashes, np.array([0, 1]), np.array([2, 3]))
    assert found == {2: (0, True)}  # the copy, not the look-alike
    info, _ = leakage_report(hashes, [f"d[{i}]" for i in range(4)], np.array([0, 1]), np.array([2, 3]))
    assert info["near_checked"] == 0 and f"under {MIN_NEAR_SIDE} px" in leakage_line(info)
    # the same images at 32x32 are compared perceptually: the look-alike counts too
    big = Dataset(np.stack([np.kron(im, np.ones((4, 4, 1), np.uint8)) for im in ds.images]), ds.labels, ["a", "b"])
    assert set(leakage_pairs(compute_hashes(big, progress=False), np.array([0, 1]), np.array([2, 3]))) == {2, 3}


def test_arrays_upscaled_when_loaded_keep_their_native_size():
    """digits (8x8) loaded at 32x32: still too small for perceptual matching; 85 look-alikes were flagged before."""
    from cvtoolkit.audit import preflight_leakage
    from cvtoolkit.data import load_dataset
    from cvtoolkit.data.split import split_dataset

    ds = load_dataset("digits", image_size=32, progress=False)
    assert ds.attrs["source_size"] == [8, 8]
    train, test = split_dataset(ds, test_size=0.25, seed=42)
    _, _, info = preflight_leakage(ds, train, test, progress=False)
    assert info["near_checked"] == 0 and info["test_with_duplicate_in_train"] == 0


def test_cli_audit_refuses_a_folder_it_did_not_write(tmp_path, capsys):
    from cvtoolkit.cli import main

    mine = tmp_path / "mydocs"
    mine.mkdir()
    (mine / "thesis.txt").write_text("thesis")
    assert main(["audit", "--dataset", "digits", "--no-label-issues", "--out", str(mine), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--overwrite" in err[0] and (mine / "thesis.txt").read_text() == "thesis"
    assert not (mine / "audit.json").exists()
    assert main(["audit", "--dataset", "digits", "--no-label-issues", "--no-cache", "--out", str(mine),
                 "--overwrite", "--quiet"]) == 0
    assert (mine / "audit.json").is_file()


def test_a_weak_label_model_withholds_its_list_and_says_why(tmp_path, capsys):
    """Labels that images cannot predict (noise in 3 folders): the list would be noise, so it is not shown."""
    from cvtoolkit.cli import main

    rng = np.random.default_rng(0)
    root = tmp_path / "noise"
    for c in ("ant", "bee", "cow"):
        for i in range(20):
            _write(root / c / f"{i:02d}.png", rng.integers(0, 256, (24, 24, 3), dtype=np.uint8))
    out = tmp_path / "out"
    rc = main(["audit", "--dataset", str(root), "--out", str(out), "--quiet", "--label-features", "color_stats",
               "--folds", "3", "--no-cache", "--n-jobs", "1"])
    text = capsys.readouterr().out
    assert rc == 0, text
    line = next(t for t in text.splitlines() if t.startswith("label issues:"))
    assert "withheld as unreliable" in line and "the model is weak" in line and "--weights" in line
    data = json.loads((out / "audit.json").read_text())
    model = data["label_model"]
    assert data["label_issues"] == [] and model["reliable"] is False and model["flagged"] > 0
    assert model["cv_accuracy"] < 0.5 and model["chance_accuracy"] == pytest.approx(1 / 3, abs=1e-3)
    html_text = (out / "audit.html").read_text()
    assert 'id="label-issues-unreliable"' in html_text and "withheld as unreliable" in html_text


def test_reliability_rules():
    from cvtoolkit.audit.label_issues import MAX_FLAGGED_FRACTION, reliability

    assert reliability(0.92, 0.34, 230, 3000) == []                     # MobileNet on flipped Animals
    too_many = reliability(0.64, 0.34, 1071, 3000)                       # combined descriptors on it
    assert len(too_many) == 1 and "1071 of 3000" in too_many[0]
    assert len(reliability(0.33, 0.25, 2083, 3589)) == 2                 # 7 emotions: weak and too many
    assert reliability(0.9, 0.5, int(MAX_FLAGGED_FRACTION * 1000), 1000) == []
