"""The decoder: pixel limit for every format, EXIF orientation, reduced-scale JPEG decoding.

Issue 11 cases 4 (a Radiance HDR named ``.jpg`` went past ``--max-pixels``
and was decoded) and 5 (EXIF orientation ignored), and issue 14's decoding
work (JPEGs decoded at reduced DCT scale, then one area resize).
"""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

import cvtoolkit.data.image_io as image_io
from cvtoolkit.data import UnreadableImageError, decode_image, load_dataset, load_images, read_image
from cvtoolkit.data.image_io import sniff_format


def _hdr_bytes(h: int, w: int) -> bytes:
    """A Radiance HDR of ``h x w`` float pixels (run-length coded, so a few KB for a flat image)."""
    ok, buf = cv2.imencode(".hdr", np.full((h, w, 3), 0.5, np.float32))
    assert ok
    return buf.tobytes()


def _photo(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth RGB image with some detail (a gradient plus noise), asymmetric so that flips show."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.dstack([x * 255 // w, y * 255 // h, (x + y) * 127 // (h + w)]).astype(np.int16)
    img[: h // 4, : w // 3] = [250, 20, 20]  # a red block in the top-left corner
    img += rng.integers(-10, 10, img.shape, dtype=np.int16)
    return np.clip(img, 0, 255).astype(np.uint8)


def _jpeg(rgb: np.ndarray, orientation: int | None = None, quality: int = 95) -> bytes:
    buf = io.BytesIO()
    kwargs = {}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality, **kwargs)
    return buf.getvalue()


# ----------------------------------------------------------------------------- issue 11, case 4


def test_an_hdr_named_jpg_over_the_limit_is_skipped_and_never_decoded(tmp_path, monkeypatch):
    root = tmp_path / "ds"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(2):
            cv2.imwrite(str(root / cls / f"{i}.png"), np.full((8, 8, 3), 40 * i, np.uint8))
    data = _hdr_bytes(2000, 2000)  # 4 million pixels, 48 MB as float32
    assert len(data) < 300_000  # 16 bytes a row
    (root / "a" / "x.jpg").write_bytes(data)
    calls = []
    real = cv2.imdecode

    def spy(buf, flags):
        calls.append(bytes(buf[:10]))
        return real(buf, flags)

    monkeypatch.setattr(image_io.cv2, "imdecode", spy)
    ds = load_dataset(str(root), image_size=8, max_pixels=1_000_000, progress=False)
    assert len(ds) == 4
    [skip] = ds.skipped
    assert skip.path.endswith("x.jpg")
    assert "Radiance HDR image refused" in skip.reason and "size cannot be read before decoding" in skip.reason
    assert not any(c.startswith(b"#?") for c in calls)  # the decoder never saw it


def test_formats_without_a_readable_size_are_refused_unless_the_limit_is_lifted():
    data = _hdr_bytes(30, 40)  # small, but its size cannot be known before decoding
    with pytest.raises(UnreadableImageError, match="Radiance HDR image refused"):
        decode_image(data)
    img = decode_image(data, max_pixels=None)
    assert img.shape == (30, 40, 3) and img.dtype == np.uint8


def test_a_known_signature_whose_header_the_checker_cannot_read_is_refused():
    ok, png = cv2.imencode(".png", np.zeros((20, 20, 3), np.uint8))
    data = bytearray(png.tobytes())
    data[12:16] = b"XXXX"  # the IHDR chunk renamed: the size is unknown
    with pytest.raises(UnreadableImageError, match="PNG header unreadable"):
        decode_image(bytes(data))


def test_sniffing_names_the_formats_opencv_decodes():
    ok, png = cv2.imencode(".png", np.zeros((4, 4), np.uint8))
    assert sniff_format(png.tobytes()) == ("PNG", "PNG")
    assert sniff_format(_jpeg(_photo(8, 8))) == ("JPEG", "JPEG")
    assert sniff_format(_hdr_bytes(4, 4)) == ("Radiance HDR", None)
    assert sniff_format(b"this is not an image") is None


def test_a_jpeg_bomb_is_refused_from_the_libjpeg_header():
    data = _jpeg(_photo(120, 100))
    with pytest.raises(UnreadableImageError, match="100x120 pixels exceeds the limit of 11999"):
        decode_image(data, max_pixels=11_999)
    assert decode_image(data, max_pixels=12_000).shape == (120, 100, 3)


# ----------------------------------------------------------------------------- issue 11, case 5


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_to_jpegs(orientation):
    rgb = _photo()
    plain = decode_image(_jpeg(rgb))
    tagged = decode_image(_jpeg(rgb, orientation))
    # Pillow's exif_transpose of the same pixels is the reference
    expected = np.asarray(ImageOps.exif_transpose(_tagged_pil(plain, orientation)))
    assert tagged.shape == expected.shape and tagged.flags.c_contiguous
    assert np.array_equal(tagged, expected)


def _tagged_pil(rgb: np.ndarray, orientation: int) -> Image.Image:
    im = Image.fromarray(rgb)
    im.getexif()[0x0112] = orientation
    return im


def test_a_phone_photo_tagged_orientation_6_is_stored_upright(tmp_path):
    rgb = _photo(48, 64)  # stored landscape, the red block top-left
    path = tmp_path / "phone.jpg"
    path.write_bytes(_jpeg(rgb, 6))
    img = read_image(path)
    assert img.shape == (64, 48, 3)  # shown portrait
    untagged = decode_image(_jpeg(rgb))
    assert np.array_equal(img, np.rot90(untagged, k=-1))  # 90 degrees clockwise
    assert img[2, -2, 0] > 200 and img[2, -2, 1] < 80  # the red block is now top-right
    # through the folder loader, resized: the same upright picture
    (tmp_path / "ds" / "a").mkdir(parents=True)
    (tmp_path / "ds" / "a" / "phone.jpg").write_bytes(path.read_bytes())
    images, kept, skipped = load_images([str(tmp_path / "ds" / "a" / "phone.jpg")], image_size=(32, 24),
                                        progress=False)
    expected = cv2.resize(np.ascontiguousarray(np.rot90(untagged, k=-1)), (24, 32), interpolation=cv2.INTER_AREA)
    assert images.shape == (1, 32, 24, 3) and not skipped
    assert np.abs(images[0].astype(int) - expected).mean() < 3.0  # reduced-scale decoding: close, not equal


@pytest.mark.parametrize("fmt, kwargs", [("PNG", {}), ("TIFF", {}), ("WEBP", {"lossless": True})])
@pytest.mark.parametrize("orientation", range(2, 9))
def test_exif_orientation_is_applied_to_other_formats(fmt, kwargs, orientation):
    rgb = _photo(20, 30)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, fmt, exif=exif, **kwargs)
    got = decode_image(buf.getvalue())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")))
    assert got.shape == expected.shape
    assert np.array_equal(got, expected)


