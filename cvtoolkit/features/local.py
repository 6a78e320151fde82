"""The local scheduler of a feature extraction: the main process and joblib worker processes.

:func:`local_chunk_results` hands the chunks of :mod:`cvtoolkit.features.chunks`
to ``n_jobs - 1`` worker processes (:mod:`cvtoolkit.parallel`) *and* the
main process, and yields the results in chunk order; with one process it
decodes in a thread ahead of the describing (:data:`PREFETCH_CHUNKS`). The
Dask scheduler (:mod:`cvtoolkit.features.distributed`) has the same contract.

Examples
--------
>>> import numpy as np
>>> from cvtoolkit.data import Dataset
>>> from cvtoolkit.features import LBP
>>> from cvtoolkit.features.chunks import open_source, plan_chunks
>>> src, size = open_source(Dataset(np.zeros((5, 16, 16), np.uint8), [0, 1, 0, 1, 0], ["a", "b"]), None, False)
>>> results = list(local_chunk_results(LBP(P=8, R=1), src, plan_chunks(5, 2), np.arange(5), size, 1))
>>> [(chunk, X.shape) for chunk, (X, kept, skipped) in results]
[((0, 2), (2, 10)), ((2, 4), (2, 10)), ((4, 5), (1, 10))]
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from cvtoolkit.features.chunks import ChunkSource, decode_chunk, describe_chunk
from cvtoolkit.parallel import worker_pool

log = logging.getLogger(__name__)

__all__ = ["AHEAD_BYTES", "PREFETCH_CHUNKS", "local_chunk_results"]

AHEAD_BYTES = 256 * 2**20
"""Features the main process may describe ahead of the workers, waiting to be written in order.

While the workers start (a second or more: each imports NumPy, OpenCV and
scikit-learn) the main process keeps describing later chunks; their
feature rows wait here until the earlier chunks come back.
"""


PREFETCH_CHUNKS = 2
"""Chunks decoded ahead of the one being described, in a thread, by a one-process extraction."""


def _prefetched(worker: Any, source: ChunkSource, chunks: Sequence[tuple[int, int]], order: np.ndarray,
                image_size: Any, describe: Callable[..., tuple], decode_fn: Callable[..., tuple]
                ) -> Iterator[tuple[tuple[int, int], tuple]]:
    """One-process extraction with decoding overlapped: a thread decodes up to :data:`PREFETCH_CHUNKS` ahead.

    OpenCV's decoding and a CNN's forward pass both release the GIL, so the
    two overlap on two cores; the bound keeps memory at a few chunks.
    """
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    def decode(i: int) -> tuple:
        s, e = chunks[i]
        return decode_fn(*source.payload(order[s:e]), image_size, source.max_pixels)

    pending: deque = deque()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cvtoolkit-decode") as pool:
        try:
            submitted = 0
            for i in range(len(chunks)):
                while submitted < len(chunks) and submitted <= i + PREFETCH_CHUNKS:
                    pending.append(pool.submit(decode, submitted))
                    submitted += 1
                yield chunks[i], describe(worker, "decoded", pending.popleft().result())
        finally:
            for future in pending:
                future.cancel()


def local_chunk_results(worker: Any, source: ChunkSource, chunks: Sequence[tuple[int, int]], order: np.ndarray,
                        image_size: Any, n_jobs: int, *, describe: Callable[..., tuple] | None = None,
                        decode: Callable[..., tuple] | None = None) -> Iterator[tuple[tuple[int, int], tuple]]:
    """``((start, stop), describe(...))`` for every chunk, in order, computed on this machine.

    ``describe`` and ``decode`` default to :func:`~cvtoolkit.features.chunks.describe_chunk`
    and :func:`~cvtoolkit.features.chunks.decode_chunk`;
    :func:`~cvtoolkit.features.extraction.extract_to_store` passes its
    module's, so replacing ``extraction.describe_chunk`` reaches this
    scheduler as it reaches the Dask one.

    With ``n_jobs > 1`` the chunks go to ``n_jobs - 1`` worker processes
    (loky, as joblib uses) *and* the main process: it describes a chunk
    itself whenever the workers are busy, so no core idles while the
    workers start (importing NumPy, OpenCV and scikit-learn takes a second
    or two, a large share of a short extraction). At most ``2 * (n_jobs - 1)``
    chunks of images are in the workers' hands; the main process may run
    ahead of them by up to :data:`AHEAD_BYTES` of features, which wait to
    be written in order.
    """

    describe = describe or describe_chunk
    decode = decode or decode_chunk

    def local(i: int) -> tuple:
        s, e = chunks[i]
        return describe(worker, *source.payload(order[s:e]), image_size, source.max_pixels)

    if n_jobs <= 1 or len(chunks) <= 1:
        if len(chunks) > 1:
            yield from _prefetched(worker, source, chunks, order, image_size, describe, decode)
            return
        for i in range(len(chunks)):
            yield chunks[i], local(i)
        return
    from collections import deque

    executor = worker_pool(n_jobs - 1)
    window = 2 * (n_jobs - 1)
    pending: deque = deque()  # (chunk index, future), in submission order
    done_here: dict[int, tuple] = {}
    submitted = 0
    out = 0
    here = 0
    held = 0  # bytes of features described here, waiting for earlier chunks from the workers
    try:
        while out < len(chunks):
            while submitted < len(chunks) and len(pending) < window:
                s, e = chunks[submitted]
                kind, data = source.payload(order[s:e])
                pending.append((submitted, executor.submit(describe, worker, kind, data, image_size,
                                                               source.max_pixels)))
                submitted += 1
            ready = False
            while out < len(chunks):
                if out in done_here:
                    result = done_here.pop(out)
                    held -= result[0].nbytes
                    yield chunks[out], result
                elif pending and pending[0][0] == out and pending[0][1].done():
                    yield chunks[out], pending.popleft()[1].result()
                else:
                    break
                out += 1
                ready = True
            if ready or out >= len(chunks):
                continue
            if submitted < len(chunks) and (len(done_here) < window or held < AHEAD_BYTES):
                done_here[submitted] = local(submitted)  # the workers are busy: work here too
                held += done_here[submitted][0].nbytes
                submitted += 1
                here += 1
            else:  # the next chunk to write is the oldest one in a worker: wait for it
                pending[0][1].result(timeout=None)
    finally:
        for _, future in pending:
            future.cancel()
        log.debug("%d chunks described in the main process, %d in %d worker process(es)",
                  here, submitted - here, n_jobs - 1)
