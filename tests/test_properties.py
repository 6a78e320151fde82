"""Property-based tests: preprocessors and descriptors on random image batches.

Every preprocessor and every registered classical descriptor is driven with
random shapes (1-3 images, 1..80 pixels a side, grey 2-D or 1/3/4 channels),
dtypes (uint8, uint16, int32, float32, float64, bool; finite values) and
contents (noise, constant, checkerboard), as one array or as a list of
differently-sized images. The property: either the documented output (a
fixed-width, finite, 2-D ``float32`` matrix for descriptors; an image of the
requested size for preprocessors) or a ``ValueError`` with a message. Any
other exception is a bug.

Runs are derandomised (the same examples every run, no example database);
set ``CVTOOLKIT_PROPERTY_EXAMPLES=200`` (and ``CVTOOLKIT_PROPERTY_RANDOM=1``)
to hunt for new failures.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from cvtoolkit.data.image_io import to_rgb_uint8
from cvtoolkit.data.preprocessing import AspectAwareResize, MeanSubtract, RandomPatch, Resize, Scale, TenCrop

EXAMPLES = int(os.environ.get("CVTOOLKIT_PROPERTY_EXAMPLES", "0") or 0)
RANDOM = bool(os.environ.get("CVTOOLKIT_PROPERTY_RANDOM"))


def prop_settings(n: int):
    """Few examples, no deadline (a loaded machine), reproducible by default."""
    return settings(
        max_examples=EXAMPLES or n,
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),  # no example database, no patch files
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


DTYPES = ("uint8", "uint16", "int32", "float32", "float64", "bool")
CHANNELS = (None, 1, 3, 4)  # None: a 2-D grey image
FILLS = ("noise", "zeros", "max", "checker")


def make_image(rng: np.random.Generator, h: int, w: int, channels: int | None, dtype: str, fill: str,
               float_range: float) -> np.ndarray:
    """One image of the given shape, dtype and content (finite values only)."""
    shape = (h, w) if channels is None else (h, w, channels)
    dt = np.dtype(dtype)
    if dt == np.bool_:
        hi = True
    elif dt.kind == "f":
        hi = float_range
    elif dt == np.int32:
        hi = 70000
    else:
        hi = np.iinfo(dt).max
    if fill == "zeros":
        return np.zeros(shape, dt)
    if fill == "max":
        return np.full(shape, hi, dt)
    if fill == "checker":
        yy, xx = np.indices((h, w))
        board = ((yy + xx) % 2).astype(bool)
        if channels is not None:
            board = np.repeat(board[:, :, None], channels, axis=2)
        return np.where(board, np.asarray(hi, dt), np.zeros((), dt)).astype(dt)
    if dt == np.bool_:
        return rng.random(shape) < 0.5
    if dt.kind == "f":
        return rng.uniform(-float_range if float_range > 1 else 0.0, float_range, shape).astype(dt)
    lo = -300 if dt == np.int32 else 0
    return rng.integers(lo, int(hi), shape, endpoint=True).astype(dt)


@st.composite
def image_batches(draw, max_side: int = 80, channels=CHANNELS, allow_lists: bool = True, dtypes=DTYPES,
                  min_side: int = 1):
    """A batch: ``(N, H, W[, C])`` array, or a list of images of different sizes (and channel counts)."""
    n = draw(st.integers(1, 3))
    dtype = draw(st.sampled_from(dtypes))
    fill = draw(st.sampled_from(FILLS))
    float_range = draw(st.sampled_from([1.0, 1.0, 1e4]))  # floats mostly in [0, 1], sometimes far outside
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    side = st.integers(min_side, max_side)
    if allow_lists and draw(st.booleans()):
        mixed = draw(st.booleans())
        ch = draw(st.sampled_from(channels))
        images = []
        for _ in range(n):
            c = draw(st.sampled_from(channels)) if mixed else ch
            images.append(make_image(rng, draw(side), draw(side), c, dtype, fill, float_range))
        return images
    h, w, ch = draw(side), draw(side), draw(st.sampled_from(channels))
    return np.stack([make_image(rng, h, w, ch, dtype, fill, float_range) for _ in range(n)])


@st.composite
def single_images(draw, max_side: int = 80, channels=CHANNELS):
    batch = draw(image_batches(max_side=max_side, channels=channels, allow_lists=False))
    return batch[0]


def raises_clear_value_error(func, *args):
    """Call ``func``; return its result, or None when it raised a ValueError with a message."""
    try:
        return func(*args)
    except ValueError as err:
        assert str(err).strip(), f"{type(err).__name__} without a message"
        return None


def channel_count(image: np.ndarray) -> int | None:
    return None if image.ndim == 2 else image.shape[2]


# ----------------------------------------------------------------------------- preprocessors


@prop_settings(25)
@given(image=single_images(), size=st.integers(1, 40))
def test_resize_gives_the_requested_size(image, size):
    out = raises_clear_value_error(Resize(size), image)
    if out is None:
        return
    assert out.shape[:2] == (size, size)
    assert out.ndim == image.ndim and channel_count(out) == channel_count(image)
    assert out.dtype == image.dtype
    if out.dtype.kind == "f":
        assert np.isfinite(out).all()
    if image.dtype.kind in "iuf" and image.size:
        # area/linear interpolation never leaves the input's range
        assert out.min() >= image.min() - 1e-3 * max(1.0, abs(float(image.min())))
        assert out.max() <= image.max() + 1e-3 * max(1.0, abs(float(image.max())))


@prop_settings(25)
@given(image=single_images(), size=st.integers(1, 40))
def test_aspect_aware_resize_gives_a_square(image, size):
    out = raises_clear_value_error(AspectAwareResize(size), image)
    if out is None:
        return
    assert out.shape[:2] == (size, size)
    assert channel_count(out) == channel_count(image) and out.dtype == image.dtype


@prop_settings(20)
@given(image=single_images())
def test_scale_is_float32_and_finite(image):
    out = raises_clear_value_error(Scale(), image)
    if out is None:
        return
    assert out.shape == image.shape and out.dtype == np.float32 and np.isfinite(out).all()


@prop_settings(20)
@given(train=image_batches(max_side=24), image=single_images(max_side=24))
def test_mean_subtract_matches_channels_or_says_why(train, image):
    ms = raises_clear_value_error(MeanSubtract().fit, train)
    if ms is None:
        return
    assert all(np.isfinite(ms.means))
    out = raises_clear_value_error(ms, image)
    if out is None:
        return
    assert out.shape == image.shape and out.dtype == np.float32 and np.isfinite(out).all()
    # never a silent broadcast of per-channel means along the wrong axis
    assert len(ms.means) == (channel_count(image) or 1) or len(ms.means) == 1


@prop_settings(20)
@given(image=single_images(), size=st.integers(1, 40), seed=st.integers(0, 1000))
def test_random_patch_is_inside_the_image(image, size, seed):
    out = raises_clear_value_error(RandomPatch(size, seed=seed), image)
    if out is None:
        assert size > min(image.shape[:2])
        return
    assert out.shape[:2] == (size, size) and out.shape[2:] == image.shape[2:] and out.dtype == image.dtype


@prop_settings(20)
@given(image=single_images(), size=st.integers(1, 40))
def test_ten_crop_gives_ten_crops(image, size):
    out = raises_clear_value_error(TenCrop(size), image)
    if out is None:
        assert size > min(image.shape[:2])
        return
    assert out.shape == (10, size, size, *image.shape[2:]) and out.dtype == image.dtype
    np.testing.assert_array_equal(out[5], out[0][:, ::-1])  # the mirrors mirror


@prop_settings(25)
@given(image=single_images(channels=(None, 1, 2, 3, 4, 5)))
def test_to_rgb_uint8_gives_rgb_uint8(image):
    out = raises_clear_value_error(to_rgb_uint8, image)
    if out is None:
        assert channel_count(image) not in (None, 1, 3, 4)
        return
    assert out.shape == (*image.shape[:2], 3) and out.dtype == np.uint8
    if channel_count(image) in (None, 1):
        assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


# ----------------------------------------------------------------------------- descriptors

STATELESS = ("raw", "color_stats", "hsv_hist", "hog", "lbp", "hu", "haralick", "combined")
BOVW = ("sift_bovw", "orb_bovw")
BOVW_OPTIONS = {"n_words": 4, "step": 8, "sample_descriptors": 400, "n_jobs": 1}

_widths: dict[str, int] = {}
_fitted: dict[str, object] = {}


def _descriptor(name: str):
    from cvtoolkit.features import make_features

    if name in BOVW:
        if name not in _fitted:
            rng = np.random.default_rng(0)
            train = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(3)]
            _fitted[name] = make_features(name, **BOVW_OPTIONS).fit(train)
        return _fitted[name]
    return make_features(name, n_jobs=1, progress=False).fit(np.zeros((1, 16, 16, 3), np.uint8))


def _check_features(name: str, transformer, batch) -> None:
    out = raises_clear_value_error(transformer.transform, batch)
    if out is None:
        return
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.ndim == 2
    assert out.shape[0] == len(batch)
    assert np.isfinite(out).all(), f"{name}: non-finite features"
    width = _widths.setdefault(name, out.shape[1])
    assert out.shape[1] == width, f"{name}: width {out.shape[1]} after {width}"
    names = transformer.get_feature_names_out()
    assert len(names) == width


@pytest.mark.parametrize("name", STATELESS)
def test_descriptor_fixed_width_finite_or_value_error(name):
    transformer = _descriptor(name)

    @prop_settings(15)
    @given(batch=image_batches())
    def check(batch):
        _check_features(name, transformer, batch)

    check()


@pytest.mark.parametrize("name", BOVW)
def test_bovw_fixed_width_finite_or_value_error(name):
    transformer = _descriptor(name)

    @prop_settings(10)
    @given(batch=image_batches(max_side=72))
    def check(batch):
        _check_features(name, transformer, batch)

    check()
    assert _widths.get(name, BOVW_OPTIONS["n_words"]) == BOVW_OPTIONS["n_words"]


@pytest.mark.parametrize("name", STATELESS)
def test_valid_rgb_uint8_always_describes(name):
    """The documented input (uint8 RGB or grey, 16 pixels a side or more) never raises."""
    transformer = _descriptor(name)

    @prop_settings(8)
    @given(batch=image_batches(channels=(None, 1, 3), dtypes=("uint8",), min_side=16))
    def check(batch):
        out = transformer.transform(batch)
        assert out.shape[0] == len(batch) and np.isfinite(out).all()

    check()
