"""Layer base class, symbolic tensors, graph nodes, the input layer and the class registry.

A layer is built lazily from the first input shape it sees. Called on engine tensors (or numpy)
it computes; called on :class:`SymbolicTensor` objects (from :func:`input`) it records a graph
node and returns symbolic outputs, which :func:`layers.model` turns into a model.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import Any

import numpy as np

import engine as tw
from engine import Tensor, Variable
from engine.dtypes import as_int
from engine.hints import did_you_mean
from layers import constraints as _constraints
from layers import initializers as _initializers
from layers import mixed_precision as _mixed_precision
from layers import regularizers as _regularizers
from layers.utils import Shape, normalize_shape, reserve_name, to_snake_case, unique_name

#: class name ("Dense", "Conv2D", ...) -> Layer subclass, for loaders and ``from_config``.
LAYER_CLASSES: dict[str, type] = {}
#: Set while a model is built from an untrusted file (``layers.saving.load_model``): called as
#: ``guard(layer, name, shape, dtype)`` before each weight is allocated; it raises to refuse.
WEIGHT_GUARD: ContextVar[Callable[[Any, str, tuple[int, ...], str], None] | None] = ContextVar(
    "WEIGHT_GUARD", default=None
)


def register_layer(cls: type, name: str | None = None) -> type:
    """Register a layer class so configs and saved models naming it can be loaded.

    Subclasses of ``Layer`` register themselves under their class name; call this for an alias
    or a class defined elsewhere.

    Args:
        cls: The ``Layer`` subclass.
        name: The ``class_name`` to register it under (default ``cls.__name__``).

    Returns:
        ``cls`` itself, so this works as a decorator.
    """
    LAYER_CLASSES[name or cls.__name__] = cls
    return cls


def get_layer_class(class_name: str) -> type:
    """The registered layer class called ``class_name``.

    Args:
        class_name: A registered class name (``"Dense"``, ``"Conv2D"``, an alias ...).

    Returns:
        The ``Layer`` subclass.

    Raises:
        ValueError: No class of that name is registered (the message lists the known ones).
    """
    try:
        return LAYER_CLASSES[class_name]
    except KeyError:
        hint = did_you_mean(class_name, LAYER_CLASSES)
        raise ValueError(
            f"unknown layer class {class_name!r}{hint}; known: {', '.join(sorted(LAYER_CLASSES))}"
        ) from None


class SymbolicTensor:
    """A placeholder flowing through layer calls: a shape (None = unknown) and where it came from.

    Made by ``layers.input()`` and by calling a layer on symbolic tensors; used to build a
    functional ``layers.model``. It holds no values.

    Args:
        shape: The shape, batch dimension first; ``None`` marks an unknown size.
        dtype: The dtype of the values it stands for.
        layer: The layer whose call produced it.
        node_index: Which call of ``layer`` produced it.
        tensor_index: Which output of that call it is.
        name: A readable name.
    """

    def __init__(
        self, shape: Shape, dtype: str, layer: Layer, node_index: int, tensor_index: int, name: str
    ):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.layer = layer
        self.node_index = node_index
        self.tensor_index = tensor_index
        self.name = name

    @property
    def rank(self) -> int:
        """The number of axes, batch included."""
        return len(self.shape)

    @property
    def node(self) -> Node:
        """The layer call that produced this tensor."""
        return self.layer._inbound_nodes[self.node_index]

    def __repr__(self) -> str:
        return f"SymbolicTensor(name={self.name!r}, shape={self.shape}, dtype={self.dtype})"


class Node:
    """One call of ``layer`` on symbolic ``inputs`` producing ``outputs``."""

    def __init__(self, layer: Layer, inputs: list[SymbolicTensor], single: bool, kwargs: dict):
        self.layer = layer
        self.inputs = inputs
        self.single = single  # the layer was called with one tensor, not a list
        self.kwargs = kwargs
        self.outputs: list[SymbolicTensor] = []


class _WeightEntry:
    __slots__ = ("var", "short_name", "trainable", "regularizer", "constraint")

    def __init__(self, var, short_name, trainable, regularizer, constraint):
        self.var = var
        self.short_name = short_name
        self.trainable = trainable
        self.regularizer = regularizer
        self.constraint = constraint


def _to_tensor(x: Any) -> Tensor:
    if isinstance(x, Tensor):
        return x
    arr = np.asarray(x)
    if arr.dtype.kind in "iub":
        return tw.tensor(arr, dtype="int32" if arr.dtype.kind != "b" else "bool")
    return tw.tensor(arr, dtype="float32")


class Layer:
    """Base of every layer and model (TF.js ``tf.layers.Layer``).

    Subclasses implement ``build`` (create weights with ``add_weight``), ``call``,
    ``compute_output_shape`` and ``get_config``. Calling a layer on Tensors / arrays runs it
    eagerly; calling it on ``SymbolicTensor``s records a node of a functional model. Every
    layer accepts the arguments below as keywords; unknown keywords raise ``TypeError``
    naming the closest accepted one.

    Args:
        name: The layer's name, unique in the process (default as TF.js: ``dense_Dense1``,
            ``dense_Dense2``, ...).
        trainable: Whether ``fit`` updates its weights.
        input_shape: The input shape without the batch dimension, for the first layer of a
            model (``[784]``).
        batch_input_shape: The input shape with the batch dimension (may be ``None``).
        input_dim: Shorthand for ``input_shape=[input_dim]``.
        batch_size: The batch size fixed in the model's input shape (default ``None``).
        dtype: The layer's dtype policy (``layers.mixed_precision``): a ``DTypePolicy`` or a
            name, ``"float32"`` or ``"mixed_float16"`` (compute in float16, float32 weights;
            backends with float16 only), or a plain dtype. Default: the global policy
            (``mixed_precision.set_global_policy``), ``"float32"`` unless changed.
        weights: Initial weight values, assigned when the layer is built.
    """

    #: ``check_input_shape`` rules, set by subclasses: exact rank, minimum rank (batch included).
    ndim: int | None = None
    min_ndim: int | None = None
    supports_masking = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            register_layer(cls)

    def __init__(
        self,
        name: str | None = None,
        trainable: bool = True,
        input_shape: Sequence[int | None] | None = None,
        batch_input_shape: Sequence[int | None] | None = None,
        input_dim: int | None = None,
        batch_size: int | None = None,
        dtype: str | None = None,
        weights: list | None = None,
        **kwargs: Any,
    ):
        if kwargs:
            accepted = {
                p
                for klass in type(self).__mro__
                if "__init__" in vars(klass) and klass is not object
                for p in inspect.signature(vars(klass)["__init__"]).parameters
                if p not in ("self", "kwargs", "args")
            }
            hints = [m for k in kwargs for m in difflib.get_close_matches(k, accepted, 1)]
            hint = f" (did you mean {', '.join(repr(h) for h in hints)}?)" if hints else ""
            raise TypeError(
                f"{type(self).__name__}: unknown argument(s) {sorted(kwargs)}{hint}; "
                f"accepted: {', '.join(sorted(accepted))}"
            )
        where = type(self).__name__
        # complex, float16 policies and mixed_float16 without backend float16 raise here
        policy = _mixed_precision.get(dtype)
        _mixed_precision.check_supported(policy, f"{where} layer")
        batch_size = as_int(batch_size, f"{where}: batch_size", minimum=1, allow_none=True)
        input_dim = as_int(input_dim, f"{where}: input_dim", minimum=1, allow_none=True)
        shape_arg = batch_input_shape if batch_input_shape is not None else input_shape
        shape_arg = None if shape_arg is None else normalize_shape(shape_arg)
        cls_name = self.class_name
        if name is None:
            name = unique_name(f"{to_snake_case(cls_name)}_{cls_name}")
        elif not isinstance(name, str) or not name:
            raise TypeError(f"{type(self).__name__}: name must be a non-empty string, got {name!r}")
        else:
            reserve_name(name)
        self.name = name
        self._trainable = bool(trainable)
        self.built = False
        self._entries: list[_WeightEntry] = []
        self._sublayers: list[Layer] = []
        self._inbound_nodes: list[Node] = []
        self._activity_losses: list[Tensor] = []
        self.activity_regularizer = None
        self._dtype_policy = policy
        self.dtype = policy.variable_dtype
        if batch_input_shape is not None:
            self._batch_input_shape = shape_arg
        elif input_shape is not None:
            self._batch_input_shape = (batch_size,) + shape_arg
        elif input_dim is not None:
            self._batch_input_shape = (batch_size, input_dim)
        else:
            self._batch_input_shape = None
        self._initial_weights = weights
        self._input_axes: dict[int, int] = {}

    # --- identity -------------------------------------------------------------------------------
    @property
    def class_name(self) -> str:
        """The class name Keras/TF.js JSON records (``"Dense"``)."""
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{self.class_name} name={self.name!r} built={self.built}>"

    # --- dtype policy -------------------------------------------------------------------------------
    @property
    def dtype_policy(self) -> _mixed_precision.DTypePolicy:
        """The layer's ``layers.mixed_precision.DTypePolicy`` (``dtype`` is its variable dtype)."""
        return self.__dict__.get("_dtype_policy") or _mixed_precision.DTypePolicy(self.dtype)

    @property
    def compute_dtype(self) -> str:
        """The dtype the layer computes in (``"float16"`` under ``mixed_float16``)."""
        return self.dtype_policy.compute_dtype

    # --- weights ----------------------------------------------------------------------------------
    @property
    def trainable(self) -> bool:
        """Whether ``fit`` updates the weights (settable; freezes nested layers too)."""
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for e in self._entries:
            e.var.trainable = self._trainable and e.trainable
        for sub in self._sublayers:
            sub.trainable = value

    def add_weight(
        self,
        name: str,
        shape: Sequence[int],
        initializer: Any = "glorotUniform",
        dtype: str = "float32",
        trainable: bool = True,
        regularizer: Any = None,
        constraint: Any = None,
    ) -> Variable:
        """Create a weight ``<layer name>/<name>`` and track it (call from ``build``).

        Args:
            name: The weight's name inside the layer (``"kernel"``, ``"bias"``).
            shape: Its shape.
            initializer: An initializer name (``"glorotUniform"``, ``"zeros"``, ...), config
                or instance from ``layers.initializers``.
            dtype: Its dtype.
            trainable: Whether the optimizer updates it.
            regularizer: A ``layers.regularizers`` penalty added to the training loss.
            constraint: A ``layers.constraints`` projection applied after each update.

        Returns:
            The new ``engine.Variable``.
        """
        init = _initializers.get(initializer)
        shape = tuple(int(s) for s in shape)
        guard = WEIGHT_GUARD.get()
        if guard is not None:
            guard(self, name, shape, dtype)
        value = init(shape, dtype)
        var = tw.variable(
            value, trainable=trainable and self._trainable, name=f"{self.name}/{name}"
        )
        self._entries.append(
            _WeightEntry(
                var, name, trainable, _regularizers.get(regularizer), _constraints.get(constraint)
            )
        )
        return var

    def _all_entries(self) -> list[_WeightEntry]:
        out, seen = [], set()
        for e in self._entries:
            out.append(e)
            seen.add(id(e))
        for sub in self._sublayers:
            for e in sub._all_entries():
                if id(e) not in seen:
                    seen.add(id(e))
                    out.append(e)
        return out

    @property
    def trainable_weights(self) -> list[Variable]:
        """The variables the optimizer updates (empty when ``trainable`` is False)."""
        if not self._trainable:
            return []
        out = [e.var for e in self._entries if e.trainable]
        seen = {id(v) for v in out}
        for sub in self._sublayers:
            for v in sub.trainable_weights:
                if id(v) not in seen:
                    seen.add(id(v))
                    out.append(v)
        return out

    @property
    def non_trainable_weights(self) -> list[Variable]:
        """The other variables (batch-norm moving statistics, frozen weights)."""
        train = {id(v) for v in self.trainable_weights}
        return [e.var for e in self._all_entries() if id(e.var) not in train]

    @property
    def weights(self) -> list[Variable]:
        """Trainable weights, then non-trainable ones (TF.js and Keras order)."""
        return self.trainable_weights + self.non_trainable_weights

    def get_weights(self) -> list[np.ndarray]:
        """The current values of ``weights`` as host arrays (TF.js ``getWeights``).

        Returns:
            One numpy array per weight: trainable ones first, then non-trainable ones.

        Example:

        >>> d = layers.dense(units=2, input_shape=[3])
        >>> m = layers.sequential([d])
        >>> [w.shape for w in d.get_weights()]
        [(3, 2), (2,)]
        """
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Assign new values to the weights (TF.js ``setWeights``).

        The count and every shape are checked before anything changes.

        Args:
            weights: One array, Tensor or nested list per weight, in ``weights`` order (as
                ``get_weights`` returns them).

        Raises:
            ValueError: The count or a shape does not match.
        """
        own = self.weights
        weights = list(weights)
        if len(weights) != len(own):
            raise ValueError(
                f"{self.name}.set_weights: expected {len(own)} arrays "
                f"({', '.join(f'{w.name} {w.shape}' for w in own) or 'none'}), got {len(weights)}"
            )
        values = []
        for w, v in zip(own, weights, strict=False):
            arr = v.numpy() if isinstance(v, Tensor) else np.asarray(v)
            if tuple(arr.shape) != tuple(w.shape):
                raise ValueError(
                    f"{self.name}.set_weights: weight {w.name!r} has shape {w.shape}, got an array of shape {tuple(arr.shape)}"
                )
            values.append(arr)
        for w, arr in zip(own, values, strict=False):
            w.assign(tw.tensor(arr, dtype=w.dtype))

    def count_params(self) -> int:
        """The number of scalar values in all weights (trainable and not).

        Returns:
            The total size of ``weights``.
        """
        return int(sum(w.size for w in self.weights))

    def regularization_losses(self) -> list[Tensor]:
        """The regularisation penalties that ``fit`` adds to the loss.

        Returns:
            Scalar Tensors: one per regularized weight (from its current value), plus the
            activity penalties of the last call.
        """
        out = [e.regularizer(e.var) for e in self._all_entries() if e.regularizer is not None]
        for layer in self._walk():
            out.extend(layer._activity_losses)
        return out

    def _walk(self) -> list[Layer]:
        """This layer and every layer nested in it, each once."""
        out, seen, todo = [], set(), [self]
        while todo:
            layer = todo.pop(0)
            if id(layer) not in seen:
                seen.add(id(layer))
                out.append(layer)
                todo.extend(layer._sublayers)
        return out

    @property
    def losses(self) -> list[Tensor]:
        """The current regularisation penalties (``regularization_losses()``)."""
        return self.regularization_losses()

    def apply_constraints(self) -> None:
        """Project each constrained weight (called after each optimizer update)."""
        for e in self._all_entries():
            if e.constraint is not None:
                e.var.assign(e.constraint(e.var))

    # --- building and calling -------------------------------------------------------------------
    def build(self, input_shape: Any) -> None:
        """Create the layer's weights for an input shape (called once, before the first call).

        Args:
            input_shape: The input's shape, batch dimension first (may be ``None``); a list of
                shapes for a layer with several inputs.
        """
        self.built = True

    def call(self, inputs: Any, training: bool = False, **kwargs: Any) -> Any:
        """The layer's computation on concrete Tensors (what subclasses implement).

        Args:
            inputs: A Tensor, or a list of Tensors for a layer with several inputs.
            training: Training mode (dropout, noise and batch statistics are active).
            **kwargs: Layer-specific call arguments (``mask``, ``initial_state``, ...).

        Returns:
            A Tensor, or a list of Tensors.
        """
        raise NotImplementedError(f"{self.class_name}.call is not implemented")

    def compute_output_shape(self, input_shape: Any) -> Any:
        """The output shape for an input shape, without running the layer.

        Args:
            input_shape: The input shape, batch dimension first (list of shapes for several
                inputs).

        Returns:
            The output shape (a list of shapes for several outputs).
        """
        return input_shape

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The mask to pass on to the next layer (Keras masking, from ``Embedding``).

        Args:
            inputs: The layer's inputs.
            mask: The incoming mask, or ``None``.

        Returns:
            ``mask`` when the layer ``supports_masking``, else ``None``.
        """
        return mask if self.supports_masking else None

    def _bad_input(self, shape: Any, expected: str) -> ValueError:
        return ValueError(
            f"Input to layer {self.name!r} ({self.class_name}) is incompatible: expected {expected}, got shape {shape}"
        )

    def check_input_shape(self, input_shape: Any) -> None:
        """Raise a clear error when ``input_shape`` does not fit this layer (before any change).

        Args:
            input_shape: The input shape, batch dimension first (list for several inputs).

        Raises:
            ValueError: The rank, a fixed axis size or the number of inputs does not match.
        """
        if isinstance(input_shape, list):
            if self.ndim is not None or self.min_ndim is not None:
                raise ValueError(
                    f"layer {self.name!r} ({self.class_name}) expects one input, got {len(input_shape)}"
                )
            return
        shape = tuple(input_shape)
        if self.ndim is not None and len(shape) != self.ndim:
            raise self._bad_input(shape, f"rank {self.ndim} (batch included)")
        if self.min_ndim is not None and len(shape) < self.min_ndim:
            raise self._bad_input(shape, f"rank >= {self.min_ndim} (batch included)")
        for axis, size in self._input_axes.items():
            got = shape[axis]
            if got is not None and got != size:
                raise self._bad_input(shape, f"axis {axis} of size {size}")

    def _maybe_build(self, input_shape: Any) -> None:
        if not self.built:
            self.build(input_shape)
            self.built = True
            if self._initial_weights is not None:
                self.set_weights(self._initial_weights)
                self._initial_weights = None

    def __call__(self, inputs: Any, training: bool | None = None, **kwargs: Any) -> Any:
        """Apply the layer (TF.js ``layer.apply``); builds it on the first call.

        Args:
            inputs: Tensors / numpy arrays (run eagerly) or ``SymbolicTensor``s (adds a node
                to a functional model); a list for a layer with several inputs.
            training: Training mode for dropout, noise and batch normalization.
            **kwargs: Layer-specific call arguments (``mask``, ...).

        Returns:
            A Tensor (or SymbolicTensor), or a list of them for several outputs.

        Raises:
            TypeError: Symbolic and concrete inputs are mixed.
            ValueError: The input shape does not fit the layer.

        Example:

        >>> d = layers.dense(units=2, kernel_initializer="ones")
        >>> d(tw.ones([1, 3])).tolist()
        [[3.0, 3.0]]
        """
        # a list of tensors/arrays is several inputs; nested lists of numbers are one array
        single = not isinstance(inputs, (list, tuple)) or not all(
            isinstance(e, (Tensor, SymbolicTensor, np.ndarray)) for e in inputs
        )
        flat = [inputs] if single else list(inputs)
        n_sym = sum(isinstance(t, SymbolicTensor) for t in flat)
        if n_sym:
            if n_sym != len(flat):
                raise TypeError(
                    f"layer {self.name!r}: cannot mix symbolic tensors and concrete values in one call"
                )
            return self._call_symbolic(flat, single, kwargs)
        tensors = [_to_tensor(t) for t in flat]
        mask = kwargs.pop("mask", None)
        return self._call_eager(tensors[0] if single else tensors, bool(training), mask, **kwargs)

    apply = __call__

    def _call_eager(self, inputs: Any, training: bool, mask: Any = None, **kwargs: Any) -> Any:
        shape = [t.shape for t in inputs] if isinstance(inputs, list) else inputs.shape
        self.check_input_shape(shape)
        self._maybe_build(shape)
        if mask is not None and "mask" in inspect.signature(self.call).parameters:
            kwargs["mask"] = mask
        policy = self.__dict__.get("_dtype_policy")
        if policy is not None and policy.is_mixed:
            out = self._call_autocast(policy, inputs, training, kwargs)
        else:
            out = self.call(inputs, training=training, **kwargs)
        if self.activity_regularizer is not None and training:
            self._activity_losses = [
                tw.div(self.activity_regularizer(o), float(o.shape[0]) if o.rank else 1.0)
                for o in (out if isinstance(out, list) else [out])
            ]
        return out

    def _call_autocast(self, policy: Any, inputs: Any, training: bool, kwargs: dict) -> Any:
        """``call`` under a mixed policy: floating inputs cast to the compute dtype, and the
        layer's own trainable float weights read as compute-dtype casts (attributes holding
        them are swapped for the call; the gradient reaches the float32 weight through the
        cast). Non-trainable weights (batch-norm statistics, which ``call`` may assign) stay
        float32 variables; ops mixing them with float16 values compute in float32."""
        compute = policy.compute_dtype
        _mixed_precision.check_supported(policy, f"layer {self.name!r}")

        def down(t: Any) -> Any:
            if isinstance(t, Tensor) and t.dtype in ("float32", "float64") and t.dtype != compute:
                return tw.cast(t, compute)
            return t

        inputs = [down(t) for t in inputs] if isinstance(inputs, list) else down(inputs)
        own = {id(e.var) for e in self._entries if e.trainable and e.var.dtype != compute}
        swapped = {k: v for k, v in vars(self).items() if isinstance(v, Tensor) and id(v) in own}
        try:
            for k, v in swapped.items():
                self.__dict__[k] = tw.cast(v, compute)
            return self.call(inputs, training=training, **kwargs)
        finally:
            self.__dict__.update(swapped)

    def _call_symbolic(self, flat: list[SymbolicTensor], single: bool, kwargs: dict) -> Any:
        shape = flat[0].shape if single else [t.shape for t in flat]
        self.check_input_shape(shape)
        self._maybe_build(shape)
        out_shape = self.compute_output_shape(shape)
        node = Node(self, flat, single, dict(kwargs))
        index = len(self._inbound_nodes)
        self._inbound_nodes.append(node)
        multi = isinstance(out_shape, list)
        shapes = out_shape if multi else [out_shape]
        for i, s in enumerate(shapes):
            suffix = f"/{i}" if multi else ""
            node.outputs.append(
                SymbolicTensor(
                    tuple(s), "float32", self, index, i, f"{self.name}/{self.name}{suffix}"
                )
            )
        return node.outputs if multi else node.outputs[0]

    # --- shapes of the recorded graph -------------------------------------------------------------
    @property
    def input_shape(self) -> Any:
        """The input shape, batch axis first (a list for several inputs).

        Raises ``AttributeError`` before the layer has an input shape.
        """
        if not self._inbound_nodes:
            if self._batch_input_shape is not None:
                return self._batch_input_shape
            raise AttributeError(f"layer {self.name!r} has not been called on a symbolic input yet")
        node = self._inbound_nodes[0]
        shapes = [t.shape for t in node.inputs]
        return shapes[0] if node.single else shapes

    @property
    def output_shape(self) -> Any:
        """The output shape, batch axis first (a list for several outputs).

        Raises ``AttributeError`` before the layer has been called on a symbolic input.
        """
        if not self._inbound_nodes:
            raise AttributeError(f"layer {self.name!r} has not been called on a symbolic input yet")
        shapes = [t.shape for t in self._inbound_nodes[0].outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    # --- config -------------------------------------------------------------------------------------
    def get_config(self) -> dict:
        """The layer's constructor arguments as a JSON-ready dict (Keras config).

        Returns:
            A dict with snake_case keys that ``from_config`` turns back into an equal layer
            (weights not included).
        """
        policy = self.__dict__.get("_dtype_policy")
        config: dict[str, Any] = {
            "name": self.name,
            "trainable": self._trainable,
            "dtype": policy.name if policy is not None and policy.is_mixed else self.dtype,
        }
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict) -> Layer:
        """A new layer from a ``get_config()`` dict (Keras or TF.js JSON).

        Keys are snake-cased (camelCase TF.js keys work) and Keras bookkeeping keys that carry
        no meaning here (``time_major``, ``registered_name``, ...) are dropped.

        Args:
            config: The layer config.

        Returns:
            The layer ``cls(**config)``.
        """
        config = {
            to_snake_case(k): v
            for k, v in config.items()
            if to_snake_case(k) not in IGNORED_CONFIG_KEYS
        }
        dtype = config.get("dtype")
        if isinstance(dtype, dict):  # a Keras 3 dtype policy
            config["dtype"] = (dtype.get("config") or {}).get("name", "float32")
        return cls(**config)


