"""The ``opencl`` backend (PyOpenCL). Importing it imports pyopencl; the registry does so lazily."""

from backends.cache import configure_opencl_cache

configure_opencl_cache()  # PoCL's kernel cache under $TENSORWEAVE_CACHE; before PoCL loads

from backends.opencl.backend import OpenCLBackend  # noqa: E402

__all__ = ["OpenCLBackend"]
