"""The C-style renderer shared by the ``opencl`` and ``cuda`` backends.

``ops`` maps every elementwise op to a C expression per dtype, ``dialect`` holds the few
attributes in which OpenCL C and CUDA C differ, ``kernels`` renders program sources from
templates, ``layout`` turns shapes into the collapsed strided views the templates take, and
``backend`` implements the kernel contract on top of a small device runtime.
"""

from backends.crender.dialect import CUDA, OPENCL, Dialect

__all__ = ["CUDA", "OPENCL", "Dialect"]
