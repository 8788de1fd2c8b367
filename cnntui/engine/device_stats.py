"""Device statistics: the torch allocator and NVML on GPUs, process RSS and CPU% always."""

from __future__ import annotations

import os
from typing import Any

import torch

from cnntui.engine.events import DeviceStats


class DeviceMonitor:
    """Samples memory and utilisation; NVML is optional and initialised once, lazily."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._nvml: Any = None
        self._handles: list[Any] = []
        self._process: Any = None
        try:
            import psutil

            self._process = psutil.Process(os.getpid())
            self._process.cpu_percent(None)  # the first call only starts the measurement
        except Exception:
            self._process = None
        if device.type == "cuda":
            self._init_nvml()

    def _init_nvml(self) -> None:
        try:
            import pynvml

            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            self._nvml = pynvml
        except Exception:  # no driver library, no permission: the torch numbers still work
            self._nvml = None

    def sample(self) -> DeviceStats:
        stats = DeviceStats(device=str(self.device))
        if self._process is not None:
            try:
                stats.rss = self._process.memory_info().rss
                stats.cpu_percent = self._process.cpu_percent(None)
            except Exception:
                pass
        if self.device.type == "cuda":
            index = self.device.index if self.device.index is not None else 0
            # Allocator counters are host-side bookkeeping: reading them does not sync.
            stats.memory_allocated = torch.cuda.memory_allocated(index)
            stats.memory_reserved = torch.cuda.memory_reserved(index)
            stats.memory_peak = torch.cuda.max_memory_allocated(index)
            stats.gpus = self._gpu_stats()
            if index < len(stats.gpus):
                gpu = stats.gpus[index]
                stats.memory_total = gpu.get("memory_total")
                stats.memory_used = gpu.get("memory_used")
                stats.utilization = gpu.get("utilization")
                stats.temperature = gpu.get("temperature")
                stats.power = gpu.get("power")
            if stats.memory_total is None:
                stats.memory_total = torch.cuda.get_device_properties(index).total_memory
        return stats

    def _gpu_stats(self) -> list[dict[str, Any]]:
        if self._nvml is None:
            return []
        nv = self._nvml
        result = []
        for i, handle in enumerate(self._handles):
            gpu: dict[str, Any] = {"index": i}
            for key, read in (
                ("name", lambda h: nv.nvmlDeviceGetName(h)),
                ("memory_total", lambda h: nv.nvmlDeviceGetMemoryInfo(h).total),
                ("memory_used", lambda h: nv.nvmlDeviceGetMemoryInfo(h).used),
                ("utilization", lambda h: float(nv.nvmlDeviceGetUtilizationRates(h).gpu)),
                ("temperature", lambda h: float(nv.nvmlDeviceGetTemperature(h, 0))),
                ("power", lambda h: nv.nvmlDeviceGetPowerUsage(h) / 1000.0),
            ):
                try:
                    value = read(handle)
                    gpu[key] = value.decode() if isinstance(value, bytes) else value
                except Exception:
                    gpu[key] = None
            result.append(gpu)
        return result
