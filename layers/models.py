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

    def __init__(
        self, inputs: Any = None, outputs: Any = None, name: str | None = None, **kwargs: Any
    ):
        Layer.__init__(self, name=name or unique_name(self.class_name.lower()), **kwargs)
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
    def layers(self) -> list[Layer]:
        """The model's layers in graph order (input layers included)."""
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

    @property
    def input_shapes(self) -> list[tuple]:
        """One shape per model input, batch axis first (``None`` for any size)."""
        return [t.shape for t in self.inputs]

    @property
    def output_shapes(self) -> list[tuple]:
        """One shape per model output, batch axis first."""
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
        """The input layers' names (the keys of a dict ``x``)."""
        return [t.layer.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        """The output layers' names (the keys of dict losses, metrics and ``y``)."""
        return [t.layer.name for t in self.outputs]

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
    def build(self, input_shape: Any) -> None:
        self.built = True

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
        outs = self.run(_as_list(inputs), training)
        return outs[0] if len(outs) == 1 else outs

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes = [tuple(s) for s in self.output_shapes]
        return shapes[0] if len(shapes) == 1 else shapes

    def _call_symbolic(self, flat, single, kwargs):
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
        from layers.data import as_input_list

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
        xs = as_input_list(x, self)
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
        from layers.data import as_input_list

        outs = self._forward(as_input_list(x, self))
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

        return save_model(self, path, include_optimizer)

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
        functional = not isinstance(self, Sequential)
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
        """
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