# ----------------------------------------------------------------------------- reduced-scale JPEG decoding


def test_reduced_jpeg_decoding_is_close_to_full_decoding_and_area_resize():
    rgb = cv2.resize(_photo(60, 80, seed=1), (640, 480), interpolation=cv2.INTER_CUBIC)
    data = _jpeg(rgb, quality=90)
    full = decode_image(data)
    for h, w in [(32, 32), (48, 40), (120, 160)]:
        got = decode_image(data, size=(h, w))
        ref = cv2.resize(full, (w, h), interpolation=cv2.INTER_AREA)
        assert got.shape == (h, w, 3)
        diff = np.abs(got.astype(int) - ref)
        assert diff.mean() < 2.0, (h, w, diff.mean())


def test_reduced_decoding_really_decodes_fewer_pixels(monkeypatch):
    import simplejpeg

    seen = []
    real = simplejpeg.decode_jpeg

    def spy(data, **kwargs):
        out = real(data, **kwargs)
        seen.append(out.shape)
        return out

    monkeypatch.setattr(simplejpeg, "decode_jpeg", spy)
    data = _jpeg(np.zeros((400, 600, 3), np.uint8))
    assert decode_image(data, size=32).shape == (32, 32, 3)
    assert seen[-1][:2] == (50, 75)  # 1/8 scale: the smallest that keeps the target size
    assert decode_image(data, size=(120, 60)).shape == (120, 60, 3)
    assert seen[-1][:2] == (200, 300)  # 1/4 would give 100 rows, under 120: 1/2
    assert decode_image(data).shape == (400, 600, 3)
    assert seen[-1][:2] == (400, 600)


