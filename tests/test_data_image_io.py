"""Decoding: channel order, normalisation of odd formats, rejection of bad files."""

import cv2
import numpy as np
import pytest
from PIL import Image

from cvtoolkit.data import UnreadableImageError, read_image, to_rgb_uint8


def _bgr_red(h=6, w=5):
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 2] = 255  # red in OpenCV's BGR
    return img


def test_png_is_rgb_uint8(tmp_path):
    p = tmp_path / "red.png"
    cv2.imwrite(str(p), _bgr_red())
    img = read_image(p)
    assert img.dtype == np.uint8 and img.shape == (6, 5, 3)
    assert img[0, 0].tolist() == [255, 0, 0]


def test_grey_16bit_rgba_palette_cmyk(tmp_path):
    cv2.imwrite(str(tmp_path / "g.png"), np.full((4, 4), 100, np.uint8))
    assert read_image(tmp_path / "g.png")[0, 0].tolist() == [100, 100, 100]

    cv2.imwrite(str(tmp_path / "d.png"), np.full((4, 4), 65535, np.uint16))
    img16 = read_image(tmp_path / "d.png")
    assert img16.dtype == np.uint8 and img16[0, 0].tolist() == [255, 255, 255]

    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 2] = 255  # red (BGRA)
    rgba[..., 3] = 255
    rgba[0, 0, 3] = 0  # transparent pixel composited on black
    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    img = read_image(tmp_path / "a.png")
    assert img.shape == (4, 4, 3) and img[1, 1].tolist() == [255, 0, 0] and img[0, 0].tolist() == [0, 0, 0]

    pal = Image.new("P", (5, 3))
    pal.putpalette([0, 0, 255] + [0] * 765)  # index 0 is blue
    pal.save(tmp_path / "p.png")
    assert read_image(tmp_path / "p.png")[0, 0].tolist() == [0, 0, 255]

    Image.new("CMYK", (5, 3), (0, 255, 255, 0)).save(tmp_path / "c.jpg")  # red in CMYK
    r, g, b = read_image(tmp_path / "c.jpg")[1, 1].tolist()
    assert r > 200 and g < 60 and b < 60


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "empty"),
        (b"this is not an image", "not an image"),
    ],
)
def test_bad_files_raise_with_reason(tmp_path, content, reason):
    p = tmp_path / "x.jpg"
    p.write_bytes(content)
    with pytest.raises(UnreadableImageError, match=reason):
        read_image(p)


def test_truncated_jpeg_and_png_rejected(tmp_path):
    img = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    for ext in (".jpg", ".png"):
        ok, buf = cv2.imencode(ext, img)
        data = buf.tobytes()
        p = tmp_path / f"t{ext}"
        p.write_bytes(data[: len(data) // 2])
        with pytest.raises(UnreadableImageError, match="truncated"):
            read_image(p)
        p.write_bytes(data)
        assert read_image(p).shape == (64, 64, 3)


def test_decompression_bomb_limit(tmp_path):
    p = tmp_path / "big.png"
    cv2.imwrite(str(p), np.zeros((300, 400), np.uint8))
    with pytest.raises(UnreadableImageError, match="exceeds the limit"):
        read_image(p, max_pixels=1000)
    assert read_image(p, max_pixels=None).shape == (300, 400, 3)


def test_unicode_and_spaces_in_path(tmp_path):
    d = tmp_path / "dossier été" / "猫 cats"
    d.mkdir(parents=True)
    p = d / "ïmage 1.png"
    cv2.imwrite(str(tmp_path / "tmp.png"), _bgr_red())
    p.write_bytes((tmp_path / "tmp.png").read_bytes())
    assert read_image(p)[0, 0].tolist() == [255, 0, 0]


def test_to_rgb_uint8_float_and_bad_shape():
    assert to_rgb_uint8(np.ones((2, 2), np.float32))[0, 0].tolist() == [255, 255, 255]
    with pytest.raises(UnreadableImageError):
        to_rgb_uint8(np.zeros((2, 2, 5), np.uint8))
