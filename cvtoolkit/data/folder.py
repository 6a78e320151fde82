"""Class-per-folder datasets: ``root/<class>/<image>``.

Listing is separate from decoding so that large folders can be streamed
(:func:`list_image_folder` then :func:`load_images` chunk by chunk).

Examples
--------
>>> import numpy as np, cv2, tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> for cls in ("cat", "dog"):
...     (root / cls).mkdir()
...     _ = cv2.imwrite(str(root / cls / "a.png"), np.zeros((5, 7, 3), np.uint8))
>>> listing = list_image_folder(root)
>>> listing.class_names, listing.labels.tolist()
(['cat', 'dog'], [0, 1])
>>> images, kept, skipped = load_images(listing.paths, image_size=4, progress=False)
>>> images.shape, kept.tolist(), skipped
((2, 4, 4, 3), [0, 1], [])
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from cvtoolkit.data.dataset import SkippedFile
from cvtoolkit.data.image_io import DEFAULT_MAX_PIXELS, UnreadableImageError, is_image_file, read_image
from cvtoolkit.imageops import size_hw
from cvtoolkit.data.preprocessing import Resize
from cvtoolkit.errors import DatasetError

logger = logging.getLogger(__name__)

Preprocessor = Callable[[np.ndarray], np.ndarray]


@dataclass
class FolderListing:
    """Image paths, labels and class names found under a folder (nothing decoded yet)."""

    root: str
    paths: list[str]
    labels: np.ndarray
    class_names: list[str]
    skipped: list[SkippedFile] = field(default_factory=list)
    empty_classes: list[str] = field(default_factory=list)


def _unreadable(err: OSError) -> SkippedFile:
    return SkippedFile(str(err.filename), f"unreadable folder ({err.strerror or err}); its files were not listed")


def _walk_files(folder: Path, unreadable: list[SkippedFile] | None = None,
                seen: dict[tuple[int, int], tuple[str, str]] | None = None, owner: str = "") -> list[Path]:
    """Files under ``folder`` (links followed, each real folder listed once), sorted, hidden ones left out.

    Folders that cannot be listed (permissions, I/O errors) are appended to
    ``unreadable`` as :class:`SkippedFile` entries naming the reason (the
    caller logs them once), never silently dropped; without ``unreadable``
    they are logged here. ``seen`` maps each real folder already listed
    (device, inode) to ``(owner, path)``: shared by the class folders of
    one dataset, it finds a folder reached from two classes.

    Raises
    ------
    DatasetError
        A folder under ``folder`` is one already listed for another
        ``owner`` (a symbolic link to another class's folder): its images
        would count in both classes.
    """
    files = []
    seen = {} if seen is None else seen

    def onerror(err: OSError) -> None:
        item = _unreadable(err)
        if unreadable is not None:
            unreadable.append(item)
        else:
            logger.warning("skipped %s", item)

    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True, onerror=onerror):
        try:
            st = os.stat(dirpath)
            key = (st.st_dev, st.st_ino)
        except OSError:
            key = None
        if key is not None and key in seen:  # a link loop, or a second link to a folder already listed
            first_owner, first_path = seen[key]
            if first_owner != owner:
                raise DatasetError(
                    f"{dirpath}: the same folder as {first_path} (a symbolic link), so its images would count "
                    f"in both class {first_owner!r} and class {owner!r}. Remove the link, or copy the images "
                    "that belong to each class into its own folder."
                )
            logger.warning("%s: folder already listed through another path (symbolic link); ignored", dirpath)
            dirnames[:] = []
            continue
        if key is not None:
            seen[key] = (owner, dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files.extend(Path(dirpath) / f for f in sorted(filenames) if not f.startswith("."))
    return files


def list_image_folder(root: str | os.PathLike) -> FolderListing:
    """List a class-per-folder dataset without decoding it.

    Each sub-folder of ``root`` is a class (its name is the class name); its
    image files, found recursively, are the samples. Classes and files are in
    sorted order, so the listing is deterministic. Files without an image
    extension are recorded as skipped; class folders with no images are
    reported in ``empty_classes`` and get no label.

    Raises
    ------
    DatasetError
        ``root`` does not exist, is not a folder, or has no class folders.
    """
    root_path = Path(root)
    if not root_path.exists():
        raise DatasetError(f"{root}: no such file or folder. Pass a class-per-folder directory "
                           "(root/<class>/<image>), an .h5/.npz/.csv file, or a dataset name such as 'digits'.")
    if not root_path.is_dir():
        raise DatasetError(f"{root}: not a folder; expected root/<class>/<image> layout.")
    try:
        class_dirs = sorted(p for p in root_path.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as err:
        raise DatasetError(f"{root}: cannot list the folder ({err.strerror or err}).") from err
    if not class_dirs:
        raise DatasetError(f"{root}: no class folders found; expected root/<class>/<image> "
                           "(one sub-folder per class). See datasets/README.md.")
    paths: list[str] = []
    labels: list[int] = []
    class_names: list[str] = []
    skipped: list[SkippedFile] = []
    empty: list[str] = []
    seen: dict[tuple[int, int], tuple[str, str]] = {}  # shared: a folder linked into two classes is refused
    for class_dir in class_dirs:
        unreadable: list[SkippedFile] = []
        files = _walk_files(class_dir, unreadable, seen, class_dir.name)
        images = [f for f in files if is_image_file(f)]
        skipped.extend(unreadable)
        skipped.extend(SkippedFile(str(f), "not an image file extension") for f in files if not is_image_file(f))
        if not images:
            if unreadable:  # not empty: unreadable, and named in skipped
                logger.warning("%s: class folder has no readable images; ignored", class_dir)
                continue
            empty.append(class_dir.name)
            logger.warning("%s: class folder has no images; ignored", class_dir)
            continue
        label = len(class_names)
        class_names.append(class_dir.name)
        paths.extend(str(f) for f in images)
        labels.extend([label] * len(images))
    for s in skipped:
        logger.warning("skipped %s", s)
    return FolderListing(str(root), paths, np.asarray(labels, np.int64), class_names, skipped, empty)


def _load_one(path: str, preprocess: Sequence[Preprocessor], max_pixels: int | None,
              size: tuple[int, int] | None = None, max_side: int | None = None):
    try:
        image = read_image(path, max_pixels=max_pixels, size=size, max_side=max_side)
    except UnreadableImageError as err:
        return None, str(err)
    try:
        for step in preprocess:
            image = step(image)
    except Exception as err:  # a preprocessor failing on one odd image must not kill the run
        return None, f"preprocessing failed ({type(err).__name__}: {err})"
    return image, None


_BLOCK = 16
"""Images decoded per thread-pool task by :func:`load_images`."""


def _load_block(paths: Sequence[str], preprocess: Sequence[Preprocessor], max_pixels: int | None,
                size: tuple[int, int] | None, max_side: int | None = None) -> list:
    return [_load_one(p, preprocess, max_pixels, size, max_side) for p in paths]


def load_images(
    paths: Sequence[str],
    *,
    image_size: int | tuple[int, int] | None = None,
    preprocessors: Sequence[Preprocessor] | None = None,
    n_jobs: int | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    progress: bool = True,
    desc: str = "loading images",
    max_side: int | None = None,
) -> tuple[np.ndarray, np.ndarray, list[SkippedFile]]:
    """Decode image files in parallel, skipping (and naming) unreadable ones.

    Parameters
    ----------
    paths : sequence of str
        Image files.
    image_size : int or (height, width), optional
        Resize every image to this size first (as ``Resize``, done by the
        decoder: JPEGs are decoded at reduced scale, see :func:`decode_image`). Without it, and
        without preprocessors that fix the size, images keep their own sizes
        and the result is a 1-D object array of ``(H, W, 3)`` arrays.
    preprocessors : sequence of callables, optional
        Applied in order after the resize.
    n_jobs : int, optional
        Decoding threads (libjpeg-turbo and OpenCV release the GIL). Default: CPU count.
    max_pixels : int or None
        Decompression-bomb limit passed to :func:`read_image`.
    progress : bool
        Show a tqdm progress bar on stderr.
    max_side : int, optional
        Without ``image_size``: shrink each image (never enlarge) so its longer
        side is at most this, keeping its aspect ratio (the natural-size view
        of dense descriptors).

    Returns
    -------
    images : ndarray
        ``(M, H, W, C)`` when all images share a shape, else an object array.
    kept : ndarray
        Indices into ``paths`` of the ``M`` images kept.
    skipped : list of SkippedFile
        The files not kept and why (each also logged as a warning).
    """
    steps: list[Preprocessor] = []
    size = None
    if image_size is not None:
        try:  # the decoder resizes (JPEGs decoded at reduced scale, channels reordered after the resize)
            size = size_hw(image_size, "image_size")
        except (TypeError, ValueError):  # an invalid size fails per image, as the Resize step reports it
            steps.append(Resize(image_size))
    steps.extend(preprocessors or [])
    n_jobs = n_jobs or os.cpu_count() or 1
    results: list = []
    # a few images per task: one task per image costs about a tenth of a small image's decode in overhead
    block = max(1, min(_BLOCK, len(paths) // (4 * n_jobs)))
    with ThreadPoolExecutor(max_workers=n_jobs) as pool, tqdm(
        total=len(paths), desc=desc, unit="img", disable=not progress, leave=False
    ) as bar:
        futures = [pool.submit(_load_block, paths[i:i + block], steps, max_pixels, size, max_side)
                   for i in range(0, len(paths), block)]
        for fut in futures:
            done = fut.result()
            results.extend(done)
            bar.update(len(done))
    kept, images, skipped = [], [], []
    for i, (image, reason) in enumerate(results):
        if image is None:
            skipped.append(SkippedFile(str(paths[i]), reason))
            logger.warning("skipped %s: %s", paths[i], reason)
        else:
            kept.append(i)
            images.append(image)
    return stack_images(images), np.asarray(kept, np.int64), skipped


def stack_images(images: Sequence[np.ndarray]) -> np.ndarray:
    """Stack same-shaped images into one array; otherwise a 1-D object array."""
    if not images:
        return np.zeros((0, 0, 0, 3), np.uint8)
    first = images[0].shape
    if all(im.shape == first for im in images):
        return np.stack(images)
    out = np.empty(len(images), dtype=object)
    for i, im in enumerate(images):
        out[i] = im
    return out