def test_enlarging_and_odd_jpegs_through_the_resize_path(tmp_path):
    small = _jpeg(_photo(10, 12))
    up = decode_image(small, size=40)
    ref = cv2.resize(decode_image(small), (40, 40), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(up, ref)
    grey = io.BytesIO()
    Image.fromarray(_photo(40, 40)[:, :, 1]).save(grey, "JPEG")
    img = decode_image(grey.getvalue(), size=10)
    assert img.shape == (10, 10, 3) and np.array_equal(img[..., 0], img[..., 2])
    cmyk = io.BytesIO()
    Image.new("CMYK", (50, 30), (0, 255, 255, 0)).save(cmyk, "JPEG")  # red; simplejpeg cannot convert CMYK
    r, g, b = decode_image(cmyk.getvalue(), size=8)[4, 4].tolist()
    assert r > 200 and g < 60 and b < 60


def test_load_images_resizes_like_the_resize_step_for_lossless_files(tmp_path):
    from cvtoolkit.data import Resize

    paths = []
    for i, (h, w) in enumerate([(50, 70), (20, 10), (33, 33)]):
        p = tmp_path / f"{i}.png"
        cv2.imwrite(str(p), _photo(h, w, seed=i)[:, :, ::-1])
        paths.append(str(p))
    images, kept, skipped = load_images(paths, image_size=(16, 24), progress=False, n_jobs=2)
    assert images.shape == (3, 16, 24, 3) and not skipped
    for img, p in zip(images, paths):
        assert np.array_equal(img, Resize((16, 24))(read_image(p)))


# ----------------------------------------------------------------------------- decoder version


def test_an_interrupted_extraction_is_not_resumed_by_another_decoder_version(tmp_path, monkeypatch):
    from conftest import write_image_folder

    from cvtoolkit.features import ColorHistogram
    from cvtoolkit.features import extraction
    from cvtoolkit.io import read_store

    root = write_image_folder(tmp_path / "ds", n_per_class=4, size=16)
    out = tmp_path / "f.h5"
    real, seen = extraction.describe_chunk, []

    def crash_on_third(transformer, *args, **kwargs):
        if not isinstance(transformer, extraction._Identity):
            seen.append(1)
            if len(seen) == 3:
                raise KeyboardInterrupt
        return real(transformer, *args, **kwargs)

    monkeypatch.setattr(extraction, "describe_chunk", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        extraction.extract_to_store(ColorHistogram(bins=4), root, out, batch_size=2, progress=False)
    monkeypatch.setattr(extraction, "describe_chunk", real)
    monkeypatch.setattr(extraction, "DECODER_VERSION", image_io.DECODER_VERSION + 1)
    summary = extraction.extract_to_store(ColorHistogram(bins=4), root, out, batch_size=2, progress=False)
    assert summary.resumed_rows == 0  # the rows decoded by the other version were not reused
    assert read_store(out).attrs["decoder_version"] == image_io.DECODER_VERSION + 1


def test_pack_names_the_refused_hdr_and_packs_the_rest(tmp_path, capsys):
    from conftest import write_image_folder

    from cvtoolkit.cli import main
    from cvtoolkit.io import read_store

    root = write_image_folder(tmp_path / "ds", n_per_class=2, size=8, classes=("a", "b"))
    (root / "a" / "innocent.jpg").write_bytes(_hdr_bytes(2000, 2000))
    out = tmp_path / "s.h5"
    rc = main(["pack", "--dataset", str(root), "--image-size", "8", "--max-pixels", "1000000", "--out", str(out),
               "--quiet"])
    printed = capsys.readouterr().out
    assert rc == 0
    assert "innocent.jpg: Radiance HDR image refused" in printed and "skipped files: 1" in printed
    assert len(read_store(out)) == 4
