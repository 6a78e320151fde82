"""Datasets: loading, decoding, preprocessing and splitting.

Every loader returns a :class:`~cvtoolkit.data.dataset.Dataset` of ``uint8``
RGB images (grey sources: one channel), integer labels and class names.
:func:`load_dataset` picks the loader from the spec.
"""

from cvtoolkit._lazy import lazy_attributes
from cvtoolkit.data.arrays import KERAS_DATASETS, load_digits, load_keras_dataset, load_npz
from cvtoolkit.data.dataset import Dataset, SkippedFile
from cvtoolkit.data.filename_labels import list_by_filename, list_unlabelled
from cvtoolkit.data.folder import FolderListing, list_image_folder, load_images, stack_images
from cvtoolkit.data.image_io import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    UnreadableImageError,
    decode_image,
    read_image,
    to_rgb_uint8,
)
from cvtoolkit.data.loaders import BUILTIN_DATASETS, describe_spec, load_dataset, resize_images
from cvtoolkit.data.pixel_csv import load_pixel_csv
from cvtoolkit.data.preprocessing import (
    AspectAwareResize,
    Compose,
    MeanSubtract,
    RandomPatch,
    Resize,
    Scale,
    TenCrop,
    ten_crops,
)

__all__ = [
    "AspectAwareResize", "BUILTIN_DATASETS", "Compose", "DEFAULT_MAX_PIXELS", "Dataset", "FolderListing",
    "IMAGE_EXTENSIONS", "KERAS_DATASETS", "MeanSubtract", "RandomPatch", "Resize", "Scale", "SkippedFile",
    "TenCrop", "UnreadableImageError", "check_classification_data", "decode_image", "describe_spec",
    "list_by_filename", "list_image_folder", "list_unlabelled", "load_dataset", "load_digits", "load_images",
    "load_keras_dataset", "load_npz", "load_pixel_csv", "read_image", "resize_images", "split_dataset",
    "per_class_split", "stack_images", "stratified_split", "ten_crops", "to_rgb_uint8",
]


# Splitting imports scikit-learn (about a second): load it on first use, so that
# decoding images (extraction workers, ``cvtoolkit --help``) does not wait for it.
__getattr__, __dir__ = lazy_attributes(__name__, {
    name: "cvtoolkit.data.split" for name in ("check_classification_data", "per_class_split", "split_dataset",
                                            "stratified_split")
})

