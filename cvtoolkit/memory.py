"""Estimate the memory a setting needs before allocating it, and refuse in one line when it cannot fit.

A huge ``--image-size`` or descriptor parameter (``--set orientations=99999999``)
would otherwise reach NumPy or OpenCV as a 30 GB or 2 TiB allocation and
end in a ``MemoryError`` traceback, or worse, in the kernel's OOM killer.
Callers compute the bytes an array will take and call
:func:`check_memory` first. Imports nothing heavy.

Examples
--------
>>> check_memory(1024, "a tiny array")  # fits
>>> try:
...     check_memory(2**62, "resizing 10 images to 100000x100000", "Use a smaller --image-size.")
... except MemoryBudgetError as err:
...     print(str(err).split(";")[0])
resizing 10 images to 100000x100000 needs about 4.0 EiB of memory
"""

from __future__ import annotations

import os
from pathlib import Path

from cvtoolkit.errors import MemoryBudgetError

__all__ = ["MemoryBudgetError", "available_bytes", "check_memory", "format_bytes"]


def format_bytes(n: float) -> str:
    """``'1.5 GiB'``.

    Examples
    --------
    >>> format_bytes(3 * 2**30 // 2), format_bytes(512)
    ('1.5 GiB', '512 B')
    """
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    i = 0
    while n >= 1024 and i < len(units) - 1:
        n /= 1024.0
        i += 1
    return f"{int(n)} B" if i == 0 else f"{n:.1f} {units[i]}"


def _cgroup_room() -> int | None:
    """Bytes left under a cgroup v2 memory limit (containers), None without one."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit == "max":
            return None
        used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
        return max(0, int(limit) - used)
    except (OSError, ValueError):
        return None


def available_bytes() -> int | None:
    """Memory available to this process now: the system's available memory, within a cgroup limit.

    None when it cannot be told (then nothing is refused).
    """
    room = None
    try:
        import psutil

        room = int(psutil.virtual_memory().available)
    except Exception:  # psutil missing: /proc/meminfo, then the physical pages
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemAvailable:"):
                    room = int(line.split()[1]) * 1024
                    break
        except (OSError, ValueError, IndexError):
            pass
        if room is None:
            try:
                room = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
            except (ValueError, OSError, AttributeError):
                room = None
    cgroup = _cgroup_room()
    if cgroup is not None:
        room = cgroup if room is None else min(room, cgroup)
    return room


def check_memory(nbytes: float, what: str, fix: str = "", *, available: int | None = None) -> None:
    """Refuse ``what`` when its estimated ``nbytes`` exceed the memory available.

    Parameters
    ----------
    nbytes : number
        The estimate (the arrays the step allocates).
    what : str
        What needs it, for the message (``"resizing 24 images to 100000x100000"``).
    fix : str
        What to do instead (``"Use a smaller --image-size."``).
    available : int, optional
        Bytes available (default :func:`available_bytes`).

    Raises
    ------
    MemoryBudgetError
        One line: what, how much it needs, how much there is, the fix.
    """
    room = available_bytes() if available is None else available
    if room is None or nbytes <= room:
        return
    raise MemoryBudgetError(
        f"{what} needs about {format_bytes(nbytes)} of memory; this machine has {format_bytes(room)} available. "
        + (fix or "Choose a smaller setting.")
    )
