"""How a command's process keeps the memory it frees: a process-wide setting, so the command line's to make.

Every image passes through buffers of its own size (Pillow's pixels and their packed copy). glibc hands
buffers that large back to the kernel when they are freed and takes fresh pages for the next image, which the
kernel must map and zero page by page, more so with several threads reading side by side (docs/performance.md).
Keeping freed memory in the process, up to the limits below, lets each buffer reuse the pages of the one
before it.
"""

from __future__ import annotations

import ctypes
import os

# mallopt's parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 32 << 20  # allocations up to 32 MiB (a 4K RGB frame) come from the heap, not their own mapping
TRIM_THRESHOLD = 128 << 20  # up to 128 MiB of freed heap stays in the process


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed memory for reuse (see the module's docstring); whether it applied.
    Nothing happens on another C library (macOS, Windows, musl)."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
            return False
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already runs on
    except (AttributeError, OSError, ValueError):  # no confstr (Windows), no such name, no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
