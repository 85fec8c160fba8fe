"""How many CPUs this process may use: the default number of processes of both apps."""

from __future__ import annotations

import math
import os
from pathlib import Path


def available_cpus(cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """CPUs this process may use: the cgroup v2 quota when there is one (a pod's CPU limit),
    else the CPUs it may be scheduled on. ``os.cpu_count()`` alone reports the whole node."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    return max(1, cpus)
