"""What the benchmarks report about the machine they ran on."""

from __future__ import annotations

import os
import platform


def cpu_model() -> str:
    """The CPU's marketing name; /proc/cpuinfo has it on x86 Linux, platform.processor() elsewhere."""
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()
