"""Compiled trace programs: a chunk of training steps as one numba function.

A :class:`~backends.cpu.steps.program.Program` replays a step as a Python loop over its launch
records; for a small model that loop (unboxing each launch's arrays, rebuilding views, the
optimizer's host scalars) is a third of the step. Once a program has run ``COMPILE_AFTER`` steps,
:func:`compile_program` renders its launches as the body of a numba loop over steps and
compiles it, so a chunk of ``fit`` steps becomes a single native call:

- numba kernels are called as they were recorded (the same dispatchers, the same arguments);
- GEMMs call the ``cblas_?gemm`` of the backend's OpenBLAS (``cblas.get_gemm``: a private
  copy with kernels picked for the CPU, or numpy's; by symbol) with the
  arguments ``np.matmul`` passes it (row-major, the same transposes and leading dimensions).
  OpenBLAS runs on one thread for the whole call; a GEMM of ``SPLIT_GEMM_FLOPS`` or more is
  split over numba's threads instead (``cblas.split_gemm``), and so is a large optimizer
  update, unless another process holds a core. Small models are bit-identical to the
  program; split GEMMs may differ from a multi-threaded OpenBLAS call in the last bit;
- sizes (GEMM dimensions and leading dimensions, view offsets and shapes, batch rows, arena
  offsets, whether a GEMM or update is large enough to split) are read from a run-time
  ``int64`` array (``S``, locals ``z<i>``), never written into the source: the source and its
  cache key hold structure and dtypes, so a model of other widths, input width, batch size or
  sample count runs the machine code of the first (``events`` counts compiles, loads, reuses);
- per-step buffers are flat 1-D locals: the batch (a slice of the epoch's array per step), the
  variables, and for each escaping value a pair of pool buffers the steps alternate between
  (nothing outside can hold them during the call);
- host scalars (an optimizer's learning rate and bias corrections) are computed before the call
  for every step of the chunk, by the same host steps and effects the program runs, into a
  table the loop copies from.

Programs with live ops, kwargs, Python launches other than GEMM/copy/fill/concatenate, or
views the loop cannot rebuild are not compiled (``GiveUp``; the Python program keeps running
them). Kernels must not raise: launches that check on the host (``check_indices``) are Python
functions and so excluded; were a kernel to raise anyway, the host effects of the whole chunk
(the optimizer's step count) would already have run. Source files are cached like the fusion
kernels (``<cache>/programs``), with ``cache=True``, so a later process loads the machine code
instead of compiling.

When to compile (``chunk_for``, asked once a program has run ``program.COMPILE_AFTER`` steps):
a compile costs seconds and saves a fraction of a millisecond per step, so a cost model decides.
It compiles only when ``steps left x time saved per step > expected compile time``:

- *steps left*: what the caller said (``Program.steps_left``: ``fit`` passes the steps its
  remaining epochs run), or, when that is unknown or smaller, as many steps as the program has
  already run (a program used across many fits is expected to go on);
- *time saved per step*: the measured time per step of the Python program
  (``Program.py_seconds / py_steps``) times ``saved_fraction()`` (``SAVED_FRACTION`` until
  compiled chunks have been measured on this machine; then their recorded savings);
- *compile time*: ``DEFAULT_LOAD_S`` (or the recorded load times) when numba has this chunk in
  its disk cache; else the recorded compile times of past chunks (``backends.cache``'s
  ``compile_times.json``, scaled by source lines), ``DEFAULT_COMPILE_S`` when none.

A chunk in the disk cache is loaded between two chunks of steps (a fraction of a second). One
that must be compiled never stalls training: a worker process (``python -c ...
chunk.worker_main``) compiles it into numba's disk cache while steps go on running the Python
program, and the chunk is loaded and swapped in between two chunks of steps once the worker is
done (results are those of the Python program, as always). A compile still running when the
process exits finishes into the cache for the next process (``_stop_workers``). A chunk is never
compiled on the training thread unless compiling is forced (``COMPILE_AFTER`` 0 or the
environment variable): machine code the disk cache turns out not to hold for the signature
is compiled by a worker too. The savings then only start after
the compile, so the steps counted are those left once it is expected to finish. A refused
compile is logged (INFO on ``tensorweave.trace``) with the numbers, and asked again when a
later fit brings more steps. ``program.COMPILE_AFTER = 0`` (or ``TENSORWEAVE_COMPILE_AFTER``
set) compiles without asking the cost model, in the process, as before.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import hashlib
import logging
import os
import pickle
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numba
import numpy as np

import backends
from backends.cache import add_record, cache_subdir, child_env, read_records
from backends.cpu import fusion
from backends.cpu import kernels as K
from backends.cpu.native import cblas as CB
from backends.cpu.native import threads as T
from backends.cpu.steps import arena, program
from backends.cpu.steps.program import (
    Baked,
    Dyn,
    EffectStep,
    GiveUp,
    HostStep,
    LaunchStep,
    LiveStep,
    Spec,
    View,
    free_buffer,
    is_whole,
    resolve,
    root_of,
)
from engine import activity

#: Bump when the generated code changes.
GEN_VERSION = 4
#: GEMMs of this many flops or more are split over numba's threads (``cblas.split_gemm``): a
#: 32x784x128 GEMM takes 73 us on one thread, ~45 us as two halves, ~70 us on two OpenBLAS
#: threads that must be woken up (Haswell kernels; SkylakeX: 41 us, 23 us). The Python
#: program's GEMMs in the private OpenBLAS split from the same size.
SPLIT_GEMM_FLOPS = T.PRIVATE_SPLIT_FLOPS
#: Merged optimizer updates of this many elements or more run in parallel (``opt_update_ip_par``).
PAR_UPDATE_MIN = 1 << 15
#: Cost model defaults (module docstring): seconds of a compile nothing recorded can estimate,
#: seconds to load a chunk numba has cached, fraction of a Python-program step a chunk saves.
DEFAULT_COMPILE_S = 10.0
DEFAULT_LOAD_S = 0.1
SAVED_FRACTION = 0.3
#: Niceness of the background compile's process (``os.nice``; ``TENSORWEAVE_COMPILE_NICE``):
#: the lowest priority, so it runs on cycles training leaves idle. Measured on 2 cores (a
#: 0.05 s epoch): at 19 no epoch during the compile exceeded 1.6x the median; at 5 and 10 the
#: epochs right after it started took 2-2.5x (the worker's imports competing).
NICE = int(os.environ.get("TENSORWEAVE_COMPILE_NICE", "19"))
_lock = threading.Lock()
_log = logging.getLogger("tensorweave.trace")


# --- rendering ----------------------------------------------------------------------------------
def _is_dispatcher(fn: Any) -> bool:
    return hasattr(fn, "py_func") and hasattr(fn, "overloads")


def _is_array(v: Any) -> bool:
    return isinstance(v, np.ndarray) and v.size > 0


class _Renderer:
    def __init__(self, prog: Any):
        self.prog = prog
        self.nargs = len(prog.arg_meta)
        self.nvars = len(prog.var_meta)
        self.pool_of = {pool.base: p for p, pool in enumerate(prog.pools)}
        self.baked: list[Any] = []
        self.baked_ids: dict[int, int] = {}
        self.globals: dict[str, Any] = {}
        self.gnames: dict[int, str] = {}
        self.lines: list[str] = []
        self.host_arrays: list[np.ndarray] = []  # per table, in refresh order
        self.refreshes: list[int] = []  # the host steps the host pass runs
        self.table_of: dict[int, int] = {}  # host step the host pass runs -> its first table
        self.first_of: dict[int, int] = {}  # every host step -> the first table it reads
        self.groups: list[arena.Group] = []  # optimizer updates merged in place (arena.py)
        self.subst: dict[int, tuple[np.ndarray, int]] = {}  # gradient root -> (arena, offset)
        self.empty: dict[Any, np.ndarray] = {}  # an empty array per dtype (unused slots)
        self.carried: dict[int, int] = {}  # arg index -> output index (set per compile)
        #: the sizes the source reads from its ``S`` argument (``z<i>`` locals), one per use, so
        #: the source names no width or batch size and serves every model of this structure
        self.sizes: list[int] = []

    # names -------------------------------------------------------------------------------------
    def _size(self, v: Any) -> str:
        """A run-time size (the local ``z<i>`` read from ``S``), never a literal in the source."""
        self.sizes.append(int(v))
        return f"z{len(self.sizes) - 1}"

    def _shape(self, shape: Sequence[int]) -> str:
        """Source of a shape tuple of run-time sizes (``()`` for a 0-d view)."""
        dims = [self._size(d) for d in shape]
        return f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"

    def _bake(self, v: Any) -> str:
        i = self.baked_ids.get(id(v))
        if i is None:
            i = self.baked_ids[id(v)] = len(self.baked)
            moved = arena.substitute(v, self.subst) if self.subst and _is_array(v) else None
            self.baked.append(v if moved is None else moved)
        return f"B[{i}]"

    def _global(self, fn: Any) -> str:
        name = self.gnames.get(id(fn))
        if name is None:
            name = self.gnames[id(fn)] = f"K{len(self.gnames)}"
            self.globals[name] = fn
        return name

    def _base_shape(self, index: int) -> tuple[tuple, Any]:
        prog = self.prog
        if index < self.nargs:
            return prog.arg_meta[index]
        if index < self.nargs + self.nvars:
            return prog.var_meta[index - self.nargs]
        p = self.pool_of.get(index)
        if p is None:
            raise GiveUp("a launch reads the result of a live op")
        root = prog.pools[p].buffers[0]
        return root.shape, root.dtype

    def base_local(self, index: int) -> str:
        if index < self.nargs:
            return f"a{index}"
        if index < self.nargs + self.nvars:
            return f"v{index - self.nargs}"
        p = self.pool_of.get(index)
        if p is None:
            raise GiveUp("a launch reads the result of a live op")
        return f"pc{p}"

    def expr(self, spec: Spec) -> str:
        """Source of the value a launch argument ``spec`` has in a run."""
        if type(spec) is Baked:
            return self._bake(spec.value)
        index, view = spec.base, spec.view
        flat = self.base_local(index)
        shape, dtype = self._base_shape(index)
        if view is None:
            view = shape
        if type(view) is not View:
            return f"{flat}.reshape({self._shape(view)})"
        vshape, vdtype, off, strides = view
        vdtype = np.dtype(vdtype)
        if vdtype != np.dtype(dtype):  # a reinterpreting view: the whole base as vdtype first
            if (int(np.prod(shape)) * np.dtype(dtype).itemsize) % vdtype.itemsize:
                raise GiveUp("a launch argument reinterprets a buffer of another size")
            name = "bool_" if vdtype == np.bool_ else vdtype.name
            flat = f"{flat}.view(np.{name})"
            dtype = vdtype
        sz = np.dtype(dtype).itemsize
        if off % sz:
            raise GiveUp("a launch argument starts inside an element")
        o = off // sz
        n = int(np.prod(vshape))
        c_strides = tuple(int(s) for s in np.empty(vshape, dtype).strides)
        if tuple(strides) == c_strides:
            lo, hi = self._size(o), self._size(o + n)
            return f"{flat}[{lo}:{hi}].reshape({self._shape(vshape)})"
        if len(vshape) == 2 and tuple(strides) == (sz, vshape[0] * sz):
            lo, hi = self._size(o), self._size(o + n)
            return f"{flat}[{lo}:{hi}].reshape({self._shape((vshape[1], vshape[0]))}).T"
        raise GiveUp(f"a launch argument is a strided view ({vshape}, strides {strides})")

    # launches ----------------------------------------------------------------------------------
    def launch(self, step: LaunchStep) -> None:
        fn, specs, recorded = step.kernel, step.specs, step.metas
        args = [self.expr(s) for s in specs]
        if _is_dispatcher(fn):
            self.lines.append(f"{self._global(fn)}({', '.join(args)})")
        elif fn is T.matmul:
            self._gemm(args, recorded, specs)
        elif (
            fn is np.copyto
            and len(args) == 2
            and recorded[1] is not None
            and recorded[0].shape == recorded[1].shape
        ):
            self.lines.append(f"{args[0]}[...] = {args[1]}")
        elif getattr(fn, "__name__", "") == "fill_into" and len(args) == 2:
            self.lines.append(f"{args[0]}[...] = {args[1]}")
        elif getattr(fn, "__name__", "") == "concat_into" and all(
            r is not None for r in recorded[2:]
        ):
            axis, lo = getattr(specs[1], "value", None), 0
            if type(specs[1]) is not Baked or not isinstance(axis, int):
                raise GiveUp("a concatenation along a computed axis")
            for x, r in zip(args[2:], recorded[2:], strict=True):
                hi = lo + r.shape[axis]
                index = ", ".join([":"] * axis + [f"{self._size(lo)}:{self._size(hi)}"])
                self.lines.append(f"{args[0]}[{index}] = {x}")
                lo = hi
        else:
            raise GiveUp(f"launch {getattr(fn, '__qualname__', fn)} is a Python function")

    def _gemm(self, args: list[str], rec: tuple, specs: tuple[Spec, ...]) -> None:
        a, b, out = rec
        if a.ndim != 2 or b.ndim != 2 or out.ndim != 2:
            raise GiveUp("a batched matmul launch")
        if a.dtype != b.dtype or a.dtype != out.dtype or a.dtype.char not in "fd":
            raise GiveUp(f"a {a.dtype}/{b.dtype} matmul launch")
        m, k = a.shape
        n = b.shape[1]
        if min(m, n, k) <= 1:
            raise GiveUp("a matmul launch numpy runs as gemv or dot")
        ta, tb = CB.blasable(a), CB.blasable(b)
        if ta is None or tb is None or not out.c_contiguous:
            raise GiveUp("a matmul launch numpy runs without BLAS")
        sa, sb = specs[0], specs[1]
        same = (
            sa.value is sb.value
            if type(sa) is Baked and type(sb) is Baked
            else type(sa) is Dyn and type(sb) is Dyn and sa.base == sb.base
        )
        if same:
            raise GiveUp("a matmul of a buffer with itself (numpy may use syrk)")
        char = a.dtype.char
        try:
            g = self._global(CB.get_cblas().fns["cblas_sgemm" if char == "f" else "cblas_dgemm"])
            split = self._global(CB.split_gemm(char))
        except CB.CblasUnavailable as e:
            raise GiveUp(str(e)) from e
        real = "np.float32" if char == "f" else "np.float64"
        ptrs = [f"{x}.ctypes.data" for x in args]
        # sizes, leading dimensions and whether to split are run-time values (``S``)
        zm, zn, zk = self._size(m), self._size(n), self._size(k)
        dims = f"{zm}, {zn}, {zk}"
        tail = f"{ptrs[0]}, {self._size(ta[1])}, {ptrs[1]}, {self._size(tb[1])}"
        ldc = self._size(n)
        big = self._size(2.0 * m * n * k >= SPLIT_GEMM_FLOPS)
        call = f"{g}(101, {ta[0]}, {tb[0]}, {dims}, {real}(1.0), {tail}, {real}(0.0), "
        call += f"{ptrs[2]}, {ldc})"
        self.lines += [
            f"if P > 1 and {big}: {split}(P, {ta[0]}, {tb[0]}, {dims}, {tail}, {ptrs[2]}, {ldc})",
            f"else: {call}",
        ]

    # the whole chunk ---------------------------------------------------------------------------
    def _host_tables(self) -> dict[int, int]:
        """Lay out the host-scalar tables; returns each host array's table (by ``id``)."""
        prog = self.prog
        slot: dict[int, int] = {}
        shared: dict[Any, int] = {}  # host key -> the host step computing its values
        for j, st in enumerate(prog.steps):
            if type(st) is HostStep:
                arrays = [s.values for s in st.scalars]
                for h in arrays:
                    if not isinstance(h, np.ndarray) or h.ndim != 1:
                        raise GiveUp("a host argument is not a 1-D array")
                key = st.key
                same = shared.get(key) if key is not None else None
                if same is not None and [h.shape + (h.dtype,) for h in arrays] != [
                    s.values.shape + (s.values.dtype,) for s in prog.steps[same].scalars
                ]:
                    same = None
                if same is None:
                    first = self.table_of[j] = len(self.host_arrays)
                    self.host_arrays += arrays
                    self.refreshes.append(j)
                    if key is not None:
                        shared[key] = j
                else:
                    first = self.table_of[same]
                self.first_of[j] = first
                for t, h in enumerate(arrays):
                    slot[id(h)] = first + t
            elif type(st) is EffectStep:
                shared.clear()  # a host effect may change what the next refresh computes
        return slot

    def _merged_update(self, gi: int, g: arena.Group) -> None:
        """The one in-place launch of update group ``gi`` (over its arenas)."""
        empty = self._bake(self.empty.setdefault(g.dtype, np.empty(0, g.dtype)))
        slots = [f"w{gi}_{r}" for r in range(1, 1 + g.nslots)] + [empty] * (3 - g.nslots)
        args = f"{g.op}, {g.flag}, w{gi}_0, {self._bake(g.grads)}, {', '.join(slots)}, "
        args += self._bake(g.h)
        total = self._size(g.total)
        serial = f"{self._global(K.opt_update_ip)}({args}, 0, {total})"
        big = self._size(g.block is not None or g.total >= PAR_UPDATE_MIN)
        par = self._global(K.opt_update_ip_par)
        self.lines += [f"if P > 1 and {big}: {par}({args}, -(-{total} // P))", f"else: {serial}"]

    def render(self, carry: dict[int, int]) -> str:
        prog = self.prog
        outs = prog.outs
        self.carried = {a: o for o, a in carry.items()}
        self.groups = arena.plan(prog, self._host_tables())
        merged = {m.item for g in self.groups for m in g.members}
        emit = {g.last: gi for gi, g in enumerate(self.groups)}
        in_place = {vi for g in self.groups for m in g.members for vi in m.vars}
        for g in self.groups:
            g.grads = np.empty(g.total, g.dtype)
            for m in g.members:
                self.subst[id(root_of(m.grad))] = (g.grads, m.off)
        body: list[str] = []
        for j, st in enumerate(prog.steps):
            self.lines = []
            if j in merged:
                if j in emit:
                    self._merged_update(emit[j], self.groups[emit[j]])
            elif type(st) is LaunchStep:
                self.launch(st)
            elif type(st) is LiveStep:
                raise GiveUp("the step has a live op")
            elif type(st) is HostStep:
                first = self.first_of[j]
                for t, s in enumerate(st.scalars):
                    self.lines.append(f"{self._bake(s.values)}[:] = H[{first + t}][k]")
            # effects also run before the call (per step); assignments at the end of the step
            body += self.lines
        # end of step: carried arguments, variable assignments, pool swaps
        end: list[str] = []
        for a, o in sorted(self.carried.items()):
            end.append(f"a{a} = {self._whole_pool(outs[o], 'output')}")
        for vi, spec in prog.assign_specs():
            if vi not in in_place:
                end.append(f"v{vi} = {self._whole_pool(spec, 'assigned value')}")
        for p in range(len(prog.pools)):
            end.append(f"pc{p}, po{p} = po{p}, pc{p}")
        for spec in outs:
            if type(spec) is Dyn:
                idx = spec.base
                if idx in self.carried or (self.nargs <= idx < self.nargs + self.nvars):
                    raise GiveUp("an output reads a carried argument or a variable")
        head = []
        for i in range(self.nargs):
            head.append(f"a{i} = D[{i}]")
        for j in range(self.nvars):
            head.append(f"v{j} = D[{self.nargs + j}]")
        first = self.nargs + self.nvars
        for p in range(len(prog.pools)):
            head += [f"pc{p} = D[{first + 2 * p}]", f"po{p} = D[{first + 2 * p + 1}]"]
        first += 2 * len(prog.pools)
        for gi, g in enumerate(self.groups):  # the arenas, then the variables as their views
            head += [f"w{gi}_{r} = D[{first + r}]" for r in range(1 + g.nslots)]
            first += 1 + g.nslots
            for m in g.members:
                lo, hi = self._size(m.off), self._size(m.off + m.size)
                for r, vi in enumerate(m.vars):
                    head.append(f"v{vi} = w{gi}_{r}[{lo}:{hi}]")
        loop = ["for k in range(n):"]
        for i in range(self.nargs):
            if i not in self.carried:
                size = self._size(np.prod(prog.arg_meta[i][0]))
                loop.append(f"    a{i} = R{i}[O[{i}, k]:O[{i}, k] + {size}]")
        loop += ["    " + s for s in body + end]
        params = ", ".join(
            ["n", "P", "D", "O", "B", "H", "S"] + [f"R{i}" for i in range(self.nargs)]
        )
        head = [f"z{i} = S[{i}]" for i in range(len(self.sizes))] + head
        src = [
            "import numpy as np",
            "from numba import njit",
            "",
            "",
            "@njit(cache=True)",
            f"def chunk({params}):",
        ]
        src += ["    " + s for s in head + loop]
        src += ["    return 0", ""]
        return "\n".join(src)

    def _whole_pool(self, spec: Spec | None, what: str) -> str:
        if type(spec) is not Dyn:
            raise GiveUp(f"an {what} is not computed by the step")
        p = self.pool_of.get(spec.base)
        if p is None:
            raise GiveUp(f"an {what} is not a buffer the step writes")
        if not is_whole(spec):
            raise GiveUp(f"an {what} is a strided view of a buffer")
        return f"pc{p}"


