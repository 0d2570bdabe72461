"""CUDA devices: ``is_available()`` is False where convnet was built without CUDA or no GPU is visible."""
from ._core.cuda import (allow_tf32, device_count, get_device_name, host_waits, is_available, is_compiled,
                         launch_blocking, max_memory_allocated, memory_allocated, reset_peak_memory_stats,
                         set_allow_tf32, set_launch_blocking, synchronize)

__all__ = ["is_available", "is_compiled", "device_count", "get_device_name", "synchronize", "allow_tf32",
           "set_allow_tf32", "memory_allocated", "max_memory_allocated", "reset_peak_memory_stats", "launch_blocking",
           "set_launch_blocking", "host_waits"]
