"""Launch records: what the ``cpu`` backend's primitives ask the machine to do.

Every primitive (``backends.cpu.primitives``) checks its arguments, allocates its outputs and then
describes its work as :class:`Launch` records: the kernel (a numba dispatcher, a BLAS call or a
small numpy function), its positional arguments in the kernel's order (buffers, constants such
as op codes and dtype scalars, sizes, host scalars), which of those arguments are sizes and
which array holds per-step host scalars. The scheduler (``backends.cpu.schedule``) runs the
records at once (eager execution) and, while a trace step is being collected, keeps the ones it
ran; trace programs, compiled chunks and parameter arenas (``backends.cpu.steps``: ``program``,
``chunk``, ``arena``) are passes over those same records.

Rules a kernel launched this way keeps (a program replays the record with other buffers):

- its effect depends only on the contents of its array arguments and on the other arguments;
- it reads nothing on the host that a later step could change, except ``host`` scalars, which
  a program recomputes every step (:class:`HostScalars`);
- sizes are ordinary run-time arguments (``sizes`` names their positions), never baked into
  the generated code of the kernel itself, so a kernel compiled for one model serves others
  of other widths.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np


class HostScalars(NamedTuple):
    """Scalars a launch reads that the host computes per call (an optimizer's learning rate and
    bias corrections): ``values`` is the array passed to the kernel, ``pack(hyper)`` computes
    its new contents from the optimizer's hyperparameters of the step (``kernel`` names the
    optimizer update, e.g. ``"adam_update"``)."""

    kernel: str
    values: np.ndarray
    pack: Callable[[dict[str, Any]], Any]

    def refresh(self, hyper: dict[str, Any]) -> None:
        """Rewrite ``values`` in place for the step whose hyperparameters are ``hyper``."""
        np.copyto(self.values, self.pack(hyper))


class Launch(NamedTuple):
    """One kernel call: ``kernel(*args)``.

    ``args`` are the kernel's positional arguments (numpy buffers or views of them, constants,
    sizes, host-scalar arrays); ``sizes`` are the positions in ``args`` holding sizes (element,
    row or image counts and ranges); ``host`` describes the host-scalar array among ``args``
    when there is one."""

    kernel: Callable[..., Any]
    args: tuple[Any, ...]
    sizes: tuple[int, ...] = ()
    host: HostScalars | None = None

    def run(self) -> None:
        """Run the kernel on the recorded arguments."""
        self.kernel(*self.args)

    @property
    def name(self) -> str:
        """The kernel's name, for messages."""
        fn = getattr(self.kernel, "py_func", self.kernel)
        return getattr(fn, "__qualname__", None) or repr(fn)


#: What a scheduler call runs: one launch or several in order.
Launches = Launch | tuple[Launch, ...]


def as_tuple(work: Launches) -> tuple[Launch, ...]:
    """``work`` as a tuple of launches."""
    return (work,) if isinstance(work, Launch) else work


@functools.lru_cache(maxsize=4096)
def broadcast_strides(shapes: tuple, out_shape: tuple) -> tuple[np.ndarray, np.ndarray]:
    """The size arguments of a broadcasting kernel: collapsed output dims and per-operand
    element strides (0 where broadcast), read-only int64 arrays.

    Size-1 output dims are dropped and adjacent dims that are contiguous for every operand
    are merged, so a same-shape op is one flat dimension and a row-vector broadcast is two.
    """
    nd = len(out_shape)
    per_op = []
    for s in shapes:
        s = (1,) * (nd - len(s)) + tuple(s)
        strides = [0] * nd
        acc = 1
        for d in range(nd - 1, -1, -1):
            strides[d] = acc if s[d] != 1 else 0
            acc *= s[d]
        per_op.append(strides)
    dims: list[int] = []
    cols: list[list[int]] = []
    for d in range(nd):
        n = out_shape[d]
        if n == 1:
            continue
        cur = [st[d] for st in per_op]
        if dims and all(prev == c * n for prev, c in zip(cols[-1], cur, strict=True)):
            dims[-1] *= n
            cols[-1] = cur
        else:
            dims.append(n)
            cols.append(cur)
    if not dims:
        dims, cols = [1], [[0] * len(shapes)]
    shape = np.array(dims, np.int64)
    st = np.ascontiguousarray(np.array(cols, np.int64).T)
    shape.flags.writeable = False
    st.flags.writeable = False
    return shape, st