# --- the compiled chunk -------------------------------------------------------------------------
def _stamp() -> str:
    """A hash of every source file of the cpu backend (``backends/cpu/**.py``)."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    h = hashlib.sha1()
    for folder, dirs, files in sorted(os.walk(here)):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                h.update(os.path.relpath(os.path.join(folder, name), here).encode())
                with open(os.path.join(folder, name), "rb") as f:
                    h.update(f.read())
    return h.hexdigest()


_STAMP = _stamp()


def _describe(v: Any) -> str:
    if _is_dispatcher(v):
        return f"{v.py_func.__module__}.{v.py_func.__qualname__}"
    return str(v)  # an ExternalFunction: its symbol and signature


def _module_spec(src: str, names: dict[str, Any]) -> tuple[str, str, str]:
    """``(folder, module name, file text)`` of a chunk's source."""
    ident = "\n".join(f"{k}={_describe(v)}" for k, v in sorted(names.items()))
    digest = hashlib.sha1(f"{GEN_VERSION}\n{_STAMP}\n{ident}\n{src}".encode()).hexdigest()[:24]
    name = f"tw_prog_{digest}"
    # the cache root of now (the worker's numba cache folder follows it: backends.cache)
    folder = cache_subdir("programs")
    text = f"# {ident.replace(chr(10), chr(10) + '# ')}\n{src}"
    return folder, name, text


