"""Image descriptors as scikit-learn transformers, by name.

Every descriptor takes a batch of images (``(N, H, W, 3)`` ``uint8`` RGB,
grey ``(N, H, W)``, or a list of images of any sizes) and returns a
``(N, D)`` ``float32`` array whose width ``D`` depends only on its
parameters. They are stateless transformers (``fit`` learns nothing) that
compose in ``Pipeline``, ``FeatureUnion`` and ``GridSearchCV``, take
``n_jobs`` (joblib processes, identical results) and show a progress bar on
long runs.

- Pixels and colour: :class:`RawPixels`, :class:`ColorStats`,
  :class:`ColorHistogram`.
- Gradients: :class:`HOG` (scikit-image compatible, batch vectorised; an
  OpenCV fast path).
- Texture: :class:`LBP`, :class:`Haralick`.
- Shape: :class:`HuMoments`.
- Dense local descriptors and their encodings (the literature's strongest
  classical pipelines; fitted on training images): :class:`DenseSIFT`,
  :class:`SpatialPyramidBoW`, :class:`FisherVectors`.
- By name: :data:`FEATURES`, :func:`make_features`, :func:`describe_features`
  (also the keypoint bag-of-words and CNN backbone features of other modules).
- Caching and extraction to HDF5: :func:`cached_features`,
  :func:`extract_to_store`.

Examples
--------
>>> import numpy as np
>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.svm import LinearSVC
>>> images = np.random.default_rng(0).integers(0, 256, (20, 48, 48, 3), dtype=np.uint8)
>>> labels = np.arange(20) % 2
>>> model = make_pipeline(make_features("hog", size=32), LinearSVC()).fit(images, labels)
>>> model.predict(images[:3]).shape
(3,)
"""

from cvtoolkit._lazy import lazy_attributes
from cvtoolkit.features.registry import (
    FEATURES,
    UnknownFeaturesError,
    COMMON_OPTIONS,
    REGISTRY,
    accepted_options,
    describe_features,
    feature_options,
    make_feature_union,
    make_features,
    register_features,
    unregister_features,
)

__all__ = [
    "COMMON_OPTIONS",
    "FEATURES",
    "HOG",
    "LBP",
    "ColorHistogram",
    "ColorStats",
    "DenseSIFT",
    "FisherVectors",
    "Haralick",
    "HuMoments",
    "ImageTransformer",
    "REGISTRY",
    "RawPixels",
    "SpatialPyramidBoW",
    "UnknownFeaturesError",
    "accepted_options",
    "as_image_batch",
    "cached_features",
    "describe_features",
    "extract_to_store",
    "feature_options",
    "glcm_batch",
    "hog_batch",
    "lbp_codes",
    "make_feature_union",
    "make_features",
    "register_features",
    "unregister_features",
]


# The cache and the extraction loop pull in h5py and the data layer, the descriptors scikit-learn:
# load them on first use (names, for --list-methods, stay cheap).
__getattr__, __dir__ = lazy_attributes(__name__, {
    "ImageTransformer": "cvtoolkit.features.base",
    "as_image_batch": "cvtoolkit.features.base",
    "ColorHistogram": "cvtoolkit.features.color",
    "ColorStats": "cvtoolkit.features.color",
    "RawPixels": "cvtoolkit.features.color",
    "HOG": "cvtoolkit.features.hog",
    "hog_batch": "cvtoolkit.features.hog",
    "HuMoments": "cvtoolkit.features.shape",
    "LBP": "cvtoolkit.features.texture",
    "Haralick": "cvtoolkit.features.texture",
    "glcm_batch": "cvtoolkit.features.texture",
    "lbp_codes": "cvtoolkit.features.texture",
    "DenseSIFT": "cvtoolkit.features.dense",
    "SpatialPyramidBoW": "cvtoolkit.features.encoding",
    "FisherVectors": "cvtoolkit.features.encoding",
    "cached_features": "cvtoolkit.features.cache",
    "extract_to_store": "cvtoolkit.features.extraction",
})
