"""Grad-CAM: where in the image a Keras CNN looked to choose a class.

Grad-CAM (Selvaraju et al., 2017) weights the feature maps of a late
convolutional layer by the mean gradient of the class score with respect
to them, sums, and keeps the positive part: a coarse ``(h, w)`` map of the
regions that raised the score. :func:`grad_cam` computes the maps for any
Keras functional or Sequential CNN, :func:`overlay_heatmap` blends one over
its image and :func:`save_grad_cam_grid` writes a PNG grid.

Backend note
------------
Model, layer and loss code in cvtoolkit uses ``keras.ops`` only. Grad-CAM
needs the gradient with respect to an *intermediate* activation, which
Keras 3 has no backend-neutral API for, so this module contains one clearly
isolated backend-specific function, :func:`_gradients_tensorflow`, which
uses ``tf.GradientTape``. On the JAX and PyTorch backends :func:`grad_cam`
raises :class:`NotImplementedError` naming the backend; everything else
here (layer search, weighting, normalisation, overlays) is backend-neutral.

References
----------
R. R. Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks
via Gradient-based Localization", ICCV 2017.

Examples
--------
>>> import numpy as np, keras
>>> inputs = keras.Input((16, 16, 3))
>>> x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
>>> x = keras.layers.GlobalAveragePooling2D()(x)
>>> model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
>>> find_last_conv_layer(model)
'conv'
>>> maps = grad_cam(model, np.random.default_rng(0).random((2, 16, 16, 3), np.float32))
>>> maps.shape, bool(maps.min() >= 0 and maps.max() <= 1)
((2, 14, 14), True)
"""

from __future__ import annotations

import logging
import os
from typing import Any, Sequence

import numpy as np

from cvtoolkit.errors import ModelError

log = logging.getLogger(__name__)

__all__ = ["find_last_conv_layer", "grad_cam", "overlay_heatmap", "save_grad_cam_grid"]


def _layer_output(layer: Any) -> Any | None:
    try:
        return layer.output
    except (AttributeError, ValueError, RuntimeError):
        return None  # unbuilt, or shared (called several times)


def _shape_of(tensor: Any) -> tuple | None:
    if tensor is None or isinstance(tensor, (list, tuple, dict)):
        return None
    shape = getattr(tensor, "shape", None)
    return tuple(shape) if shape is not None else None


def find_last_conv_layer(model: Any) -> str:
    """Name of the last top-level layer whose output is 4-D ``(N, h, w, c)``.

    That is the last convolution (or its activation, pooling, a nested
    backbone model) before the network flattens or pools globally: the
    layer Grad-CAM reads.

    Raises
    ------
    cvtoolkit.errors.ModelError
        The model has no layer with a 4-D output (not a CNN, or not built).

    Examples
    --------
    >>> import keras
    >>> model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, name="c1"),
    ...                           keras.layers.Flatten(), keras.layers.Dense(2)])
    >>> find_last_conv_layer(model)
    'c1'
    """
    import keras

    for layer in reversed(model.layers):
        if isinstance(layer, keras.layers.InputLayer):
            continue
        shape = _shape_of(_layer_output(layer))
        if shape is not None and len(shape) == 4:
            return layer.name
    raise ModelError(
        f"model {getattr(model, 'name', '?')!r} has no layer with a 4-D (batch, height, width, channels) "
        "output, so Grad-CAM has no feature map to explain; use a built convolutional model "
        "or pass layer_name="
    )


def _outer_output(model: Any, layer: Any) -> Any:
    """The output tensor of ``layer`` in ``model``'s own graph.

    ``layer.output`` of a nested model is its *inner* output; the tensor in
    the outer graph is the output of one of its inbound nodes.
    """
    import keras

    candidates = []
    if not isinstance(layer, keras.Model):
        candidates.append(_layer_output(layer))
    for node in reversed(getattr(layer, "_inbound_nodes", [])):
        outs = getattr(node, "output_tensors", None) or []
        if len(outs) == 1:
            candidates.append(outs[0])
    for tensor in candidates:
        if tensor is None:
            continue
        try:
            keras.Model(model.inputs, tensor)
        except (ValueError, TypeError, AttributeError):
            continue
        return tensor
    raise ModelError(
        f"cannot reach the output of layer {layer.name!r} from the inputs of model "
        f"{model.name!r}; pass layer_name= naming a top-level layer of the model"
    )


def _score_source(model: Any, use_logits: bool) -> tuple[Any, Any | None]:
    """The tensor whose columns are class scores, and a Dense layer to apply to it.

    With ``use_logits``, a final softmax/sigmoid is bypassed: the scores are
    taken before it, which keeps gradients from vanishing when the model is
    confident.
    """
    import keras

    output = model.outputs[0]
    if not use_logits:
        return output, None
    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    act_name = getattr(activation, "__name__", "")
    if act_name not in ("softmax", "sigmoid"):
        return output, None
    try:
        before = last.input
    except (AttributeError, ValueError):
        return output, None
    if isinstance(last, keras.layers.Activation):
        return before, None
    if isinstance(last, keras.layers.Dense):
        return before, last
    return output, None


