"""The ``opencl`` backend (PyOpenCL). Importing it imports pyopencl; the registry does so lazily."""

from backends.opencl.backend import OpenCLBackend

__all__ = ["OpenCLBackend"]
