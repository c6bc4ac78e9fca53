"""Models: the functional ``Model`` (a graph of layer calls) and ``Sequential`` (a stack)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import engine as tw
from engine import Tensor
from engine.typing import DataLike
from layers import callbacks as cbks
from layers.base import InputLayer, Layer, Node, SymbolicTensor, deserialize_layer, serialize_layer
from layers.training import TrainingMixin, _predict_batches
from layers.utils import unique_name


def _as_list(x: Any) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


#: Attributes of a model that hold its own bookkeeping, not layers a subclass assigned.
_UNTRACKED = frozenset(
    {"_own_sublayers", "_layers", "_stack", "_input_layer", "_inbound_nodes", "_nodes"}
)


def _layers_in(value: Any, out: list, seen: set, depth: int = 0) -> None:
    """Append the layers in ``value`` (a layer, or lists/tuples/dicts of them) to ``out``."""
    if isinstance(value, Layer):
        if id(value) not in seen:
            seen.add(id(value))
            out.append(value)
    elif depth < 8 and isinstance(value, (list, tuple)):
        for v in value:
            _layers_in(v, out, seen, depth + 1)
    elif depth < 8 and isinstance(value, Mapping):
        for v in value.values():
            _layers_in(v, out, seen, depth + 1)


def _weights_path(path: Any, what: str) -> Path:
    if not isinstance(path, (str, PathLike)):
        raise TypeError(f"{what}: path must be a str or os.PathLike, got {type(path).__name__}")
    target = Path(path)
    if target.is_dir():
        raise ValueError(
            f"{what}: {str(target)!r} is a folder; give a file path such as 'model.weights.npz'"
        )
    return target


class Model(TrainingMixin, Layer):
    """A graph of layers from symbolic ``inputs`` to ``outputs`` (TF.js ``tf.model``).

    Build one with ``layers.model(inputs=..., outputs=...)``; ``Sequential`` is the stack form.
    A model is also a layer: it can be called on symbolic tensors inside another model.

    Args:
        inputs: A ``layers.SymbolicTensor`` from ``layers.input()``, or a list of them.
        outputs: A symbolic tensor computed from ``inputs`` by layer calls, or a list of them.
        name: The model's name (unique default from the class name).
        **kwargs: Layer arguments (``trainable``, ``dtype``, ...).

    Raises:
        TypeError: ``inputs``/``outputs`` are not symbolic tensors.
        ValueError: Only one of ``inputs``/``outputs`` is given, or an input does not come
            from ``layers.input()``.
    """

    #: True for a subclass that defines ``call`` (a subclassed model, Keras style): its layers
    #: are the ones assigned to its attributes, its inputs and outputs come from its first batch.
    _subclassed_model = False

    def __init_subclass__(cls, **kwargs: Any):
        cls._subclassed_model = cls.call is not Model.call
        if cls._subclassed_model:
            # its topology is Python code, which no config can name: not registered as a
            # layer class (Layer.__init_subclass__ would register it, shadowing same names)
            super(Layer, cls).__init_subclass__(**kwargs)
        else:
            super().__init_subclass__(**kwargs)

    def __init__(
        self, inputs: Any = None, outputs: Any = None, name: str | None = None, **kwargs: Any
    ):
        Layer.__init__(self, name=name or unique_name(self.class_name.lower()), **kwargs)
        self._sub_io: dict[str, Any] | None = None
        self.stop_training = False
        self.inputs: list[SymbolicTensor] = []
        self.outputs: list[SymbolicTensor] = []
        self._nodes: list[Node] = []
        self._layers: list[Layer] = []
        if inputs is not None or outputs is not None:
            if inputs is None or outputs is None:
                raise ValueError("model() needs both inputs and outputs")
            self._init_graph(_as_list(inputs), _as_list(outputs))

    # --- graph ---------------------------------------------------------------------------------------
    def _init_graph(self, inputs: list, outputs: list) -> None:
        for t in inputs + outputs:
            if not isinstance(t, SymbolicTensor):
                raise TypeError(
                    f"model inputs and outputs must be symbolic tensors (from layers.input() and layer calls), got {type(t).__name__}"
                )
        for t in inputs:
            if not isinstance(t.layer, InputLayer):
                raise ValueError(
                    f"model input {t.name!r} is not produced by layers.input(); pass the result of input()"
                )
        input_ids = {id(t) for t in inputs}
        order: list[Node] = []
        visited: set[int] = set()
        in_progress: set[int] = set()

        def visit(t: SymbolicTensor) -> None:
            if id(t) in input_ids:
                return
            node = t.node
            if isinstance(node.layer, InputLayer):
                raise ValueError(
                    f"an output of the model depends on input {t.name!r}, which is not in the model's inputs "
                    f"({[i.name for i in inputs]})"
                )
            if id(node) in visited:
                return
            if id(node) in in_progress:
                raise ValueError("the layer graph has a cycle")
            in_progress.add(id(node))
            for i in node.inputs:
                visit(i)
            in_progress.discard(id(node))
            visited.add(id(node))
            order.append(node)

        for t in outputs:
            visit(t)
        self.inputs, self.outputs, self._nodes = inputs, outputs, order
        layers_: list[Layer] = []
        seen: set[int] = set()
        for layer in [t.layer for t in inputs] + [n.layer for n in order]:
            if id(layer) not in seen:
                seen.add(id(layer))
                layers_.append(layer)
        names = [la.name for la in layers_]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"layer names must be unique within a model; repeated: {dup}")
        self._layers = layers_
        self._sublayers = [la for la in layers_ if not isinstance(la, InputLayer)]
        self.built = True

    @property
    def _sublayers(self) -> list[Layer]:
        """Nested layers: the graph's; for a subclassed model, also every layer assigned to
        an attribute (directly or in a list, tuple or dict), in assignment order."""
        own = self.__dict__.get("_own_sublayers", [])
        if not self._subclassed_model:
            return own
        out: list[Layer] = []
        seen: set[int] = {id(self)}
        _layers_in(own, out, seen)
        for key, value in list(self.__dict__.items()):
            if key not in _UNTRACKED:
                _layers_in(value, out, seen)
        return out

    @_sublayers.setter
    def _sublayers(self, value: Sequence[Layer]) -> None:
        self.__dict__["_own_sublayers"] = list(value)

    @property
    def layers(self) -> list[Layer]:
        """The model's layers in graph order (input layers included); for a subclassed model,
        the layers assigned to its attributes."""
        if self._subclassed_model:
            return list(self._sublayers)
        return list(self._layers)

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer of the model, by name or by position.

        Args:
            name: The layer's ``name``.
            index: Position in ``model.layers`` (used when given, ``name`` is then ignored).

        Returns:
            The ``Layer``.

        Raises:
            ValueError: No layer is called ``name``.
            IndexError: ``index`` is out of range.
        """
        if index is not None:
            return self.layers[index]
        for la in self.layers:
            if la.name == name:
                return la
        raise ValueError(f"no layer named {name!r}; layers: {[la.name for la in self.layers]}")

    def _io(self, what: str) -> Any:
        """A subclassed model's recorded inputs/outputs (``None`` before its first batch)."""
        io = self.__dict__.get("_sub_io")
        if io is None:
            if what.startswith("input"):
                return []
            raise ValueError(
                f"model {self.name!r} is a subclassed model that has not run yet, so its "
                "outputs are not known; call it on a batch, model.build(input_shape), or fit"
            )
        return list(io[what])

    @property
    def input_shapes(self) -> list[tuple]:
        """One shape per model input, batch axis first (``None`` for any size)."""
        if self._subclassed_model:
            return self._io("input_shapes")
        return [t.shape for t in self.inputs]

    @property
    def output_shapes(self) -> list[tuple]:
        """One shape per model output, batch axis first."""
        if self._subclassed_model:
            return self._io("output_shapes")
        return [t.shape for t in self.outputs]

    @property
    def input(self) -> SymbolicTensor | list[SymbolicTensor]:
        """The model's symbolic input (TF.js ``model.input``): a ``SymbolicTensor`` with
        ``shape`` (batch axis ``None``) and ``dtype``, or a list of them for several inputs.

        Raises ``AttributeError`` while the model has no input (a ``Sequential`` model
        whose first layer has no ``input_shape`` and that was never built).

        Example:

        >>> m = layers.sequential([layers.dense(units=2, input_shape=[3])])
        >>> m.input.shape, m.input.dtype
        ((None, 3), 'float32')
        """
        if not self.inputs:
            raise AttributeError(
                f"model {self.name!r} has no input yet; give the first layer an input_shape "
                "(or call model.build(shape))"
            )
        return self.inputs[0] if len(self.inputs) == 1 else list(self.inputs)

    @property
    def output(self) -> SymbolicTensor | list[SymbolicTensor]:
        """The model's symbolic output (TF.js ``model.output``): a ``SymbolicTensor``, or a
        list of them for several outputs.

        Raises ``AttributeError`` while the model has no output (an unbuilt ``Sequential``).

        Example:

        >>> m = layers.sequential([layers.dense(units=2, input_shape=[3])])
        >>> m.output.shape
        (None, 2)
        """
        if not self.outputs:
            raise AttributeError(
                f"model {self.name!r} has no output yet; give the first layer an input_shape "
                "(or call model.build(shape))"
            )
        return self.outputs[0] if len(self.outputs) == 1 else list(self.outputs)

    @property
    def input_shape(self) -> Any:
        """The input shape, batch axis first (``None``): a tuple, or a list of tuples for
        several inputs (TF.js ``model.inputShape``).

        Raises ``AttributeError`` while the model has no input.
        """
        inp = self.input
        return [t.shape for t in inp] if isinstance(inp, list) else inp.shape

    @property
    def output_shape(self) -> Any:
        """The output shape, batch axis first (``None``): a tuple, or a list of tuples for
        several outputs (TF.js ``model.outputShape``).

        Raises ``AttributeError`` while the model has no output.
        """
        out = self.output
        return [t.shape for t in out] if isinstance(out, list) else out.shape

    @property
    def input_names(self) -> list[str]:
        """The input layers' names (the keys of a dict ``x``); for a subclassed model,
        ``input_1``, ... (or the keys of the dict it was first called on)."""
        if self._subclassed_model:
            return self._io("input_names")
        return [t.layer.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        """The output layers' names (the keys of dict losses, metrics and ``y``); for a
        subclassed model ``output_1``, ``output_2``, ... (or the keys of the dict its
        ``call`` returns), known after its first batch."""
        if self._subclassed_model:
            return self._io("output_names")
        return [t.layer.name for t in self.outputs]

    # --- subclassed models -------------------------------------------------------------------------
    def _outputs_unknown(self) -> bool:
        return self._subclassed_model and self.__dict__.get("_sub_io") is None

    def _as_inputs(self, x: Any) -> list[Tensor]:
        """``x`` as one float32 Tensor per input (``layers.data.as_input_list``); a
        subclassed model that has not run yet is built on the first row of ``x`` first
        (a list/tuple of arrays is several inputs, a dict names them)."""
        from layers.data import _convert, _is_array_like, as_input_list

        if self._outputs_unknown():
            dict_in = isinstance(x, Mapping)
            if dict_in:
                names, parts = [str(k) for k in x], list(x.values())
            elif isinstance(x, (list, tuple)) and x and all(_is_array_like(e) for e in x):
                parts = list(x)
                names = [f"input_{i + 1}" for i in range(len(parts))]
            else:
                names, parts = ["input_1"], [x]
            xs = [_convert(p, f"input {n!r}") for p, n in zip(parts, names, strict=True)]
            if any(t.rank == 0 for t in xs):
                raise ValueError(
                    f"model {self.name!r}: inputs need a batch axis, got shapes "
                    f"{[t.shape for t in xs]}"
                )
            if len({t.shape[0] for t in xs}) > 1:
                raise ValueError(
                    f"all inputs must have the same number of samples, got {[t.shape[0] for t in xs]}"
                )
            if xs[0].shape[0] > 0:
                self._build_subclass(xs, names, dict_in)
            if self.is_compiled:
                self._finish_compile()  # raises, every time, when the compile does not fit
            if len(xs) == 1 and not dict_in:
                return xs
        elif self.is_compiled:
            self._finish_compile()
        return as_input_list(x, self)

    def _call_arg(self, xs: Sequence[Tensor]) -> Any:
        """What a subclassed model's ``call`` receives for the tensors ``xs``."""
        io = self.__dict__.get("_sub_io") or {}
        if io.get("dict_in"):
            return dict(zip(io["input_names"], xs, strict=True))
        return xs[0] if len(xs) == 1 else list(xs)

    def _flat_outputs(self, out: Any) -> list[Tensor]:
        io = self.__dict__.get("_sub_io")
        if isinstance(out, Mapping):
            keys = io["output_names"] if io is not None else list(out)
            return [out[k] for k in keys]
        return list(out) if isinstance(out, (list, tuple)) else [out]

    def _build_subclass(self, xs: list[Tensor], names: list[str], dict_in: bool) -> None:
        """Build a subclassed model on concrete inputs: its own ``build`` (when it defines
        one), then ``call`` on their first row, which builds the layers it uses (creating
        their weights); records the input and output names and shapes and finishes a
        compile that waited for them."""
        with self._steps_lock():
            if self.__dict__.get("_sub_io") is not None or self.__dict__.get("_building"):
                return
            self.__dict__["_building"] = True
            try:
                shapes = [(None,) + tuple(t.shape[1:]) for t in xs]
                if not self.built and type(self).build is not Model.build:
                    self.build(shapes[0] if len(shapes) == 1 else shapes)
                rows = [tw.slice(t, 0, 1) if t.shape[0] > 1 else t for t in xs]
                arg = (
                    dict(zip(names, rows, strict=True))
                    if dict_in
                    else (rows[0] if len(rows) == 1 else rows)
                )
                found: dict[str, Any] = {}

                def probe() -> None:
                    out = self.call(arg, training=False)
                    if isinstance(out, Mapping):
                        found["names"] = [str(k) for k in out]
                        out = list(out.values())
                    outs = out if isinstance(out, (list, tuple)) else [out]
                    bad = [type(o).__name__ for o in outs if not isinstance(o, Tensor)]
                    if bad:
                        raise TypeError(
                            f"{type(self).__name__}.call must return a Tensor, or a list or "
                            f"dict of Tensors; got {bad}"
                        )
                    found["shapes"] = [(None,) + tuple(o.shape[1:]) for o in outs]

                tw.tidy(probe)
                n_out = len(found["shapes"])
                self._sub_io = {
                    "input_names": list(names),
                    "input_shapes": shapes,
                    "dict_in": dict_in,
                    "output_names": found.get("names") or [f"output_{i + 1}" for i in range(n_out)],
                    "output_shapes": found["shapes"],
                }
                self.built = True
            finally:
                self.__dict__["_building"] = False

    # --- running ---------------------------------------------------------------------------------------
    def _ensure_built(self, inputs: list[Tensor]) -> None:
        if not self.built:
            raise ValueError(
                f"model {self.name!r} has no inputs yet; give the first layer an input_shape"
            )

    def run(self, inputs: Sequence[Tensor], training: bool = False) -> list[Tensor]:
        """Eager forward pass on concrete tensors.

        Args:
            inputs: One Tensor per model input, in ``model.inputs`` order.
            training: Run dropout, noise and batch-norm layers in training mode.

        Returns:
            One Tensor per model output, always a list.

        Raises:
            ValueError: The model has no inputs yet or the input count is wrong.
        """
        inputs = list(inputs)
        if self._subclassed_model:
            for la in self._walk():
                la._activity_losses = []
            return self._flat_outputs(self.call(self._call_arg(inputs), training=training))
        self._ensure_built(inputs)
        if len(inputs) != len(self.inputs):
            raise ValueError(
                f"model {self.name!r} expects {len(self.inputs)} input(s), got {len(inputs)}"
            )
        for la in self._walk():
            la._activity_losses = []
        values: dict[int, Tensor] = {}
        masks: dict[int, Any] = {}
        for sym, t in zip(self.inputs, inputs, strict=False):
            values[id(sym)] = t
        for node in self._nodes:
            args = [values[id(t)] for t in node.inputs]
            in_masks = [masks.get(id(t)) for t in node.inputs]
            x = args[0] if node.single else args
            m = (
                in_masks[0]
                if node.single
                else (in_masks if any(mm is not None for mm in in_masks) else None)
            )
            out = node.layer._call_eager(x, training, m, **node.kwargs)
            outs = out if isinstance(out, list) else [out]
            out_mask = node.layer.compute_mask(x, m)
            out_masks = out_mask if isinstance(out_mask, list) else [out_mask] * len(outs)
            for sym, o, om in zip(node.outputs, outs, out_masks, strict=False):
                values[id(sym)] = o
                if om is not None:
                    masks[id(sym)] = om
        return [values[id(t)] for t in self.outputs]

    # Layer interface, so a model can be used as a layer in another model.
    def build(self, input_shape: Any = None) -> None:
        """Build the model for an input shape (batch axis first, may be ``None``).

        A functional model is built already. A subclassed model runs its ``call`` once on
        zeros of that shape (batch 1), which creates its layers' weights and fixes its
        input and output shapes (Keras ``Model.build``); a subclass may override ``build``
        to create weights of its own.

        Args:
            input_shape: The input shape, or a list of shapes for several inputs.

        Raises:
            ValueError: A subclassed model gets no shape.

        Example:

        >>> class Tiny(layers.Model):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.d = layers.dense(units=2)
        ...     def call(self, inputs, training=None):
        ...         return self.d(inputs)
        >>> m = Tiny()
        >>> m.build((None, 3))
        >>> m.output_shapes, len(m.trainable_weights)
        ([(None, 2)], 2)
        """
        if self._subclassed_model and self.__dict__.get("_sub_io") is None:
            if self.__dict__.get("_building"):
                self.built = True
                return
            self._build_from_shape(input_shape)
        self.built = True

    def _build_from_shape(self, input_shape: Any) -> None:
        """Build a subclassed model by running ``call`` on zeros of ``input_shape``."""
        if input_shape is None:
            raise ValueError(f"{type(self).__name__}.build needs an input shape, e.g. (None, 784)")
        several = isinstance(input_shape, list) and all(
            isinstance(e, (list, tuple)) for e in input_shape
        )
        shapes = list(input_shape) if several else [input_shape]
        xs = [tw.zeros([1 if d is None else int(d) for d in sh]) for sh in shapes]
        self._build_subclass(xs, [f"input_{i + 1}" for i in range(len(xs))], False)

    def check_input_shape(self, input_shape: Any) -> None:
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        if self.inputs and len(shapes) != len(self.inputs):
            raise ValueError(
                f"model {self.name!r} expects {len(self.inputs)} input(s), got {len(shapes)}"
            )
        for i, (s, sym) in enumerate(zip(shapes, self.inputs, strict=False)):
            if len(s) != len(sym.shape) or any(
                a is not None and b is not None and a != b
                for a, b in zip(s[1:], sym.shape[1:], strict=False)
            ):
                raise ValueError(
                    f"model {self.name!r} input {i}: expected shape {sym.shape}, got {tuple(s)}"
                )

    def call(self, inputs: Any, training: bool = False, **kwargs: Any) -> Any:
        """The model's computation on concrete Tensors (what a subclassed model defines).

        Subclass ``Model``, create layers in ``__init__`` as attributes (also inside lists
        or dicts: they are tracked, and their weights become the model's), and define
        ``call(inputs, training=None)``; the weights are created on the first batch.
        ``compile``/``fit``/``evaluate``/``predict``/``save_weights`` then work as for a
        functional model (``save`` cannot write a subclass's topology).

        Args:
            inputs: A Tensor, or a list (or dict) of Tensors for several inputs.
            training: Training mode (dropout, noise and batch statistics are active).
            **kwargs: Accepted for layer compatibility.

        Returns:
            A Tensor, or a list (or dict) of Tensors for several outputs.

        Example:

        >>> import numpy as np
        >>> class MLP(layers.Model):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.hidden = [layers.dense(units=4, activation="relu")]
        ...         self.out = layers.dense(units=1)
        ...     def call(self, inputs, training=None):
        ...         x = inputs
        ...         for layer in self.hidden:
        ...             x = layer(x)
        ...         return self.out(x)
        >>> m = MLP()
        >>> m.compile(optimizer="sgd", loss="mse")
        >>> h = m.fit(np.ones((8, 3)), np.zeros((8, 1)), epochs=1, verbose=0)
        >>> len(m.trainable_weights), m.predict(np.ones((2, 3))).shape
        (4, (2, 1))
        """
        outs = self.run(_as_list(inputs), training)
        return outs[0] if len(outs) == 1 else outs

    def compute_output_shape(self, input_shape: Any) -> Any:
        if self._outputs_unknown():
            self._build_from_shape(input_shape)
        shapes = [tuple(s) for s in self.output_shapes]
        return shapes[0] if len(shapes) == 1 else shapes

    def _call_symbolic(self, flat, single, kwargs):
        if not self._subclassed_model:  # a subclass builds from the symbolic input's shape
            self._ensure_built([])
        return Layer._call_symbolic(self, flat, single, kwargs)

    # --- inference -------------------------------------------------------------------------------------
    def predict(
        self,
        x: DataLike | Iterable[Any],
        batch_size: int = 32,
        verbose: int = 0,
        callbacks: Any = None,
        steps: int | None = None,
    ) -> Tensor | list[Tensor]:
        """The model's outputs for ``x``, computed in batches (TF.js ``predict``).

        As in TF.js, the result is a ``Tensor`` (on the active backend), not a numpy array:
        call ``.numpy()`` for host values. Runs in inference mode (no dropout); a model
        compiled with ``jit=True`` replays a traced predict step.

        Threads: several threads may call ``predict`` on one model at once, and beside ``fit``
        in another thread. Each batch holds the model's lock (batches of concurrent calls run
        one at a time), so results equal serial calls; for parallel inference use one model
        copy per thread.

        Args:
            x: Inputs: a Tensor, numpy array or nested list for a single-input model; a list
                (one per input) or a dict keyed by input name otherwise. Or a
                ``layers.data.Dataset``, a generator or a non-list iterable of batches: each
                batch is the inputs, an ``(x, ...)`` tuple or an ``{"xs": x, ...}`` dict
                (targets are ignored, as Keras).
            batch_size: Samples per forward pass (positive int; not used with a dataset).
            verbose: Accepted for TF.js/Keras compatibility; nothing is printed.
            callbacks: Callbacks (objects, dicts of hook functions, or a list) whose
                ``on_predict_begin``/``on_predict_end`` and ``on_predict_batch_begin``/
                ``on_predict_batch_end`` are called, as Keras; the batch end's logs hold
                ``batch``, ``size`` and ``outputs`` (the batch's output Tensor, a list for
                several outputs).
            steps: Predict at most this many batches (required for an endless dataset;
                with arrays, the first ``steps * batch_size`` samples).

        Returns:
            A ``Tensor`` of shape ``(samples, *output_shape)`` for a single-output model, else
            a list of them (one per output).

        Raises:
            ValueError: ``batch_size`` is not positive, ``x`` has no samples or does not match
                the model's inputs.

        Example:

        >>> import numpy as np
        >>> model = layers.sequential([layers.dense(units=2, input_shape=[3])])
        >>> y = model.predict(np.ones((5, 3)), batch_size=2)
        >>> type(y).__name__, y.shape
        ('Tensor', (5, 2))
        >>> y.numpy().shape
        (5, 2)
        """
        from engine.dtypes import as_int

        batch_size = as_int(batch_size, "predict: batch_size", minimum=1)
        as_int(verbose, "predict: verbose", minimum=0)  # unused, but 0.5 or True is a mistake
        user = cbks.standardize_callbacks(callbacks, "predict")
        if steps is not None:
            steps = as_int(steps, "predict: steps", minimum=1)
        if isinstance(x, Iterator) or (
            isinstance(x, Iterable)
            and not isinstance(x, (list, tuple, str, bytes, Mapping))
            and not hasattr(x, "__array__")
        ):  # a layers.data Dataset, a generator, an iterable of batches
            return _predict_batches(self, x, steps, user, verbose)
        xs = self._as_inputs(x)
        if steps is not None and steps * int(batch_size) < xs[0].shape[0]:
            xs = [tw.slice(t, 0, steps * int(batch_size)) for t in xs]
        n = xs[0].shape[0]
        cb = None
        if user and n:
            steps = -(-n // int(batch_size))
            params = {"batch_size": int(batch_size), "steps": steps, "samples": n}
            cb = cbks.CallbackList(user, self, {**params, "verbose": verbose})
            cb.on_predict_begin({})
        pieces: list[list[Tensor]] = []
        for k, start in enumerate(range(0, n, int(batch_size))):
            stop = min(start + int(batch_size), n)
            batch = (
                xs if (start == 0 and stop == n) else [tw.slice(t, start, stop - start) for t in xs]
            )
            if cb is not None:
                cb.on_predict_batch_begin(k, {"batch": k, "size": stop - start})
            pieces.append(self._forward(batch))  # traced when compiled with jit
            if cb is not None:
                out = pieces[-1][0] if len(pieces[-1]) == 1 else list(pieces[-1])
                cb.on_predict_batch_end(k, {"batch": k, "size": stop - start, "outputs": out})
        if cb is not None:
            cb.on_predict_end({})
        if not pieces:
            raise ValueError("predict: x has no samples")
        outs = [
            p[0] if len(pieces) == 1 else tw.concat(list(p), 0) for p in zip(*pieces, strict=False)
        ]
        return outs[0] if len(outs) == 1 else outs

    def predict_on_batch(self, x: DataLike) -> Tensor | list[Tensor]:
        """The model's outputs for ``x`` in one forward pass (TF.js ``predictOnBatch``).

        Args:
            x: Inputs, as for ``predict``.

        Returns:
            A ``Tensor`` (single output) or a list of Tensors, as ``predict``.
        """
        outs = self._forward(self._as_inputs(x))
        return outs[0] if len(outs) == 1 else outs

    def save(self, path: str | PathLike[str], include_optimizer: bool = False) -> Path:
        """Save the model to a folder in the TF.js layers format (TF.js ``model.save``).

        The folder gets ``model.json`` (topology, weights manifest and, with
        ``include_optimizer``, the training config) and ``weights.bin``; TF.js's
        ``tf.loadLayersModel`` and ``layers.load_model`` read it back. The save is atomic: a
        failed save leaves a previous one intact.

        Args:
            path: The folder (created if needed; a ``file://`` URL is accepted).
            include_optimizer: Also save the compile settings and the optimizer's state, so a
                loaded model resumes training where this one stopped.

        Returns:
            The folder written, as a ``pathlib.Path``.

        Raises:
            ValueError: ``path`` names a ``.json`` file instead of a folder.

        Example:

        >>> import tempfile
        >>> model = layers.sequential([layers.dense(units=2, input_shape=[3])])
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     folder = model.save(tmp)
        ...     sorted(p.name for p in folder.iterdir())
        ['model.json', 'weights.bin']
        """
        from layers.saving import save_model

        if self._subclassed_model:
            raise NotImplementedError(self._no_topology("save"))
        return save_model(self, path, include_optimizer)

    def _no_topology(self, what: str) -> str:
        return (
            f"{what}: model {self.name!r} is a subclassed model ({type(self).__name__} defines "
            "call), whose topology is Python code and cannot be serialized to the TF.js/Keras "
            "JSON format (as in Keras and TF.js); save its weights with "
            "model.save_weights(path) and rebuild the model in code, or build it as a "
            "functional model (layers.model) or layers.sequential"
        )

    def save_weights(self, path: str | PathLike[str]) -> Path:
        """Save the values of ``weights`` to one file (Keras ``save_weights``).

        The file is a numpy ``.npz`` archive (read without pickle) holding the arrays in
        ``weights`` order and their names; ``load_weights`` assigns them back by position,
        so a new instance of the same model (its layers named differently) loads them.
        Works for subclassed models, whose topology ``save`` cannot write. The write is
        atomic (a temporary file renamed over ``path``).

        Args:
            path: The file to write (conventionally ``*.weights.npz``; no suffix is added).

        Returns:
            The file written, as a ``pathlib.Path``.

        Raises:
            TypeError: ``path`` is not a str or path.
            ValueError: ``path`` is a folder, or the model has no weights yet (a subclassed
                model that never ran).

        Example:

        >>> import os, tempfile
        >>> import numpy as np
        >>> m = layers.sequential([layers.dense(units=2, input_shape=[3])])
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     f = m.save_weights(os.path.join(tmp, "m.weights.npz"))
        ...     m2 = layers.sequential([layers.dense(units=2, input_shape=[3])])
        ...     m2.load_weights(f)
        >>> all(np.array_equal(a, b) for a, b in zip(m.get_weights(), m2.get_weights()))
        True
        """
        import io
        import os
        import uuid

        import numpy as np

        target = _weights_path(path, "save_weights")
        if self._outputs_unknown():
            raise ValueError(
                f"save_weights: model {self.name!r} has no weights yet (a subclassed model "
                "creates them on its first batch); call it on data, model.build(shape) or fit "
                "first"
            )
        with self._steps_lock():
            ws = self.weights
            arrays = {f"w{i:05d}": w.numpy() for i, w in enumerate(ws)}
        arrays["names"] = np.array([w.name for w in ws], dtype=np.str_)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            with open(tmp, "wb") as f:
                f.write(buf.getvalue())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            if tmp.exists():
                tmp.unlink()
            raise
        return target

    def load_weights(self, path: str | PathLike[str]) -> None:
        """Assign the weights saved by ``save_weights`` (Keras ``load_weights``).

        Weights are matched by position in ``weights``; the count and every shape are
        checked before anything changes. A subclassed model must be built first (call it on
        a batch or ``model.build(input_shape)``), as in Keras.

        Args:
            path: A file written by ``save_weights``.

        Raises:
            FileNotFoundError: No file at ``path``.
            ValueError: The file is not a ``save_weights`` archive, the model has no weights
                yet, or the count or a shape differs.

        Example:

        >>> import os, tempfile
        >>> m = layers.sequential([layers.dense(units=1, input_shape=[2])])
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     m.load_weights(m.save_weights(os.path.join(tmp, "w.npz")))
        """
        import zipfile

        from layers import weights_archive

        target = _weights_path(path, "load_weights")
        if self._outputs_unknown():
            raise ValueError(
                f"load_weights: model {self.name!r} is a subclassed model that has not been "
                "built, so it has no weights to assign; call it on a batch or "
                "model.build(input_shape) first"
            )
        own = self.weights
        try:
            values, _ = weights_archive.read_weights(target, [tuple(w.shape) for w in own])
        except weights_archive.CountMismatch as e:
            raise ValueError(
                f"load_weights: {str(target)!r} holds {len(e.names)} weights "
                f"({', '.join(e.names)}) but model {self.name!r} has {len(own)} "
                f"({', '.join(w.name for w in own)})"
            ) from None
        except weights_archive.ShapeMismatch as e:
            raise ValueError(
                f"load_weights: saved weight {e.name!r} has shape {e.saved} but the "
                f"model's weight {own[e.index].name!r} has shape {tuple(own[e.index].shape)}"
            ) from None
        except (zipfile.BadZipFile, ValueError, OSError, KeyError, EOFError) as e:
            if isinstance(e, FileNotFoundError):
                raise
            raise ValueError(
                f"load_weights: {str(target)!r} is not a file written by save_weights ({e})"
            ) from None
        with self._steps_lock():
            for w, v in zip(own, values, strict=True):
                w.assign(tw.tensor(v, dtype=w.dtype))

    # --- description -------------------------------------------------------------------------------
    def summary(
        self,
        line_length: int | None = None,
        positions: Sequence[float] | None = None,
        print_fn: Callable[[str], Any] | None = None,
    ) -> None:
        """Print a table of layers, output shapes and parameter counts, as TF.js / Keras.

        Returns ``None`` (so a REPL shows the table once).

        Args:
            line_length: Total width of a line (default 65 for Sequential, 98 otherwise).
            positions: Where each column ends: fractions of the line, or absolute columns.
            print_fn: Called once per line instead of ``print`` (Keras's signature), e.g.
                ``lines.append`` to capture the table.

        Example:

        >>> model = layers.sequential([layers.dense(units=2, input_shape=[3])])
        >>> lines = []
        >>> model.summary(print_fn=lines.append)
        >>> [line for line in lines if "params:" in line]
        ['Total params: 8', 'Trainable params: 8', 'Non-trainable params: 0']
        """
        functional = not isinstance(self, Sequential) and not self._subclassed_model
        line_length = line_length or (98 if functional else 65)
        cols = ["Layer (type)", "Output shape", "Param #"] + (
            ["Receives inputs"] if functional else []
        )
        pos = list(positions or ([0.33, 0.55, 0.67, 1.0] if functional else [0.45, 0.85, 1.0]))
        if pos[-1] <= 1:
            pos = [int(line_length * p) for p in pos]

        def row(fields: list[str]) -> str:
            line = ""
            for i, f in enumerate(fields):
                line = (line + str(f))[: pos[i] - 1] if i else str(f)[: pos[i] - 1]
                line = line.ljust(pos[i])
            return line.rstrip()

        lines = [f'Model: "{self.name}"', "_" * line_length, row(cols), "=" * line_length]
        node_ids = {id(n) for n in self._nodes}
        shown = self.layers
        for i, la in enumerate(shown):
            nodes = [
                n for n in la._inbound_nodes if id(n) in node_ids or isinstance(la, InputLayer)
            ]
            if len(nodes) != 1:
                shape_s = "multiple"
            else:
                shapes = [t.shape for t in nodes[0].outputs]
                shape = shapes[0] if len(shapes) == 1 else shapes
                shape_s = str(list(shape) if isinstance(shape, tuple) else [list(s) for s in shape])
                shape_s = shape_s.replace("None", "null")
            name = f"{la.name} ({la.class_name})"
            fields = [name, shape_s, str(la.count_params())]
            if functional:
                srcs = [
                    f"{t.layer.name}[{_model_node_index(self, t)}][{t.tensor_index}]"
                    for node in nodes
                    for t in node.inputs
                ]
                fields.append(", ".join(srcs))
            lines.append(row(fields))
            lines.append(("=" if i == len(shown) - 1 else "_") * line_length)
        trainable = int(sum(w.size for w in self.trainable_weights))
        non_trainable = int(sum(w.size for w in self.non_trainable_weights))
        lines += [
            f"Total params: {trainable + non_trainable:,}",
            f"Trainable params: {trainable:,}",
            f"Non-trainable params: {non_trainable:,}",
            "_" * line_length,
        ]
        for line in lines:
            (print_fn or print)(line)

    # --- config ----------------------------------------------------------------------------------------
    def get_config(self) -> dict:
        """The model's architecture as a JSON-ready dict (Keras functional config).

        Returns:
            ``{"name", "layers", "input_layers", "output_layers"}``: every layer's config with
            its inbound nodes, as Keras and TF.js write them.

        Raises:
            NotImplementedError: The model is a subclassed model (its topology is code).
        """
        if self._subclassed_model:
            raise NotImplementedError(self._no_topology("get_config"))
        node_ids = {id(n) for n in self._nodes}
        entries = []
        for la in self.layers:
            inbound = []
            for node in la._inbound_nodes:
                if id(node) in node_ids:
                    inbound.append(
                        [
                            [
                                t.layer.name,
                                _model_node_index(self, t),
                                t.tensor_index,
                                dict(node.kwargs),
                            ]
                            for t in node.inputs
                        ]
                    )
            spec = serialize_layer(la)
            entries.append(
                {
                    "name": la.name,
                    "class_name": spec["class_name"],
                    "config": spec["config"],
                    "inbound_nodes": inbound,
                }
            )
        return {
            "name": self.name,
            "layers": entries,
            "input_layers": [
                [t.layer.name, _model_node_index(self, t), t.tensor_index] for t in self.inputs
            ],
            "output_layers": [
                [t.layer.name, _model_node_index(self, t), t.tensor_index] for t in self.outputs
            ],
        }

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> Model:
        """Rebuild a functional model from ``get_config()`` output (Keras / TF.js JSON).

        Args:
            config: A functional model config.
            custom_objects: Accepted for Keras compatibility and not used: register custom
                layer classes with ``layers.register_layer`` instead.

        Returns:
            A new ``Model`` with fresh weights.
        """
        created: dict[str, Layer] = {}
        outputs_of: dict[str, list[list[SymbolicTensor]]] = {}
        pending: list[tuple[dict, list]] = []
        for entry in config["layers"]:
            la = deserialize_layer({"class_name": entry["class_name"], "config": entry["config"]})
            created[entry["name"]] = la
            if isinstance(la, InputLayer):
                outputs_of[entry["name"]] = [la._inbound_nodes[0].outputs]
            else:
                outputs_of[entry["name"]] = []
                pending.extend((entry, nd) for nd in entry.get("inbound_nodes") or [])
        while pending:
            progress = False
            rest = []
            blocked: set[str] = set()
            for entry, nd in pending:
                if entry["name"] in blocked:  # a shared layer's nodes are rebuilt in order
                    rest.append((entry, nd))
                    continue
                try:
                    args = [outputs_of[src][ni][ti] for src, ni, ti, *_ in nd]
                except (KeyError, IndexError):
                    rest.append((entry, nd))
                    blocked.add(entry["name"])
                    continue
                kwargs = nd[0][3] if nd and len(nd[0]) > 3 and nd[0][3] else {}
                out = created[entry["name"]](args[0] if len(args) == 1 else args, **kwargs)
                outputs_of[entry["name"]].append(_as_list(out))
                progress = True
            if not progress:
                raise ValueError(
                    f"model config: cannot resolve inbound nodes of {[e['name'] for e, _ in rest]}"
                )
            pending = rest
        ins = [outputs_of[n][i][t] for n, i, t in config["input_layers"]]
        outs = [outputs_of[n][i][t] for n, i, t in config["output_layers"]]
        return Model(inputs=ins, outputs=outs, name=config.get("name"))


def _model_node_index(model: Model, t: SymbolicTensor) -> int:
    """Index of the node producing ``t`` among its layer's nodes that belong to ``model``."""
    node_ids = {id(n) for n in model._nodes}
    mine = [
        n for n in t.layer._inbound_nodes if id(n) in node_ids or isinstance(t.layer, InputLayer)
    ]
    for i, n in enumerate(mine):
        if n is t.node:
            return i
    return t.node_index


class Sequential(Model):
    """A linear stack of layers (TF.js ``tf.sequential``); see ``layers.sequential``.

    Args:
        layers: Layers to stack, in order; the first needs ``input_shape`` (or be an
            ``InputLayer``) for the model to be built before its first call.
        name: The model's name.
        **kwargs: Layer arguments.
    """

    def __init__(
        self, layers: Sequence[Layer] | None = None, name: str | None = None, **kwargs: Any
    ):
        super().__init__(name=name, **kwargs)
        self._stack: list[Layer] = []
        self._input_layer: InputLayer | None = None
        for la in layers or []:
            self.add(la)

    @property
    def layers(self) -> list[Layer]:
        """The stacked layers, in order (the input layer excluded)."""
        return list(self._stack)

    def add(self, layer: Layer) -> None:
        """Append a layer to the top of the stack.

        Args:
            layer: A ``Layer`` with one input and one output. The first layer's
                ``input_shape`` (or an ``InputLayer``) fixes the model's input.

        Raises:
            TypeError: ``layer`` is not a Layer.
            ValueError: The layer is already in the model, an ``InputLayer`` is not first, or
                the layer cannot take the previous layer's output shape.
        """
        if isinstance(layer, SymbolicTensor):
            layer = layer.layer
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a layer, got {type(layer).__name__}")
        if isinstance(layer, InputLayer):
            if self._stack or self._input_layer is not None:
                raise ValueError("an InputLayer can only be the first layer of a Sequential model")
            self._input_layer = layer
            self._connect()
            return
        if any(la is layer for la in self._stack):
            raise ValueError(f"layer {layer.name!r} is already in this model")
        if any(la.name == layer.name for la in self._stack):
            raise ValueError(
                f"a layer named {layer.name!r} is already in this model; layer names must be unique"
            )
        if not self._stack and self._input_layer is None:
            shape = layer._batch_input_shape
            if shape is None and isinstance(layer, Model) and layer.inputs:
                shape = layer.inputs[0].shape
            if shape is not None:
                self._input_layer = InputLayer(batch_input_shape=shape)
        self._stack.append(layer)
        if self._input_layer is not None:
            if self.outputs:
                out = layer(self.outputs[0])
                if isinstance(out, list):
                    self._stack.pop()
                    raise ValueError(
                        f"layers in a Sequential model must have one output; {layer.name!r} has {len(out)}"
                    )
                self._init_graph(list(self.inputs), [out])
            else:
                self._connect()

    def pop(self) -> Layer:
        """Remove the last layer of the stack.

        Returns:
            The removed ``Layer``.

        Raises:
            ValueError: The model has no layers.
        """
        if not self._stack:
            raise ValueError("Sequential.pop: the model has no layers")
        layer = self._stack.pop()
        self._connect()
        return layer

    def _connect(self) -> None:
        """(Re)build the graph from the input layer through every layer of the stack."""
        if self._input_layer is None or not self._stack:
            self.inputs, self.outputs, self._nodes, self._layers, self._sublayers = (
                [],
                [],
                [],
                [],
                list(self._stack),
            )
            self.built = False
            if self._input_layer is not None:
                self.inputs = [self._input_layer.output]
            return
        x = self._input_layer.output
        for la in self._stack:
            x = la(x)
            if isinstance(x, list):
                raise ValueError(
                    f"layers in a Sequential model must have one output; {la.name!r} has {len(x)}"
                )
        self._init_graph([self._input_layer.output], [x])

    def _not_built(self) -> ValueError:
        return ValueError(
            f"Sequential model {self.name!r} does not know its input shape yet; give the first layer "
            "input_shape=... (or input_dim / batch_input_shape), call model.build(shape), or predict once"
        )

    @property
    def output_names(self) -> list[str]:
        """The last layer's name, in a list.

        Raises ``ValueError`` until the model knows its input shape.
        """
        if not self.built:
            raise self._not_built()
        return super().output_names

    @property
    def output_shapes(self) -> list[tuple]:
        """The last layer's output shape, in a list.

        Raises ``ValueError`` until the model knows its input shape.
        """
        if not self.built:
            raise self._not_built()
        return super().output_shapes

    def _ensure_built(self, inputs: list[Tensor]) -> None:
        if self.built:
            return
        if not self._stack:
            raise ValueError(f"Sequential model {self.name!r} has no layers; add some first")
        if not inputs:
            raise ValueError(
                f"Sequential model {self.name!r} does not know its input shape yet; give the first layer "
                "input_shape=... or call it on data first"
            )
        self.build((None,) + tuple(inputs[0].shape[1:]))

    def build(self, input_shape: Any = None) -> None:
        """Fix the input shape and build every layer (creating their weights).

        Args:
            input_shape: The input shape, batch dimension first (may be ``None``); optional
                when the first layer has an ``input_shape``.
        """
        if self.built:
            return
        if input_shape is None:
            raise ValueError("Sequential.build needs an input shape")
        self._input_layer = InputLayer(batch_input_shape=(None,) + tuple(input_shape)[1:])
        self._connect()

    def check_input_shape(self, input_shape: Any) -> None:
        if self.built:
            super().check_input_shape(input_shape)

    def compute_output_shape(self, input_shape: Any) -> Any:
        if not self.built:
            self.build(input_shape)
        return super().compute_output_shape(input_shape)

    def _call_symbolic(self, flat, single, kwargs):
        if not self.built:
            self.build(flat[0].shape)
        return Layer._call_symbolic(self, flat, single, kwargs)

    def get_config(self) -> dict:
        specs = []
        for i, la in enumerate(self._stack):
            spec = serialize_layer(la)
            if (
                i == 0
                and self._input_layer is not None
                and "batch_input_shape" not in spec["config"]
            ):
                spec["config"]["batch_input_shape"] = list(self._input_layer._batch_input_shape)
            specs.append(spec)
        return {"name": self.name, "layers": specs}

    @classmethod
    def from_config(cls, config: Any, custom_objects: dict | None = None) -> Sequential:
        if isinstance(config, list):  # old Keras / TF.js form: a bare list of layers
            config = {"layers": config}
        return cls([deserialize_layer(s) for s in config["layers"]], name=config.get("name"))


def sequential(layers: Sequence[Layer] | None = None, name: str | None = None) -> Sequential:
    """A model that is a linear stack of layers (TF.js ``tf.sequential``).

    Args:
        layers: The layers, in order; the first one needs ``input_shape`` (or
            ``batch_input_shape``). More can be appended with ``model.add``.
        name: The model's name (default ``"sequential1"``, ``"sequential2"``, ...).

    Returns:
        A ``Sequential`` model, ready to ``compile``.

    Example:

    >>> model = layers.sequential(
    ...     [
    ...         layers.dense(units=8, activation="relu", input_shape=[4]),
    ...         layers.dense(units=3, activation="softmax"),
    ...     ]
    ... )
    >>> model.output_shapes, model.count_params()
    ([(None, 3)], 67)
    """
    return Sequential(layers, name=name)


def model(inputs: Any, outputs: Any, name: str | None = None) -> Model:
    """A functional model: a graph of layer calls from symbolic inputs to outputs (TF.js
    ``tf.model``).

    Args:
        inputs: A symbolic tensor from ``layers.input()``, or a list of them.
        outputs: Symbolic tensor(s) computed from ``inputs`` by calling layers.
        name: The model's name.

    Returns:
        A ``Model``.

    Raises:
        TypeError: ``inputs``/``outputs`` are not symbolic tensors.
        ValueError: An input does not come from ``layers.input()``.

    Example:

    >>> x = layers.input(shape=[4])
    >>> h = layers.dense(units=8, activation="relu")(x)
    >>> y = layers.dense(units=1)(h)
    >>> m = layers.model(inputs=x, outputs=y)
    >>> m.predict(tw.ones([2, 4])).shape
    (2, 1)
    """
    return Model(inputs=inputs, outputs=outputs, name=name)


__all__ = ["Model", "Sequential", "model", "sequential"]
