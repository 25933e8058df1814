"""Helpers shared by the benchmark scripts: the machine description and one JSON line per figure."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from typing import Any

import torch

__all__ = ["machine_info", "emit"]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    try:  # macOS
        return subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                              check=False).stdout.strip() or platform.processor()
    except OSError:
        return platform.processor()


def machine_info(device: str | torch.device = "cpu") -> dict[str, Any]:
    """CPU model and cores, torch threads, GPU name (when ``device`` is CUDA), torch and Python versions."""
    dev = torch.device(device)
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(dev),
    }
    if hasattr(os, "getloadavg"):  # other work on a shared machine skews timings: say how busy it was
        info["load_avg_1m"] = round(os.getloadavg()[0], 2)
    if dev.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(dev)
        info["cuda"] = torch.version.cuda
    return info


def emit(figure: str, **fields: Any) -> dict[str, Any]:
    """Print one figure as one JSON line (and return it)."""
    row = {"figure": figure, **fields}
    print(json.dumps(row), flush=True)
    return row
