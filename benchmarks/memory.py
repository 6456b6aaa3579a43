"""Peak memory of the current process."""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mb() -> float:
    """The most resident memory this process has held, in MB.

    Linux's VmHWM belongs to the process's own address space. ru_maxrss is only a
    fallback: a child started by fork and exec inherits its parent's peak in it.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    # Linux and most BSDs report ru_maxrss in kilobytes.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