#: chunk dispatchers imported in this process, by module name: a program of a structure seen
#: before (other widths, batch size or sample count: the same source) runs the machine code
#: already in the process
_imported: dict[tuple[str, str], Callable] = {}


def _import(folder: str, name: str, text: str, names: dict[str, Any]) -> Callable:
    """The chunk's numba dispatcher (its module imported once per process; nothing is compiled
    yet)."""
    with _lock:
        fn = _imported.get((folder, name))
        if fn is None:
            fn = _imported[folder, name] = fusion.load_module(folder, name, text, names).chunk
    return fn


#: What chunks did to get their machine code, counted over the process (tests, ``bench``):
#: ``"compiled"`` (here, forced), ``"loaded"`` (from numba's disk cache), ``"reused"`` (already
#: in the process: a program of a structure seen before), ``"background"`` (worker processes
#: started). ``"worker_compiled"`` counts signatures the workers compiled (not cached before).
events: collections.Counter[str] = collections.Counter()


def _in_process(fn: Any, sig: tuple) -> bool:
    """True when ``fn`` (a numba dispatcher) holds machine code for ``sig`` in this process."""
    return tuple(sig) in fn.overloads


def _on_disk(fn: Any, sig: tuple) -> bool:
    """True when numba's disk cache holds ``fn``'s machine code for ``sig`` (a load, not a
    compile)."""
    try:
        cache = fn._cache
        index = cache._cache_file._load_index()
        return cache._index_key(sig, fn.targetctx.codegen()) in index
    except Exception:
        return False


