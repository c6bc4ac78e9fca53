"""Tensor and Variable: a shape, a dtype and a buffer on one backend."""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine import memory, registry

_ids = itertools.count(1)

#: Active ``engine.trace`` recorders (innermost last): told of host reads, variable creation
#: and assignments. ``engine.dispatch.recorders`` is this stack; one per thread.
recorders = memory.ThreadStack(memory.HOOKS)


class Tensor:
    """An immutable n-d array living on one backend (TF.js ``tf.Tensor``).

    Make tensors with ``tw.tensor`` and the other ops; each op returns a new tensor. Python
    operators (``+ - * / // % ** @``, comparisons, ``[]`` indexing) call the engine ops.
    ``shape`` (a tuple), ``dtype`` (a string), ``rank``, ``size`` and ``backend`` describe it;
    ``numpy()`` reads the values back.

    numpy interop: ``np.asarray(t)`` copies the values to the host. A numpy ufunc with an
    engine equivalent (``np.add``, ``np.multiply``, ``np.exp``, ``np.log``, ``np.maximum``,
    comparisons, ...), called plainly (no ``out=`` or other keyword) on Tensors, scalars and
    numpy arrays, runs as the engine op and returns a Tensor, so gradients flow through it;
    so do ``np.sum``/``mean``/``max``/``min``/``prod``/``any``/``all``/``var``/``std``,
    ``argmax``/``argmin``, ``reshape``, ``transpose``, ``concatenate``, ``stack``, ``dot``,
    ``where``, ``clip``, ``round``, ``expand_dims``, ``squeeze``, ``cumsum``,
    ``broadcast_to`` and ``outer`` when their arguments mean the same to the engine op. Every
    other numpy call (unmapped functions, ``np.add.reduce`` and the other ufunc methods,
    ``out=``, ``dtype=``, ``where=``, lists among the operands) converts the Tensors to arrays
    and returns numpy's result. Engine results keep the engine's dtypes (float64 arrays meet
    float32 tensors as float32). Tensors are immutable: ``out=`` naming a Tensor and
    ``ufunc.at`` on one raise TypeError. The tables are in ``engine._numpy_protocol``.

    Args:
        storage: The buffer and the backend it lives on (internal: ops make tensors).
        shape: The shape.
        dtype: ``"float32"``, ``"int32"``, ``"bool"`` or ``"float64"``.

    Example:

    >>> x = tw.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> (x * 2 + 1).tolist()
    [[3.0, 5.0], [7.0, 9.0]]
    >>> x.shape, x.dtype, x.rank, x.size
    ((2, 2), 'float32', 2, 4)
    >>> np.exp(x).backend == x.backend, np.sum(x, axis=0).tolist()
    (True, [4.0, 6.0])
    >>> np.add.reduce(x, axis=0)  # not mapped: numpy's result
    array([4., 6.], dtype=float32)
    """

    __slots__ = ("_storage", "shape", "dtype", "id", "_kept", "__weakref__")
    __array_priority__ = 100  # numpy defers to our operators

    def __init__(self, storage: memory.Storage, shape: tuple[int, ...], dtype: str):
        self._storage = storage
        self.shape = shape
        self.dtype = dtype
        self.id = next(_ids)
        self._kept = False
        memory.count_tensor(storage.backend, 1)
        memory.track(self)

    def __del__(self):
        s = self._storage
        if s is not None:
            memory.count_tensor(s.backend, -1)

    # --- data -----------------------------------------------------------------------------
    @property
    def backend(self) -> str:
        """The name of the backend holding the data (``"cpu"``, ``"numpy"``, ...)."""
        return self._live().backend

    @property
    def rank(self) -> int:
        """The number of axes (TF.js ``rank``)."""
        return len(self.shape)

    @property
    def ndim(self) -> int:
        """The number of axes (numpy's name for ``rank``)."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """The number of elements."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def is_disposed(self) -> bool:
        """Whether ``dispose`` (or a ``tidy`` scope) has freed the data."""
        return self._storage is None

    def _live(self) -> memory.Storage:
        s = self._storage
        if s is None:
            raise RuntimeError(
                f"tensor {self.id} (shape {self.shape}, {self.dtype}) was disposed; "
                "use engine.keep(t) to keep it past a tidy scope"
            )
        return s

    def buffer_on(self, backend_name: str) -> Any:
        """This tensor's buffer on ``backend_name``, moving the data there first if needed.

        Args:
            backend_name: A registered backend's name.

        Returns:
            The backend's buffer object (a numpy array, a device buffer, ...).

        Raises:
            TypeError: A float64 (float16) tensor would move to a backend without float64
                (float16).
        """
        s = self._live()
        if s.backend != backend_name:
            if self.dtype in ("float64", "float16"):
                from engine.ops.core import check_dtype_supported

                check_dtype_supported(self.dtype, "moving a tensor", backend_name)
            host = registry.instance_of(s.backend).to_numpy(s.buf, self.shape, self.dtype)
            target = registry.instance_of(backend_name)
            buf = target.from_numpy(np.array(host, order="C").reshape(self.shape))
            memory.count_tensor(s.backend, -1)
            memory.count_tensor(backend_name, 1)
            self._storage = memory.Storage(buf, backend_name, target.nbytes(buf))
            memory.count_move()
            return buf
        return s.buf

    def numpy(self) -> np.ndarray:
        """A host copy of the values (TF.js ``dataSync``; also ``data_sync``, ``array_sync``).

        Returns:
            A numpy array of the tensor's shape and dtype.

        Example:

        >>> tw.tensor([1, 2], dtype="int32").numpy()
        array([1, 2], dtype=int32)
        """
        s = self._live()
        if recorders:
            recorders[-1].host_read(self)
        out = registry.instance_of(s.backend).to_numpy(s.buf, self.shape, self.dtype)
        return np.asarray(out).reshape(self.shape)

    data_sync = numpy
    array_sync = numpy

    def tolist(self) -> Any:
        """The values as nested Python lists (TF.js ``arraySync``; also ``array``).

        Returns:
            Nested lists of Python floats, ints or bools (a scalar for rank 0).
        """
        return self.numpy().tolist()

    array = tolist

    def item(self) -> Any:
        """The one value of a one-element tensor, as a Python scalar.

        Returns:
            A float, int or bool.

        Raises:
            ValueError: The tensor has more than one element.
        """
        if self.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.numpy().reshape(()).item()

    def __array__(self, dtype=None, copy=None):
        out = self.numpy()
        return out if dtype is None else out.astype(dtype)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        from engine import _numpy_protocol

        return _numpy_protocol.array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        from engine import _numpy_protocol

        return _numpy_protocol.array_function(func, args, kwargs)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError(
                f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                "use engine.any(t) or engine.all(t)"
            )
        return bool(self.item())

    def __index__(self) -> int:
        if self.dtype != "int32":
            raise TypeError(f"only int32 tensors can be used as an index, got {self.dtype}")
        return int(self.item())

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a scalar tensor")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a scalar tensor")
        from engine import ops

        return iter(ops.unstack(self, 0))

    def __repr__(self) -> str:
        if self._storage is None:
            return f"Tensor(<disposed>, shape={self.shape}, dtype={self.dtype})"
        values = np.array2string(self.numpy(), separator=", ", threshold=20)
        return f"Tensor({values}, shape={self.shape}, dtype={self.dtype}, backend={self.backend})"

    def dispose(self) -> None:
        """Free the buffer now (TF.js ``dispose``); using the tensor afterwards raises."""
        s = self._storage
        if s is not None:
            self._storage = None
            memory.count_tensor(s.backend, -1)

    def clone(self) -> Tensor:
        """A new tensor with the same values (TF.js ``clone``).

        Returns:
            The copy.
        """
        from engine import ops

        return ops.identity(self)

    # --- operators (implemented in engine.ops) ----------------------------------------------
    def __add__(self, o):
        return _ops().add(self, o)

    def __radd__(self, o):
        return _ops().add(o, self)

    def __sub__(self, o):
        return _ops().sub(self, o)

    def __rsub__(self, o):
        return _ops().sub(o, self)

    def __mul__(self, o):
        return _ops().mul(self, o)

    def __rmul__(self, o):
        return _ops().mul(o, self)

    def __truediv__(self, o):
        return _ops().div(self, o)

    def __rtruediv__(self, o):
        return _ops().div(o, self)

    def __floordiv__(self, o):
        return _ops().floor_div(self, o)

    def __rfloordiv__(self, o):
        return _ops().floor_div(o, self)

    def __mod__(self, o):
        return _ops().mod(self, o)

    def __rmod__(self, o):
        return _ops().mod(o, self)

    def __pow__(self, o):
        return _ops().pow(self, o)

    def __rpow__(self, o):
        return _ops().pow(o, self)

    def __matmul__(self, o):
        return _ops().matmul(self, o)

    def __rmatmul__(self, o):
        return _ops().matmul(o, self)

    def __neg__(self):
        return _ops().neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops().abs(self)

    def __invert__(self):
        return _ops().logical_not(self)

    def __and__(self, o):
        return _ops().logical_and(self, o)

    def __or__(self, o):
        return _ops().logical_or(self, o)

    def __xor__(self, o):
        return _ops().logical_xor(self, o)

    def __lt__(self, o):
        return _ops().less(self, o)

    def __le__(self, o):
        return _ops().less_equal(self, o)

    def __gt__(self, o):
        return _ops().greater(self, o)

    def __ge__(self, o):
        return _ops().greater_equal(self, o)

    def __eq__(self, o):  # elementwise, as numpy
        return _ops().equal(self, o)

    def __ne__(self, o):
        return _ops().not_equal(self, o)

    __hash__ = object.__hash__

    def __getitem__(self, index):
        return _ops().strided_slice_index(self, index)

    # --- common method forms ------------------------------------------------------------------
    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        """``tw.reshape(self, shape)``; the shape as one sequence or as separate ints.

        Args:
            *shape: The new shape (one dimension may be -1).

        Returns:
            The reshaped tensor.
        """
        if len(shape) == 1 and isinstance(shape[0], (list, tuple)):
            shape = shape[0]
        return _ops().reshape(self, shape)

    def transpose(self, perm: Sequence[int] | None = None) -> Tensor:
        """``tw.transpose(self, perm)``.

        Args:
            perm: The permutation of the axes (default: reversed).

        Returns:
            The transposed tensor.
        """
        return _ops().transpose(self, perm)

    @property
    def T(self) -> Tensor:
        """The transpose with the axes reversed."""
        return _ops().transpose(self)

    def astype(self, dtype: str) -> Tensor:
        """``tw.cast(self, dtype)``.

        Args:
            dtype: The target dtype.

        Returns:
            The converted tensor.
        """
        return _ops().cast(self, dtype)

    def sum(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """``tw.sum(self, axis, keepdims)``.

        Args:
            axis: The axis or axes to reduce (default all).
            keepdims: Keep reduced axes with size 1.

        Returns:
            The sums.
        """
        return _ops().sum(self, axis, keepdims)

    def mean(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """``tw.mean(self, axis, keepdims)``.

        Args:
            axis: The axis or axes to reduce (default all).
            keepdims: Keep reduced axes with size 1.

        Returns:
            The means.
        """
        return _ops().mean(self, axis, keepdims)

    def max(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """``tw.max(self, axis, keepdims)``.

        Args:
            axis: The axis or axes to reduce (default all).
            keepdims: Keep reduced axes with size 1.

        Returns:
            The maxima.
        """
        return _ops().max(self, axis, keepdims)

    def min(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """``tw.min(self, axis, keepdims)``.

        Args:
            axis: The axis or axes to reduce (default all).
            keepdims: Keep reduced axes with size 1.

        Returns:
            The minima.
        """
        return _ops().min(self, axis, keepdims)

    def argmax(self, axis: int | None = None) -> Tensor:
        """``tw.argmax(self, axis)``.

        Args:
            axis: The axis to search (default as ``tw.argmax``).

        Returns:
            An int32 tensor of indices.
        """
        return _ops().argmax(self, axis)

    def flatten(self) -> Tensor:
        """The values as a 1-D tensor.

        Returns:
            ``self.reshape(-1)``.
        """
        return _ops().reshape(self, (-1,))


class Variable(Tensor):
    """A mutable tensor: ``assign`` replaces its value. Trainable ones get gradients.

    Make one with ``tw.variable``; layer weights are variables. Variables outlive ``tidy``
    scopes, as in TF.js.

    Args:
        storage: The initial buffer (internal; use ``tw.variable``).
        shape: The shape.
        dtype: The dtype.
        trainable: Whether gradients and optimizers consider it.
        name: Its name (a unique default otherwise).
    """

    __slots__ = ("trainable", "name")
    _names = itertools.count(1)

    def __init__(self, storage, shape, dtype, trainable: bool = True, name: str | None = None):
        super().__init__(storage, shape, dtype)
        self._kept = True  # variables outlive tidy scopes, as in TF.js
        self.trainable = trainable
        self.name = name or f"Variable{next(Variable._names)}"
        _variables.setdefault(self.name, weakref.WeakSet()).add(self)
        if recorders:
            recorders[-1].variable_created(self)

    def assign(self, value: Any) -> Variable:
        """Replace the value (TF.js ``assign``); shape and dtype must match.

        Args:
            value: A Tensor, or host values (converted to the variable's dtype).

        Returns:
            The variable itself.

        Raises:
            ValueError: The shape or dtype differs.

        Example:

        >>> v = tw.variable(tw.zeros([2]))
        >>> v.assign([1, 2]).tolist()
        [1.0, 2.0]
        """
        from engine import ops

        if not isinstance(value, Tensor):  # host values take the variable's dtype
            value = ops.tensor(value, dtype=self.dtype)
        if value.shape != self.shape or value.dtype != self.dtype:
            raise ValueError(
                f"Variable {self.name!r}.assign: expected shape {self.shape} {self.dtype}, "
                f"got shape {value.shape} {value.dtype}"
            )
        s = value._live()
        old = self._live()
        if old.backend != s.backend:
            memory.count_tensor(old.backend, -1)
            memory.count_tensor(s.backend, 1)
        self._storage = s
        if recorders:
            recorders[-1].assign(self, value)
        return self

    def dispose(self) -> None:
        """Free the variable's buffer now; using it afterwards raises."""
        super().dispose()

    def __repr__(self) -> str:
        return f"Variable({self.name!r}, " + super().__repr__()[7:]


class ComplexTensor(Tensor):
    """A complex64 tensor (TF.js ``complex64``): two float32 tensors of one shape, ``real`` and
    ``imag``, behind a Tensor face with ``dtype == "complex64"``.

    Make one with ``tw.complex(real, imag)`` or ``tw.tensor(<complex numpy array>)``. Backends
    never see complex data: the ops that take complex64 (``tw.spectral``, ``tw.signal.stft``,
    ``add``/``sub``/``mul``/``div``/``neg``/``abs``, ``real``/``imag``/``conj``, ``cast``,
    ``reshape``/``transpose``/``slice``/``concat``/``stack``, indexing) work on the two parts
    with the ordinary float32 kernels, so they run on every backend and gradients flow
    through the parts. Any other op raises a ``TypeError`` naming complex64. ``numpy()``
    gives a numpy complex64 array. ``tw.memory()`` counts the two parts.

    Args:
        real: The real parts (float32).
        imag: The imaginary parts (float32, the same shape and backend).
    """

    __slots__ = ("real", "imag")

    def __init__(self, real: Tensor, imag: Tensor):
        self._storage = None  # the data lives in the two parts
        self.real = real
        self.imag = imag
        self.shape = real.shape
        self.dtype = "complex64"
        self.id = next(_ids)

    def __del__(self):
        pass

    @property
    def _kept(self) -> bool:  # engine.keep(z) keeps both parts past tidy scopes
        return self.real._kept and self.imag._kept

    @_kept.setter
    def _kept(self, value: bool) -> None:
        self.real._kept = value
        self.imag._kept = value

    @property
    def backend(self) -> str:
        """The name of the backend holding the parts."""
        return self.real.backend

    @property
    def is_disposed(self) -> bool:
        """Whether either part was freed (``dispose`` or a ``tidy`` scope)."""
        return self.real.is_disposed or self.imag.is_disposed

    def _live(self) -> memory.Storage:
        self.real._live()
        self.imag._live()
        raise TypeError(
            f"this op does not support complex64 (tensor {self.id}, shape {self.shape}); "
            "complex64 tensors go to tw.spectral.*, tw.signal.stft, add/sub/mul/div/neg/abs, "
            "real/imag/conj, cast, reshape/transpose/slice/concat/stack and indexing: take "
            "tw.real(z) and tw.imag(z) (or tw.abs(z)) for the others"
        )

    def buffer_on(self, backend_name: str) -> Any:
        """Raises ``TypeError``: a complex64 tensor has no single buffer (kernels take
        ``real`` and ``imag``)."""
        return self._live()

    def numpy(self) -> np.ndarray:
        """A host copy of the values as a numpy complex64 array."""
        out = np.empty(self.shape, np.complex64)
        out.real = self.real.numpy()
        out.imag = self.imag.numpy()
        return out

    data_sync = numpy
    array_sync = numpy

    def dispose(self) -> None:
        """Free both parts now; using the tensor afterwards raises."""
        self.real.dispose()
        self.imag.dispose()

    def __repr__(self) -> str:
        if self.is_disposed:
            return f"Tensor(<disposed>, shape={self.shape}, dtype=complex64)"
        values = np.array2string(self.numpy(), separator=", ", threshold=20)
        return f"Tensor({values}, shape={self.shape}, dtype=complex64, backend={self.backend})"

    def __getitem__(self, index):
        return ComplexTensor(self.real[index], self.imag[index])

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a scalar tensor")
        return (self[i] for i in range(self.shape[0]))

    def conj(self) -> ComplexTensor:
        """The complex conjugate (``tw.conj``)."""
        return _ops().conj(self)


# name -> the live variables of that name (names are unique in practice; loading a model twice
# can repeat them, so lookups say when a name is ambiguous).
_variables: dict[str, weakref.WeakSet] = {}


def find_variables(name: str) -> list[Variable]:
    """The live, undisposed variables named ``name``."""
    found = _variables.get(name)
    return [v for v in found if not v.is_disposed] if found else []


def _ops():
    from engine import ops

    return ops
