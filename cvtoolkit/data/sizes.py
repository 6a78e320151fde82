"""The size a dataset is loaded at when the user gives none (stdlib only: the CLI imports it cheaply).

Examples
--------
>>> DEFAULT_IMAGE_SIZE
32
"""

from __future__ import annotations

__all__ = ["DEFAULT_IMAGE_SIZE", "default_image_size"]

DEFAULT_IMAGE_SIZE = 32
"""Images from folders (and the 8x8 digits) are resized to this by default."""


def default_image_size(spec: str, image_size: int | None, *, input_size: int | None = None) -> int | None:
    """The size to load ``spec`` at: the one rule for every command and workflow.

    The user's ``image_size`` wins; then ``input_size``, the size the
    descriptor needs (a CNN backbone's input; the features floor passes it,
    :func:`cvtoolkit.features.options.image_size_for`); then
    :data:`DEFAULT_IMAGE_SIZE` for folders and ``digits`` (8x8 is too small
    for most descriptors); else ``None`` (native size).

    Examples
    --------
    >>> default_image_size("digits", None), default_image_size("mnist", None), default_image_size("digits", 64)
    (32, None, 64)
    >>> default_image_size("digits", None, input_size=224)
    224
    """
    from cvtoolkit.data.loaders import describe_spec

    if image_size is not None:
        return image_size
    if input_size is not None:
        return input_size
    return DEFAULT_IMAGE_SIZE if spec == "digits" or describe_spec(spec) == "folder" else None