class Chunk:
    """A program compiled for one ``carry`` pattern: ``run(steps, var_bufs)`` as
    ``Program._run_many``, or None when this call's buffers do not fit (the caller then runs
    the Python program)."""

    def __init__(self, prog: Any, carry: dict[int, int]):
        r = _Renderer(prog)
        self.src = r.render(carry)
        self.prog = prog
        self.carried = r.carried
        self.baked = tuple(r.baked)
        #: the run-time sizes the source reads (``S``): widths, batch rows, offsets, GEMM
        #: dimensions, as recorded; the source itself holds none, so models of one structure
        #: and other sizes share one compiled chunk
        self.sizes = np.array(r.sizes, np.int64)
        self.host = r.host_arrays
        # what runs on the host per step, in order: host steps (with their first table), effects
        refreshes = set(r.refreshes)
        self.host_items = [
            (st, r.table_of.get(j))
            for j, st in enumerate(prog.steps)
            if type(st) is EffectStep or j in refreshes
        ]
        self.groups = r.groups
        self.arena_pools = arena.new_pools(r.groups)
        self.names = r.globals  # the kernels and BLAS functions the source calls
        self.lines = self.src.count("\n")
        self.module = _module_spec(self.src, r.globals)
        self.fn = _import(*self.module, r.globals)
        #: "now": compile (or load) at the first run; "background": a worker compiles it
        #: into numba's disk cache, runs return None until it is done
        self.mode = "now"
        # compiled runs to time for the saving records: the 2nd to 4th (the first pays for
        # first-touch page faults and dispatch; one record per run, the median is used)
        self._measure = 4
        self.compiled = False  # the machine code is in this process
        self.failed: str | None = None  # why the chunk can never run (then never retried)
        self.worker: Any = None  # the background compile (a _Worker)

    def cached(self) -> bool:
        """True when numba's disk cache holds machine code for this chunk's source (a load,
        not a compile)."""
        try:
            return bool(self.fn._cache._cache_file._load_index())
        except Exception:
            return False

    def _ensure(self, args: tuple) -> bool:
        """Get the machine code for ``args`` into the process unless done: reuse it (already
        here), load it (in numba's disk cache) or, in ``"now"`` mode only, compile it. Else
        (``"background"`` mode, or machine code that is not on disk after all) a worker
        process compiles it and this returns False until the worker is done (or failed:
        ``failed`` says why); training never waits for a compiler."""
        if self.compiled:
            return True
        if self.failed is not None:
            return False
        if self.worker is not None and self.worker.running():
            return False
        sig = tuple(numba.typeof(a) for a in args)
        here = _in_process(self.fn, sig)
        if self.worker is not None:
            done = self.worker.poll()
            if done is None:
                return False
            if done is not True:
                self.failed = f"the background compile failed: {done}"
                _log.info("tensorweave: trace program not compiled: %s", self.failed)
                return False
            if not here and not _on_disk(self.fn, sig):
                self.failed = "the background compile left no machine code for this signature"
                _log.info("tensorweave: trace program not compiled: %s", self.failed)
                return False
        elif not here and (self.mode == "background" or not _on_disk(self.fn, sig)):
            if self.mode == "now" and (
                program.COMPILE_AFTER == 0 or "TENSORWEAVE_COMPILE_AFTER" in os.environ
            ):
                pass  # forced (tests, benchmarks): compile here, as before
            else:
                try:
                    self.worker = _Worker(self, sig)
                    events["background"] += 1
                except Exception as e:  # no worker: the Python program goes on
                    self.failed = f"the background compile could not start: {e}"
                    _log.info("tensorweave: trace program not compiled: %s", self.failed)
                return False
        kind = "reused" if here else "loaded" if _on_disk(self.fn, sig) else "compiled"
        what = {
            "reused": "reusing the compiled training loop",
            "loaded": "loading the compiled training loop",
            "compiled": "compiling the training loop",
        }[kind]
        t0 = time.perf_counter()
        with activity.working(what):
            self.fn.compile(sig)
        took = time.perf_counter() - t0
        self.compiled = True
        events[kind] += 1
        if kind != "reused":
            add_record("chunk_load" if kind == "loaded" else "chunk_compile", self.lines, took)
        _log.info(
            "tensorweave: %s %s (%d lines) took %.2f s", what, self.module[1], self.lines, took
        )
        return True

    def run(self, steps: Sequence[Sequence[Any]], var_bufs: Sequence[Any]) -> Any:
        """``Program.run_many`` for these buffers, or None when they do not fit."""
        prog = self.prog
        n = len(steps)
        offs = np.zeros((len(prog.arg_meta), n), np.int64)
        roots: list[np.ndarray] = []
        for i, (shape, dtype) in enumerate(prog.arg_meta):
            first = steps[0][i]
            if i in self.carried:
                root = _whole(first, shape, dtype)
            else:
                root, size = _root_of(first, dtype), int(np.prod(shape))
                if root is None:
                    return None
                for k in range(n):
                    o = _offset(root, steps[k][i], shape, dtype, size)
                    if o is None:
                        return None
                    offs[i, k] = o
            if root is None:
                return None
            roots.append(root)
        return self._execute(roots, offs, var_bufs, lambda: steps[-1])

    def run_rows(
        self,
        fixed: Sequence[Any],
        batched: Sequence[int],
        ranges: Sequence[tuple[int, int]],
        var_bufs: Sequence[Any],
    ) -> Any:
        """``Program.run_rows``: the rows are found by offset, no view is made per step."""
        prog = self.prog
        offs = np.zeros((len(prog.arg_meta), len(ranges)), np.int64)
        starts = np.array([r[0] for r in ranges], np.int64)
        lengths = np.array([r[1] - r[0] for r in ranges], np.int64)
        roots: list[np.ndarray] = []
        for i, (shape, dtype) in enumerate(prog.arg_meta):
            buf = fixed[i]
            if i in self.carried:
                root = _whole(buf, shape, dtype)
            elif i in batched:
                root = _root_of(buf, dtype)
                if root is None or not buf.flags.c_contiguous or buf.shape[1:] != shape[1:]:
                    return None
                if not shape or (lengths != shape[0]).any():
                    return None
                if starts.min() < 0 or starts.max() + shape[0] > buf.shape[0]:
                    return None
                base = _offset(root, buf, buf.shape, dtype, buf.size)
                if base is None:
                    return None
                offs[i] = base + starts * (buf.size // max(buf.shape[0], 1))
            else:
                root = _root_of(buf, dtype)
                o = None if root is None else _offset(root, buf, shape, dtype, buf.size)
                if o is None:
                    return None
                offs[i] = o
            if root is None:
                return None
            roots.append(root)

        def last() -> list:
            start, stop = ranges[-1]
            bufs = list(fixed)
            for i in batched:
                bufs[i] = fixed[i][start:stop]
            return bufs

        return self._execute(roots, offs, var_bufs, last)

    def _execute(
        self,
        roots: list[np.ndarray],
        offs: np.ndarray,
        var_bufs: Sequence[Any],
        last_args: Callable[[], Sequence[Any]],
    ) -> Any:
        if not self.compiled and (
            self.failed is not None or (self.worker is not None and self.worker.running())
        ):
            return None  # still compiling beside training (or never): the Python program runs
        prog = self.prog
        n = offs.shape[1]
        nargs = len(prog.arg_meta)
        d = list(roots)
        var_cur = []
        for (shape, dtype), b in zip(prog.var_meta, var_bufs, strict=True):
            if b.shape != shape or not b.flags.c_contiguous or b.dtype != dtype:
                b = np.ascontiguousarray(b, dtype=dtype).reshape(shape)
            var_cur.append(b)
            d.append(b.reshape(-1))
        pairs = []
        for pool in prog.pools:
            first_buf = free_buffer(pool.buffers)
            second = free_buffer(pool.buffers)
            pairs.append((first_buf, second))
            d += [first_buf.reshape(-1), second.reshape(-1)]
        del first_buf, second
        arenas = arena.fill(self.groups, var_cur, self.arena_pools)
        d += [a for roles in arenas for a in roles]
        if not self.compiled:  # once compiled, no signature to build per run
            # host tables have n rows; their types do not depend on n
            probe = tuple(np.empty((1, h.size), h.dtype) for h in self.host)
            parts0 = numba.get_num_threads()
            if not self._ensure((n, parts0, tuple(d), offs, self.baked, probe, self.sizes, *roots)):
                return None  # not ready: the Python program runs these steps
        if self._measure:
            t_run = time.perf_counter()
        # host effects and scalars of every step, in the program's order
        # (``HostStep.packed``, straight into the tables)
        tables = [np.empty((n, h.size), h.dtype) for h in self.host]
        items = self.host_items
        for k in range(n):
            for st, t in items:
                if t is None:
                    st.fn()
                    continue
                for values in st.packed():
                    tables[t][k] = values
                    t += 1
        if n:  # each launch's array holds the last step's values, as after HostStep.run
            for st, t in items:
                if t is not None:
                    for s in st.scalars:
                        np.copyto(s.values, tables[t][n - 1])
                        t += 1
        # OpenBLAS on one thread; large GEMMs and updates on numba's threads (P of them), or
        # all on one thread while another process holds a core (backends.cpu.native.threads)
        blas = CB.get_gemm()
        busy = T.load.free_cores() < (os.cpu_count() or 1) - 0.5
        parts = 1 if busy else numba.get_num_threads()
        threads = blas.get_threads()
        if threads > 1:
            blas.set_threads(1)
        try:
            self.fn(n, parts, tuple(d), offs, self.baked, tuple(tables), self.sizes, *roots)
        finally:
            if threads > 1:
                blas.set_threads(threads)
        d.clear()
        if self._measure:  # what a compiled step saves over the Python program, recorded
            self._measure -= 1
            py = prog.py_seconds / prog.py_steps if prog.py_steps else 0.0
            if py > 0 and n >= 8 and self._measure < 3:
                step = (time.perf_counter() - t_run) / n
                add_record("chunk_saving", self.lines, max(0.0, 1.0 - step / py))
        # the buffers the last step wrote, as the Python program would return them
        dyn: list[Any] = [None] * prog.nbases
        if any(type(s) is Dyn and s.base < nargs for s in prog.outs):
            args = last_args()
            for i in range(nargs):
                if i not in self.carried:
                    dyn[i] = args[i]
        last = (n - 1) % 2
        for pool, pair in zip(prog.pools, pairs, strict=True):
            dyn[pool.base] = pair[last]
        outs = [None if s is None else resolve(dyn, s) for s in prog.outs]
        final = {vi: resolve(dyn, s) for vi, s in prog.assign_specs()}
        for g, roles in zip(self.groups, arenas, strict=True):
            for m in g.members:
                for a, vi in zip(roles, m.vars, strict=True):
                    final[vi] = a[m.off : m.off + m.size].reshape(prog.var_meta[vi][0])
        return outs, list(final.items())


def _whole(buf: Any, shape: tuple, dtype: Any) -> np.ndarray | None:
    """A carried argument as a flat array, or None if it does not fit."""
    if not isinstance(buf, np.ndarray) or buf.dtype != dtype or buf.shape != shape:
        return None
    return buf.reshape(-1) if buf.flags.c_contiguous else None


def _root_of(buf: Any, dtype: Any) -> np.ndarray | None:
    """The flat memory ``buf`` lies in (its base array), or None if unusable."""
    if not isinstance(buf, np.ndarray) or buf.dtype != dtype:
        return None
    root = root_of(buf)
    if not root.flags.c_contiguous or root.dtype != dtype:
        return None
    return root.reshape(-1)


def _offset(root: np.ndarray, b: Any, shape: tuple, dtype: Any, size: int) -> int | None:
    """Element offset of the C-contiguous ``b`` (of ``shape``) in ``root``, or None."""
    if not isinstance(b, np.ndarray) or b.shape != shape or b.dtype != dtype:
        return None
    if not b.flags.c_contiguous:
        return None
    o = b.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    sz = root.itemsize
    if o % sz or not (0 <= o // sz <= root.size - size):
        return None
    return o // sz


def compile_program(prog: Any, carry: dict[int, int]) -> Chunk:
    """The chunk function of ``prog`` for this ``carry`` pattern; raises ``GiveUp``."""
    if any(type(st) is LiveStep for st in prog.steps):
        raise GiveUp("the step has a live op")
    try:
        return Chunk(prog, carry)
    except GiveUp:
        raise
    except Exception as e:  # numba typing or lowering: keep the Python program
        raise GiveUp(f"numba could not compile the chunk: {type(e).__name__}: {e}") from e


# --- the cost model -----------------------------------------------------------------------------
def _records(kind: str) -> list[dict[str, Any]]:
    return [r for r in read_records() if r.get("kind") == kind and r.get("size", 0) > 0]


def compile_estimate(lines: int, cached: bool) -> float:
    """Expected seconds to get a chunk of ``lines`` source lines into this process: a load
    when ``cached``, else a compile; from the recorded times of chunks of similar size (within
    2x; per line, scaled), else of any size, else the defaults."""
    recs = _records("chunk_load" if cached else "chunk_compile")
    if not recs:
        return DEFAULT_LOAD_S if cached else DEFAULT_COMPILE_S
    near = [r for r in recs if 0.5 <= r["size"] / max(lines, 1) <= 2.0] or recs
    return statistics.median(r["seconds"] / r["size"] for r in near) * max(lines, 1)


def saved_fraction() -> float:
    """The fraction of a Python-program step a compiled chunk saves: the median of the recorded
    measurements, ``SAVED_FRACTION`` before any."""
    recs = _records("chunk_saving")
    return statistics.median(r["seconds"] for r in recs) if recs else SAVED_FRACTION


class _Refused:
    """A compile the cost model said no to, with what it knew then."""

    __slots__ = ("steps_run", "left")

    def __init__(self, steps_run: int, left: int | None):
        self.steps_run, self.left = steps_run, left

    def stale(self, prog: Any) -> bool:
        """True when a new fit brought more steps, or the program has run twice as many."""
        new_fit = prog.steps_left is not None and (self.left is None or prog.steps_left > self.left)
        return new_fit or prog.steps_run >= 2 * max(self.steps_run, 1)


def decide(prog: Any, lines: int, cached: bool) -> tuple[bool, str]:
    """The cost model's answer for ``prog`` (module docstring): ``(compile?, the numbers)``."""
    per_step = prog.py_seconds / prog.py_steps if prog.py_steps else 0.0
    saved = per_step * saved_fraction()
    left = max(prog.steps_left or 0, prog.steps_run)
    cost = compile_estimate(lines, cached)
    # a compile runs beside training: its savings start once it is done
    during = 0.0 if cached or per_step <= 0 else cost / per_step
    counted = max(0.0, left - during)
    gain = counted * saved
    minus = f" - {min(during, left):.0f} run during the compile" if during else ""
    why = (
        f"({left} steps left{minus}) x {saved * 1e3:.3f} ms saved per step = {gain:.2f} s "
        f"{'>' if gain > cost else '<='} {cost:.2f} s expected to "
        f"{'load it' if cached else 'compile it'}"
    )
    return gain > cost, why


def chunk_for(prog: Any, carry: dict[int, int]) -> Chunk | None:
    """The compiled chunk ``prog`` should run for ``carry`` now, or None (run the Python
    program). Decides once per fit whether compiling pays off (``decide``), starts a
    background compile or loads a cached chunk, and swaps a finished one in; keeps its state
    in ``prog.chunks``."""
    key = tuple(sorted(carry.items()))
    hit = prog.chunks.get(key)
    if isinstance(hit, Chunk):
        if hit.failed is not None:
            prog.chunks[key] = hit.failed
            return None
        return hit
    if isinstance(hit, str) or (isinstance(hit, _Refused) and not hit.stale(prog)):
        return None
    try:
        chunk = compile_program(prog, carry)
    except GiveUp as e:
        prog.chunks[key] = str(e)
        _log.info("tensorweave: trace program not compiled: %s", e)
        return None
    if program.COMPILE_AFTER == 0 or "TENSORWEAVE_COMPILE_AFTER" in os.environ:
        prog.chunks[key] = chunk  # compiled without asking (tests, benchmarks): as before
        return chunk
    if chunk.fn.overloads:  # the same source (structure) already runs in this process: free
        _log.info("tensorweave: trace program reuses the training loop compiled in this process")
        prog.chunks[key] = chunk
        return chunk
    cached = chunk.cached()
    yes, why = decide(prog, chunk.lines, cached)
    if not yes:
        prog.chunks[key] = _Refused(prog.steps_run, prog.steps_left)
        _log.info("tensorweave: trace program not compiled: it does not pay off (%s)", why)
        return None
    _log.info(
        "tensorweave: trace program %s: %s",
        "loaded from the cache" if cached else "compiles in the background",
        why,
    )
    if not cached:
        chunk.mode = "background"
    prog.chunks[key] = chunk
    return chunk


# --- the background compile ---------------------------------------------------------------------
_workers: list[Any] = []


def _name_spec(v: Any) -> tuple:
    """How a worker process finds a global the chunk's source calls."""
    if _is_dispatcher(v):
        mod = v.py_func.__module__
        if mod.startswith("tw_split_"):
            return ("split", "f" if "sgemm" in mod else "d")
        if mod.startswith("tw_"):  # a generated module (fused kernels)
            return ("file", mod, v.py_func.__code__.co_filename, v.py_func.__name__)
        return ("module", mod, v.py_func.__qualname__)
    symbol = getattr(v, "symbol", None)
    if symbol is None:
        raise GiveUp(f"the chunk calls {v!r}, which a worker process cannot find")
    return ("blas", symbol)


def _resolve(spec: tuple) -> Any:
    import importlib
    import importlib.util

    kind = spec[0]
    if kind == "split":
        return CB.split_gemm(spec[1])
    if kind == "blas":
        fns = [f for f in CB.get_cblas().fns.values() if f.symbol == spec[1]]
        if len(fns) != 1:
            raise GiveUp(
                f"the chunk calls {spec[1]}, which this process's BLAS lacks ({CB.describe()})"
            )
        return fns[0]
    if kind == "file":
        _, mod, path, attr = spec
        module = sys.modules.get(mod)
        if module is None:
            loc = importlib.util.spec_from_file_location(mod, path)
            module = importlib.util.module_from_spec(loc)
            sys.modules[mod] = module
            loc.loader.exec_module(module)
        return getattr(module, attr)
    obj: Any = importlib.import_module(spec[1])
    for part in spec[2].split("."):
        obj = getattr(obj, part)
    return obj


class _Worker:
    """A process compiling one chunk for one signature into numba's disk cache."""

    def __init__(self, chunk: Chunk, sig: tuple):
        folder, name, text = chunk.module
        job = {
            "folder": folder,
            "name": name,
            "text": text,
            "names": {k: _name_spec(v) for k, v in chunk.names.items()},
            "sig": sig,
        }
        fd, self.job = tempfile.mkstemp(prefix="tw-compile-", suffix=".pkl")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(job, f)
        self.err = tempfile.TemporaryFile()
        root = os.path.dirname(os.path.dirname(os.path.abspath(backends.__file__)))
        env = child_env()  # os.environ and the numba cache folder this process uses
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        self.start = time.perf_counter()
        self.lines = chunk.lines
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from backends.cpu.steps.chunk import worker_main; worker_main()",
                self.job,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.err,
            env=env,
        )
        _workers.append(self)
        _log.info("tensorweave: compiling the training loop %s in the background", name)

    def running(self) -> bool:
        """True while the process runs."""
        return self.proc.poll() is None

    def poll(self) -> bool | str | None:
        """None while it runs, True when done, else why it failed."""
        rc = self.proc.poll()
        if rc is None:
            return None
        if self in _workers:
            _workers.remove(self)
        with _suppress():
            os.unlink(self.job)
        if rc == 0:
            took = time.perf_counter() - self.start
            add_record("chunk_compile", self.lines, took)
            _log.info("tensorweave: background compile done in %.1f s", took)
            return True
        self.err.seek(0)
        tail = self.err.read().decode(errors="replace").strip().splitlines()[-1:]
        return f"exit status {rc}: {tail[0] if tail else 'no message'}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        with _suppress():
            os.unlink(self.job)


def _suppress() -> Any:
    return contextlib.suppress(OSError)


#: Longest a background compile may run (seconds): the worker ends itself after it.
WORKER_LIMIT_S = 600


def _stop_workers() -> None:
    """At exit: a compile still running finishes into numba's disk cache for the next process
    (at the lowest priority, for at most ``WORKER_LIMIT_S``; a short script's compile then
    serves the next run), unless ``TENSORWEAVE_TIERS_DRAIN`` is 0: then it is stopped."""
    from backends.cpu import tiers

    if tiers.drain_seconds() > 0:
        return
    for w in list(_workers):
        w.stop()


atexit.register(_stop_workers)


def worker_main() -> None:
    """Entry point of the background compile (``python -c``): compile one chunk for one
    signature; numba saves the machine code in its disk cache."""
    with open(sys.argv[1], "rb") as f:
        job = pickle.load(f)
    with _suppress():
        os.unlink(sys.argv[1])  # read: the parent may exit before this compile ends
    with _suppress():
        os.nice(NICE)  # training in the parent goes first
    if hasattr(signal, "alarm"):
        signal.alarm(WORKER_LIMIT_S)  # never outlive a stuck compile by long
    names = {k: _resolve(spec) for k, spec in job["names"].items()}
    module = fusion.load_module(job["folder"], job["name"], job["text"], names)
    module.chunk.compile(job["sig"])
