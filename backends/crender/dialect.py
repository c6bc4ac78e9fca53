"""C dialects: OpenCL C and CUDA C differ only in these few attributes."""

from __future__ import annotations

from dataclasses import dataclass, field

_AXES = "xyz"


# OpenCL 1.x has no float atomics: compare-and-swap loops on the bit pattern.
_ATOMICS = """
void tw_atomic_add_f32(volatile __global float* p, float v) {
  union { unsigned int u; float f; } o, n;
  do { o.f = *p; n.f = o.f + v; }
  while (atomic_cmpxchg((volatile __global unsigned int*)p, o.u, n.u) != o.u);
}
"""

_ATOMICS_F64 = """
#pragma OPENCL EXTENSION cl_khr_int64_base_atomics : enable
void tw_atomic_add_f64(volatile __global double* p, double v) {
  union { unsigned long u; double f; } o, n;
  do { o.f = *p; n.f = o.f + v; }
  while (atom_cmpxchg((volatile __global unsigned long*)p, o.u, n.u) != o.u);
}
"""


@dataclass(frozen=True)
class Dialect:
    """What a template needs to know about the target language."""

    name: str
    kernel_prefix: str
    global_qual: str
    local_qual: str
    fn_prefix: str
    barrier: str
    types: dict[str, str] = field(default_factory=dict)
    #: Unsigned types that move elements of 1, 4 and 8 bytes (copy, gather).
    move_types: dict[int, str] = field(default_factory=dict)
    header: str = ""

    def ctype(self, dtype: str) -> str:
        """The C type that stores ``dtype``."""
        try:
            return self.types[dtype]
        except KeyError:
            raise TypeError(
                f"dtype {dtype!r} has no {self.name} type; expected one of {', '.join(self.types)}"
            ) from None

    def move_type(self, itemsize: int) -> str:
        """An unsigned C type of ``itemsize`` bytes."""
        if itemsize not in self.move_types:
            raise TypeError(f"no {itemsize}-byte element type; expected one of 1, 4, 8")
        return self.move_types[itemsize]

    def global_id(self, dim: int = 0) -> str:
        raise NotImplementedError

    def local_id(self, dim: int = 0) -> str:
        raise NotImplementedError

    def group_id(self, dim: int = 0) -> str:
        raise NotImplementedError

    def inf(self, dtype: str) -> str:
        """Positive infinity of a float dtype."""
        raise NotImplementedError

    def atomic_add(self, dtype: str, ptr: str, value: str) -> str:
        """A statement that atomically adds ``value`` at ``ptr`` (an address expression)."""
        raise NotImplementedError

    def atomic_min_int(self, ptr: str, value: str) -> str:
        """A statement that atomically lowers the ``int`` at ``ptr`` to ``value``."""
        raise NotImplementedError

    def preamble(self, dtypes: tuple[str, ...]) -> str:
        """Source that must precede kernels using ``dtypes``."""
        return self.header


class OpenCLDialect(Dialect):
    def global_id(self, dim: int = 0) -> str:
        return f"(int)get_global_id({dim})"

    def local_id(self, dim: int = 0) -> str:
        return f"(int)get_local_id({dim})"

    def group_id(self, dim: int = 0) -> str:
        return f"(int)get_group_id({dim})"

    def inf(self, dtype: str) -> str:
        return "INFINITY" if dtype == "float32" else "((double)INFINITY)"

    def atomic_add(self, dtype: str, ptr: str, value: str) -> str:
        if dtype == "int32":
            return f"atomic_add({ptr}, {value});"
        if dtype == "float32":
            return f"tw_atomic_add_f32({ptr}, {value});"
        if dtype == "float64":
            return f"tw_atomic_add_f64({ptr}, {value});"
        raise TypeError(f"no atomic add for dtype {dtype!r}")

    def atomic_min_int(self, ptr: str, value: str) -> str:
        return f"atomic_min({ptr}, {value});"

    def preamble(self, dtypes: tuple[str, ...]) -> str:
        if "float64" in dtypes:
            return "#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n" + self.header + _ATOMICS_F64
        return self.header


class CUDADialect(Dialect):
    def global_id(self, dim: int = 0) -> str:
        a = _AXES[dim]
        return f"(int)(blockIdx.{a} * blockDim.{a} + threadIdx.{a})"

    def local_id(self, dim: int = 0) -> str:
        return f"(int)threadIdx.{_AXES[dim]}"

    def group_id(self, dim: int = 0) -> str:
        return f"(int)blockIdx.{_AXES[dim]}"

    def inf(self, dtype: str) -> str:
        return (
            "__int_as_float(0x7f800000)"
            if dtype == "float32"
            else "__longlong_as_double(0x7ff0000000000000LL)"
        )

    def atomic_add(self, dtype: str, ptr: str, value: str) -> str:
        if dtype not in ("int32", "float32", "float64"):
            raise TypeError(f"no atomic add for dtype {dtype!r}")
        return f"atomicAdd({ptr}, {value});"

    def atomic_min_int(self, ptr: str, value: str) -> str:
        return f"atomicMin({ptr}, {value});"


OPENCL = OpenCLDialect(
    name="OpenCL C",
    kernel_prefix="__kernel",
    global_qual="__global",
    local_qual="__local",
    fn_prefix="",  # plain functions: C99 ``inline`` semantics can fail to link in OpenCL 1.x
    barrier="barrier(CLK_LOCAL_MEM_FENCE);",
    types={"float32": "float", "int32": "int", "bool": "uchar", "float64": "double"},
    move_types={1: "uchar", 4: "uint", 8: "ulong"},
    header=_ATOMICS,
)

CUDA = CUDADialect(
    name="CUDA C",
    kernel_prefix='extern "C" __global__',
    global_qual="",
    local_qual="__shared__",
    fn_prefix="__device__ inline",
    barrier="__syncthreads();",
    types={"float32": "float", "int32": "int", "bool": "unsigned char", "float64": "double"},
    move_types={1: "unsigned char", 4: "unsigned int", 8: "unsigned long long"},
)