#: Config keys written by Keras / TF.js that ``from_config`` ignores.
IGNORED_CONFIG_KEYS = frozenset(
    {
        "time_major",
        "zero_output_for_mask",
        "module",
        "registered_name",
        "build_config",
        "autocast",
        "synchronized",
        "input_dtype",
        "ragged",
        "lora_rank",
    }
)


def serialize_layer(layer: Layer) -> dict:
    """A layer as ``{"class_name": ..., "config": ...}`` (Keras / TF.js JSON).

    Args:
        layer: Any layer or model.

    Returns:
        The dict ``deserialize_layer`` turns back into an equal layer.
    """
    return {"class_name": layer.class_name, "config": layer.get_config()}


def deserialize_layer(spec: dict) -> Layer:
    """A layer from ``{"class_name": ..., "config": {...}}`` through the registry.

    Args:
        spec: The dict ``serialize_layer`` returns.

    Returns:
        A new layer.

    Raises:
        ValueError: ``class_name`` is not registered.
    """
    return get_layer_class(spec["class_name"]).from_config(dict(spec.get("config") or {}))


class InputLayer(Layer):
    """The source of a model's symbolic input; holds no weights (TF.js ``inputLayer``).

    Args:
        input_shape: The input shape without the batch dimension.
        batch_size: The batch size to fix in the shape (default ``None``).
        batch_input_shape: The shape with the batch dimension (instead of ``input_shape``).
        dtype: The input dtype (default ``"float32"``).
        sparse: Accepted and stored for Keras configs; sparse inputs are not supported.
        name: The layer's name.
        batch_shape: Keras 3 spelling of ``batch_input_shape``.
        **kwargs: Layer arguments.

    Raises:
        ValueError: Neither ``input_shape`` nor ``batch_input_shape`` is given.
    """

    def __init__(
        self,
        input_shape: Sequence[int | None] | None = None,
        batch_size: int | None = None,
        batch_input_shape: Sequence[int | None] | None = None,
        dtype: str | None = None,
        sparse: bool = False,
        name: str | None = None,
        batch_shape: Sequence[int | None] | None = None,
        **kwargs: Any,
    ):
        if batch_input_shape is None:
            batch_input_shape = batch_shape  # the Keras 3 spelling
        if input_shape is None and batch_input_shape is None:
            raise ValueError(
                "InputLayer needs input_shape (without the batch) or batch_input_shape"
            )
        if name is None:
            name = unique_name("input")
        super().__init__(
            name=name,
            input_shape=input_shape,
            batch_input_shape=batch_input_shape,
            batch_size=batch_size,
            dtype=dtype,
            **kwargs,
        )
        self.sparse = sparse
        self.built = True
        node = Node(self, [], True, {})
        self._inbound_nodes.append(node)
        node.outputs.append(
            SymbolicTensor(self._batch_input_shape, self.dtype, self, 0, 0, self.name)
        )

    @property
    def output(self) -> SymbolicTensor:
        """The symbolic tensor this input layer produces."""
        return self._inbound_nodes[0].outputs[0]

    def call(self, inputs, training=False):
        return inputs

    def get_config(self) -> dict:
        return {
            "batch_input_shape": list(self._batch_input_shape),
            "dtype": self.dtype,
            "sparse": self.sparse,
            "name": self.name,
        }


def input(  # noqa: A001
    shape: Sequence[int | None] | None = None,
    batch_shape: Sequence[int | None] | None = None,
    name: str | None = None,
    dtype: str | None = None,
    batch_size: int | None = None,
) -> SymbolicTensor:
    """A symbolic model input, the start of a functional model (TF.js ``tf.input``).

    Args:
        shape: The input shape without the batch dimension.
        batch_shape: The shape with the batch dimension (instead of ``shape``).
        name: The input layer's name.
        dtype: The input dtype (default ``"float32"``).
        batch_size: The batch size to fix (default ``None``: any).

    Returns:
        A ``SymbolicTensor`` of shape ``(batch_size, *shape)``.

    Raises:
        ValueError: Neither ``shape`` nor ``batch_shape`` is given.

    Example:

    >>> x = layers.input(shape=[4])
    >>> x.shape
    (None, 4)
    """
    if shape is None and batch_shape is None:
        raise ValueError("input() needs shape (without the batch dimension) or batch_shape")
    layer = InputLayer(
        input_shape=shape,
        batch_input_shape=batch_shape,
        batch_size=batch_size,
        name=name,
        dtype=dtype,
    )
    return layer.output
