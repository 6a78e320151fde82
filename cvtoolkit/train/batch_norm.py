"""Re-estimate batch-norm statistics after short training ("precise BN").

With few optimizer steps (1,200 images are 19 steps an epoch at batch 64)
the moving averages of a ``BatchNormalization`` layer (momentum 0.99) still
lag behind the statistics of the final weights, and inference-mode
predictions can collapse to one class although the network fits its
training data. :func:`recalibrate_batch_norm` runs training batches through
the network once more, in training mode with dropout off, and sets every
batch-norm layer's moving mean and variance to the exact average over those
batches (Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021). Weights
are not changed.

Pure Keras: runs under every backend.

Examples
--------
>>> import numpy as np, keras
>>> inputs = keras.Input((4,))
>>> model = keras.Model(inputs, keras.layers.BatchNormalization()(inputs))
>>> batches = [(np.full((8, 4), v, "float32"), None) for v in (1.0, 3.0)]
>>> recalibrate_batch_norm(model, batches)
1
>>> keras.ops.convert_to_numpy(model.layers[1].moving_mean).round(4).tolist()
[2.0, 2.0, 2.0, 2.0]
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence


def iter_layers(layer: Any) -> Iterator[Any]:
    """``layer`` and every layer nested in it (sub-models included), depth first."""
    yield layer
    for child in getattr(layer, "layers", []) or []:
        yield from iter_layers(child)


def recalibrate_batch_norm(model: Any, batches: Sequence[Any], *, max_batches: int | None = None) -> int:
    """Set every batch-norm layer's moving statistics to their average over ``batches``.

    Parameters
    ----------
    model : keras.Model
        The trained network (batch-norm layers nested in sub-models count too).
    batches : sequence
        Indexable batches ``(x, y)`` or ``x`` as the network takes them (a
        ``keras.utils.PyDataset`` of the training data, with its inference
        preprocessing), typically shuffled training data.
    max_batches : int, optional
        Use only the first batches.

    Returns
    -------
    int
        The number of batch-norm layers re-estimated (0: nothing to do).

    Notes
    -----
    Batch ``i`` is given momentum ``i / (i + 1)``, so after ``n`` batches the
    moving statistics are the plain mean of the ``n`` per-batch statistics.
    Momenta and dropout rates are restored afterwards, even on error.
    """
    import keras

    layers = list(iter_layers(model))
    norms = [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not norms:
        return 0
    drops = [layer for layer in layers if isinstance(layer, keras.layers.Dropout)]
    momenta, rates = [bn.momentum for bn in norms], [d.rate for d in drops]
    n = len(batches) if max_batches is None else min(len(batches), int(max_batches))
    try:
        for d in drops:
            d.rate = 0.0
        for i in range(n):
            for bn in norms:
                bn.momentum = i / (i + 1)  # batch i gets weight 1/(i+1): the running mean of all batches
            batch = batches[i]
            model(batch[0] if isinstance(batch, tuple) else batch, training=True)
    finally:
        for bn, momentum in zip(norms, momenta):
            bn.momentum = momentum
        for d, rate in zip(drops, rates):
            d.rate = rate
    return len(norms)