def _gradients_tensorflow(
    grad_model: Any, dense: Any, images: np.ndarray, class_index: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TensorFlow backend: feature maps, their gradients and the classes used.

    Backend-specific on purpose (``tf.GradientTape``): Keras 3 has no
    backend-neutral gradient of an intermediate activation.
    """
    import tensorflow as tf
    from keras import ops

    x = tf.convert_to_tensor(images)
    with tf.GradientTape() as tape:
        features, scores = grad_model(x, training=False)
        if dense is not None:
            scores = ops.matmul(scores, dense.kernel)
            if dense.bias is not None:
                scores = scores + dense.bias
        scores = tf.reshape(scores, (tf.shape(scores)[0], -1))
        if class_index is None:
            chosen = tf.argmax(scores, axis=1, output_type=tf.int32)
        else:
            chosen = tf.constant(class_index, dtype=tf.int32)
        picked = tf.gather(scores, chosen, axis=1, batch_dims=1)
        total = tf.reduce_sum(picked)
    grads = tape.gradient(total, features)
    if grads is None:
        raise ModelError(
            "the class score does not depend on the chosen layer's output; "
            "pass layer_name= naming a layer on the path to the prediction"
        )
    return np.asarray(features), np.asarray(grads), np.asarray(chosen)


def grad_cam(
    model: Any,
    images: np.ndarray,
    *,
    layer_name: str | None = None,
    class_index: int | Sequence[int] | np.ndarray | None = None,
    use_logits: bool = True,
    batch_size: int = 32,
) -> np.ndarray:
    """Grad-CAM heatmaps of a Keras CNN for a batch of images.

    Parameters
    ----------
    model : keras.Model
        A built functional or Sequential model whose first output is the
        class scores (probabilities or logits).
    images : ndarray, shape (N, H, W, C)
        The model's inputs, exactly as ``model.predict`` takes them (with
        the same preprocessing).
    layer_name : str, optional
        Top-level layer to explain (a conv layer, its activation, or a
        nested backbone model). Default: :func:`find_last_conv_layer`.
    class_index : int or sequence of int, optional
        The class to explain, one for all images or one per image. Default:
        each image's predicted class.
    use_logits : bool
        Take the score before a final softmax/sigmoid when the model ends
        in one (recommended: softmax outputs saturate).
    batch_size : int
        Images per forward/backward pass.

    Returns
    -------
    ndarray of float32, shape (N, h, w)
        One map per image at the layer's resolution, scaled to ``[0, 1]``
        (all zeros where nothing raised the score).

    Raises
    ------
    NotImplementedError
        The Keras backend is not TensorFlow (JAX and PyTorch are not
        implemented yet).
    cvtoolkit.errors.ModelError
        No 4-D layer, an unknown ``layer_name``, or a layer that the score
        does not depend on.
    ValueError
        ``class_index`` out of range or of the wrong length.

    Examples
    --------
    >>> import keras
    >>> model = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Conv2D(3, 3, name="c"),
    ...                           keras.layers.Flatten(), keras.layers.Dense(4, activation="softmax")])
    >>> grad_cam(model, np.ones((1, 12, 12, 1), np.float32), class_index=2).shape
    (1, 10, 10)
    """
    import keras

    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise NotImplementedError(
            f"grad_cam is implemented for the TensorFlow Keras backend only, but KERAS_BACKEND is "
            f"{backend!r}; run with KERAS_BACKEND=tensorflow to compute Grad-CAM"
        )
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must be a batch (N, H, W, C), got shape {images.shape}")
    if not getattr(model, "inputs", None):
        raise ModelError(f"model {getattr(model, 'name', '?')!r} is not built; call it on data or build it with an Input first")
    name = layer_name or find_last_conv_layer(model)
    try:
        layer = model.get_layer(name)
    except ValueError as err:
        names = [layer.name for layer in model.layers]
        raise ModelError(
            f"model {model.name!r} has no top-level layer {name!r}; layers are {names}"
        ) from err
    features_t = _outer_output(model, layer)
    shape = _shape_of(features_t)
    if shape is None or len(shape) != 4:
        raise ModelError(f"layer {name!r} outputs shape {shape}; Grad-CAM needs a 4-D (N, h, w, c) feature map")
    score_t, dense = _score_source(model, use_logits)
    grad_model = keras.Model(model.inputs, [features_t, score_t])
    n = len(images)
    n_classes = int(model.outputs[0].shape[-1])
    if class_index is None:
        chosen_all = None
    else:
        chosen_all = np.asarray(class_index, dtype=np.int64).reshape(-1)
        if chosen_all.size == 1:
            chosen_all = np.full(n, int(chosen_all[0]), dtype=np.int64)
        if chosen_all.size != n:
            raise ValueError(f"class_index has {chosen_all.size} entries for {n} images; give one, or one per image")
        if (chosen_all < 0).any() or (chosen_all >= n_classes).any():
            raise ValueError(f"class_index must be in 0..{n_classes - 1}, got {sorted(set(chosen_all.tolist()))}")
    out = []
    for start in range(0, n, max(int(batch_size), 1)):
        batch = images[start : start + batch_size].astype(np.float32, copy=False)
        chosen = None if chosen_all is None else chosen_all[start : start + batch_size]
        features, grads, _ = _gradients_tensorflow(grad_model, dense, batch, chosen)
        weights = grads.mean(axis=(1, 2), keepdims=True)  # (b, 1, 1, c)
        cam = np.maximum((weights * features).sum(axis=-1), 0.0)  # (b, h, w)
        cam = np.nan_to_num(cam, nan=0.0, posinf=0.0, neginf=0.0)
        peak = cam.reshape(len(cam), -1).max(axis=1)
        scale = np.where(peak > 0, peak, 1.0)[:, None, None]
        out.append((cam / scale).astype(np.float32))
    return np.concatenate(out, axis=0)


def overlay_heatmap(
    image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.4, *, cmap: str = "jet"
) -> np.ndarray:
    """Blend a ``[0, 1]`` heatmap, resized and coloured, over an image.

    Parameters
    ----------
    image : ndarray
        ``(H, W, 3)`` RGB, ``(H, W)`` or ``(H, W, 1)`` grey; ``uint8``, or
        float in ``[0, 1]`` or ``[0, 255]``.
    heatmap : ndarray, shape (h, w)
        Values in ``[0, 1]`` (clipped); resized to ``(H, W)`` bilinearly.
    alpha : float
        Weight of the coloured heatmap, ``0`` (image only) to ``1``.
    cmap : str
        Matplotlib colormap.

    Returns
    -------
    ndarray of uint8, shape (H, W, 3)
        RGB.

    Examples
    --------
    >>> out = overlay_heatmap(np.zeros((32, 32, 3), np.uint8), np.eye(4))
    >>> out.shape, out.dtype.name
    ((32, 32, 3), 'uint8')
    """
    import cv2
    import matplotlib

    from cvtoolkit.evaluate.interpret import to_display_image

    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    img = to_display_image(image)
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.ndim != 2:
        raise ValueError(f"heatmap must be 2-D (h, w), got shape {heat.shape}")
    heat = np.clip(np.nan_to_num(heat), 0.0, 1.0)
    heat = cv2.resize(heat, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)
    colour = matplotlib.colormaps[cmap](np.clip(heat, 0.0, 1.0))[..., :3] * 255.0
    blend = (1.0 - alpha) * img.astype(np.float32) + alpha * colour
    return np.clip(blend, 0, 255).round().astype(np.uint8)


def save_grad_cam_grid(
    images: Sequence[np.ndarray] | np.ndarray,
    heatmaps: np.ndarray,
    path: str | os.PathLike | None = None,
    *,
    titles: Sequence[str] | None = None,
    alpha: float = 0.4,
    ncols: int | None = None,
    title: str | None = "Grad-CAM",
) -> Any:
    """A grid of images with their Grad-CAM heatmaps overlaid; PNG when ``path`` is given.

    Parameters
    ----------
    images : ndarray (N, H, W, C) or list of arrays
        The images to show (uint8 RGB for display, not the preprocessed
        model input).
    heatmaps : ndarray, shape (N, h, w)
        From :func:`grad_cam`.
    path : path-like, optional
        Output file, written atomically.
    titles : sequence of str, optional
        One caption per image (e.g. ``"pred dog (0.93)"``).
    alpha : float
        Heatmap weight in the blend.
    ncols : int, optional
        Grid columns (default: about a square).
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = save_grad_cam_grid(np.zeros((2, 8, 8, 3), np.uint8), np.zeros((2, 3, 3)))
    >>> len(fig.axes)
    2
    """
    from cvtoolkit.evaluate.interpret import plot_image_grid

    if len(images) != len(heatmaps):
        raise ValueError(f"{len(images)} images but {len(heatmaps)} heatmaps; pass one heatmap per image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"{len(titles)} titles for {len(images)} images")
    overlays = [overlay_heatmap(img, heat, alpha) for img, heat in zip(images, heatmaps)]
    fig = plot_image_grid(overlays, titles, ncols=ncols, suptitle=title, title_lines=1 if titles else 0)
    if path is not None:
        from cvtoolkit.evaluate.plots import save_figure

        save_figure(fig, path)
        log.debug("wrote Grad-CAM grid %s", path)
    return fig
