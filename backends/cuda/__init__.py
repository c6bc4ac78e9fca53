"""The ``cuda`` backend (CuPy). Constructing it raises, with the reason, without a usable GPU."""

from backends.cuda.backend import CudaBackend

__all__ = ["CudaBackend"]
