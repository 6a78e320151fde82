"""A progress line for long steps: ``still fitting hog+linear_svm ... 10 s`` every few seconds.

Examples
--------
>>> import time
>>> with still_running("demo", first=60.0):  # done before the first line
...     time.sleep(0.01)
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

logger = logging.getLogger("cvtoolkit.methods.compare")


class still_running:  # noqa: N801 - a context manager
    """Log ``<what>: still running, <t> s`` after ``first`` seconds, then every ``every`` seconds.

    The line goes to :mod:`logging` (INFO), which the command line prints on
    stderr; a step that ends sooner logs nothing. When it logged, the end
    is logged too (``<what>: done in <t> s``).
    """

    def __init__(self, what: str, *, first: float = 5.0, every: float = 15.0, log: logging.Logger | None = None):
        self.what, self.first, self.every = what, float(first), float(every)
        self.log = log or logger
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        self.lines = 0

    def _run(self) -> None:
        wait = self.first
        while not self._stop.wait(wait):
            self.lines += 1
            self.log.info("%s: still running, %.0f s", self.what, time.perf_counter() - self._t0)
            wait = self.every

    def __enter__(self) -> "still_running":
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._run, name="cvtoolkit-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.lines:
            self.log.info("%s: done in %.1f s", self.what, time.perf_counter() - self._t0)
