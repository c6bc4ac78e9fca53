"""The TF.js layers format's JSON: ``modelTopology`` (TF.js, Keras 2 and Keras 3 spellings) to
a model, and the ``trainingConfig`` (loss, metrics, optimizer) both ways."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping
from typing import Any

from engine.hints import did_you_mean
from layers.base import LAYER_CLASSES, Layer
from layers.models import Model, Sequential
from layers.tfjs_format import ModelLoadError
from layers.utils import to_snake_case


# --- trainingConfig ----------------------------------------------------------------------------------
def _loss_identifier(loss: Any) -> Any:
    from layers import losses as losses_mod

    if isinstance(loss, Mapping):
        return {k: _loss_identifier(v) for k, v in loss.items()}
    if isinstance(loss, (list, tuple)):
        return [_loss_identifier(v) for v in loss]
    name = losses_mod.canonical_name(loss)
    if name is None:
        raise ValueError(
            f"cannot save the training config: the loss {loss!r} is not a named loss; "
            "save with include_optimizer=False or compile with a loss name such as 'meanSquaredError'"
        )
    return to_snake_case(name)


def _metric_identifier(metric: Any) -> Any:
    from layers import losses as losses_mod
    from layers import metrics as metrics_mod

    if isinstance(metric, Mapping):
        return {k: _metric_identifier(v) for k, v in metric.items()}
    if isinstance(metric, (list, tuple)):
        return [_metric_identifier(v) for v in metric]
    if isinstance(metric, str):
        return to_snake_case(metric)
    for table in (metrics_mod.METRICS, losses_mod.LOSSES):
        for name, fn in table.items():
            if fn is metric:
                return to_snake_case(name)
    raise ValueError(
        f"cannot save the training config: the metric {metric!r} is not a named metric; "
        "save with include_optimizer=False or compile with metric names such as 'accuracy'"
    )


def training_config(model: Model) -> dict:
    """The ``trainingConfig`` of a compiled model as TF.js writes it: snake_case loss and metric
    names and ``optimizer_config`` ``{class_name, config}``."""
    opt = model.optimizer
    metrics = getattr(model, "compile_metrics", None)
    config: dict[str, Any] = {
        "loss": _loss_identifier(getattr(model, "loss", None)),
        "metrics": None
        if metrics is None
        else _metric_identifier(
            metrics if isinstance(metrics, (list, tuple, Mapping)) else [metrics]
        ),
        "optimizer_config": {"class_name": opt.class_name, "config": dict(opt.get_config())},
    }
    lw = getattr(model, "loss_weights", None)
    if lw is not None:  # Keras / TF.js: a list, a dict by output name, or one number
        config["loss_weights"] = (
            dict(lw)
            if isinstance(lw, Mapping)
            else list(lw)
            if isinstance(lw, (list, tuple))
            else lw
        )
    weighted = getattr(model, "weighted_metrics", None)
    if weighted is not None:
        config["weighted_metrics"] = _metric_identifier(
            weighted if isinstance(weighted, (list, tuple, Mapping)) else [weighted]
        )
    return config


# --- loading: topology -------------------------------------------------------------------------------
_MODEL_CLASSES = {"Sequential": Sequential, "Model": Model, "Functional": Model}
#: Keras-only keys at the level of a layer entry (beside class_name and config).
_ENTRY_NOISE = ("module", "registered_name", "build_config", "compile_config", "shared_object_id")


def _fix_dtype(value: Any) -> Any:
    if isinstance(value, Mapping):  # Keras 3 DTypePolicy
        conf = value.get("config") or {}
        return conf.get("name", "float32")
    return value


def _keras3_node(node: Any) -> Any:
    """Keras 3 inbound node ``{"args": [...], "kwargs": {...}}`` -> the Keras 2 / TF.js list form."""
    if not isinstance(node, Mapping):
        return node
    tensors: list = []

    def walk(x: Any) -> None:
        if isinstance(x, Mapping) and x.get("class_name") == "__keras_tensor__":
            hist = x["config"]["keras_history"]
            tensors.append([hist[0], hist[1], hist[2], {}])
        elif isinstance(x, (list, tuple)):
            for item in x:
                walk(item)

    walk(node.get("args", []))
    kwargs = {
        k: v for k, v in (node.get("kwargs") or {}).items() if not isinstance(v, (Mapping, list))
    }
    if tensors and kwargs:
        tensors[0][3] = kwargs
    return tensors


def _normalize_layer_config(config: Mapping) -> dict:
    out: dict[str, Any] = {}
    for key, value in config.items():
        key = key if key == "name" else to_snake_case(key)
        if key == "batch_shape":  # Keras 3 InputLayer
            key = "batch_input_shape"
        if key == "dtype":
            value = _fix_dtype(value)
        if (
            key in ("layer", "backward_layer", "cell")
            and isinstance(value, Mapping)
            and "class_name" in value
        ):
            value = _normalize_entry(value)
        if key == "cells" and isinstance(value, list):  # StackedRNNCells
            value = [
                _normalize_entry(c) if isinstance(c, Mapping) and "class_name" in c else c
                for c in value
            ]
        out[key] = value
    return out


#: Keras settings our layers do not take, dropped when they hold these neutral values.
_NEUTRAL = {
    "groups": (1,),
    "implementation": (0, 1, 2),
    "ragged": (False,),
    "autocast": (True, False),
    "dynamic": (False,),
}


def _accepted_args(cls: type) -> set[str] | None:
    """Constructor keywords of a layer class (None when it takes arbitrary ones)."""
    out: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" in klass.__dict__:
            params = inspect.signature(klass.__init__).parameters.values()
            out |= {p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        if klass is Layer:
            return out - {"self"}
    return None


def _drop_neutral(class_name: str, config: dict) -> dict:
    """Remove keys the class does not accept whose values change nothing (None, False, Keras's
    ``groups: 1``); any other unknown key stays, so the layer reports it."""
    cls = LAYER_CLASSES.get(class_name)
    accepted = _accepted_args(cls) if cls is not None else None
    if accepted is None:
        return config
    return {
        k: v
        for k, v in config.items()
        if k in accepted or not (v is None or v is False or (k in _NEUTRAL and v in _NEUTRAL[k]))
    }


def _normalize_entry(entry: Mapping) -> dict:
    entry = {
        ("class_name" if k == "className" else k): v
        for k, v in entry.items()
        if k not in _ENTRY_NOISE
    }
    conf = entry.get("config")
    if isinstance(conf, Mapping):
        if entry.get("class_name") in _MODEL_CLASSES:
            entry["config"] = _normalize_model_config(entry["class_name"], conf)
        else:
            entry["config"] = _drop_neutral(entry.get("class_name"), _normalize_layer_config(conf))
    if "inbound_nodes" in entry or "inboundNodes" in entry:
        nodes = entry.pop("inbound_nodes", None) or entry.pop("inboundNodes", None) or []
        entry["inbound_nodes"] = [_keras3_node(n) for n in nodes]
    return entry


def _normalize_model_config(class_name: str, config: Any) -> Any:
    if isinstance(config, list):  # very old Sequential: a bare list of layers
        config = {"layers": config}
    config = {to_snake_case(k) if k != "name" else k: v for k, v in config.items()}
    config["layers"] = [_normalize_entry(e) for e in config.get("layers") or []]
    for key in ("input_layers", "output_layers"):
        refs = config.get(key)
        if refs and isinstance(refs[0], str):  # Keras 3 single ref: ["name", 0, 0]
            config[key] = [refs]
    return config


#: Layer settings that size something (weights, outputs): integers, or lists of them.
_SIZE_KEYS = {
    "units",
    "filters",
    "kernel_size",
    "strides",
    "pool_size",
    "dilation_rate",
    "depth_multiplier",
    "input_dim",
    "output_dim",
    "input_length",
    "n",
    "size",
    "dims",
    "target_shape",
    "batch_input_shape",
    "input_shape",
    "batch_size",
    "height",  # Resizing, CenterCrop: no weights, so the weight guard cannot bound them
    "width",
    "num_tokens",  # CategoryEncoding
}
#: Largest size accepted in a topology (what an int32 shape can hold).
MAX_SIZE = 2**31 - 1


def _check_sizes(lname: Any, conf: Mapping, where: str) -> None:
    """Sizes in a layer config must be integers in ``0..MAX_SIZE`` (``None`` where a size is
    free, ``-1`` in ``target_shape``), never floats, booleans or strings: TF.js refuses them
    and our constructors would round or overflow."""
    for key in _SIZE_KEYS & set(conf):
        value = conf[key]
        items = value if isinstance(value, list) else [value]
        low = -1 if key == "target_shape" else 0
        for v in items:
            if v is None:
                continue
            if not isinstance(v, int) or isinstance(v, bool) or not low <= v <= MAX_SIZE:
                raise ModelLoadError(
                    f"{where}: layer {lname!r:.80} has {key} {value!r:.80}; expected "
                    f"{'integers' if isinstance(value, list) else 'an integer'} in {low}..{MAX_SIZE}"
                )


def _check_classes(entries: Any, where: str) -> None:
    """Reject unknown layer classes and malformed sizes up front, naming the layer."""
    if not isinstance(entries, list):
        raise ModelLoadError(f"{where}: layers must be a list, got {type(entries).__name__}")
    for e in entries:
        if not isinstance(e, Mapping) or "class_name" not in e:
            raise ModelLoadError(f"{where}: a layer entry lacks class_name: {str(e)[:200]}")
        cls = e["class_name"]
        if not isinstance(cls, str):
            raise ModelLoadError(
                f"{where}: a layer entry has class_name {cls!r:.80}; expected a string"
            )
        conf = e.get("config") or {}
        if not isinstance(conf, Mapping):
            raise ModelLoadError(
                f"{where}: layer entry {cls!r} has config {str(conf)[:80]}; expected an object"
            )
        lname = (
            conf.get("name", e.get("name", "?"))
            if isinstance(conf, Mapping)
            else e.get("name", "?")
        )
        if cls in _MODEL_CLASSES:
            _check_classes(list(conf.get("layers") or []), where)
            continue
        if cls not in LAYER_CLASSES:
            hint = did_you_mean(cls, LAYER_CLASSES)
            raise ModelLoadError(
                f"{where}: layer {lname!r} has unknown class {cls!r}{hint}; known layer classes: {', '.join(sorted(LAYER_CLASSES))}"
            )
        _check_sizes(lname, conf, where)
        nested = [conf[k] for k in ("layer", "backward_layer") if isinstance(conf.get(k), Mapping)]
        _check_classes(nested, where)


def model_from_topology(topology: Mapping, where: str = "model topology") -> Model:
    """Build a model (weights freshly initialised) from a ``modelTopology`` (TF.js or Keras JSON)."""
    if not isinstance(topology, Mapping):
        raise ModelLoadError(
            f"{where}: modelTopology must be an object, got {type(topology).__name__}"
        )
    if "model_config" in topology:  # the Keras-converter form
        topology = topology["model_config"]
        if not isinstance(topology, Mapping):
            raise ModelLoadError(f"{where}: modelTopology.model_config must be an object")
    topology = {("class_name" if k == "className" else k): v for k, v in topology.items()}
    class_name = topology.get("class_name")
    if not isinstance(class_name, str) or class_name not in _MODEL_CLASSES:
        raise ModelLoadError(
            f"{where}: modelTopology.class_name is {class_name!r:.80}; expected 'Sequential' or 'Model' (or Keras 'Functional')"
        )
    raw = topology.get("config") or {}
    if not isinstance(raw, (Mapping, list)):
        raise ModelLoadError(
            f"{where}: modelTopology.config must be an object, got {type(raw).__name__}"
        )
    try:
        config = _normalize_model_config(class_name, raw)
        _check_classes(config["layers"], where)
        return _MODEL_CLASSES[class_name].from_config(config)
    except ModelLoadError:
        raise
    except Exception as e:  # malformed config (wrong types, missing keys) or a layer refused it
        raise ModelLoadError(
            f"{where}: cannot build the {class_name} model: {type(e).__name__}: {str(e)[:500]}"
        ) from e


# --- loading: training config and optimizer ----------------------------------------------------------
#: Keras optimizer settings with no effect on the update (bookkeeping, or off by default).
_OPT_IGNORED = {
    "name",
    "jit_compile",
    "is_legacy_optimizer",
    "ema_momentum",
    "ema_overwrite_frequency",
}
_OPT_KEY_ALIASES = {
    "lr": "learning_rate",
    "beta_1": "beta1",
    "beta_2": "beta2",
    "nesterov": "use_nesterov",
}


def optimizer_from_config(spec: Any, where: str) -> Any:
    """An optimizer from ``{class_name, config}`` in TF.js (camelCase) or Keras (snake_case,
    ``beta_1``, SGD with momentum) spelling; settings with no effect are ignored."""
    from engine import train

    if not isinstance(spec, Mapping) or "class_name" not in spec:
        raise ModelLoadError(
            f"{where}: trainingConfig.optimizer_config must be {{class_name, config}}, got {spec!r}"
        )
    spec = {("class_name" if k == "className" else k): v for k, v in spec.items()}
    cls = {k.lower(): c for k, c in train.CLASSES.items()}.get(
        str(spec["class_name"]).replace("_", "").lower()
    )
    if cls is None:
        hint = did_you_mean(spec["class_name"], train.CLASSES)
        raise ModelLoadError(
            f"{where}: unknown optimizer class {spec['class_name']!r}{hint}; known: {sorted(train.CLASSES)}"
        )
    raw = {
        _OPT_KEY_ALIASES.get(to_snake_case(k), to_snake_case(k)): v
        for k, v in (spec.get("config") or {}).items()
    }
    if cls is train.SGD and raw.get("momentum"):  # Keras SGD with momentum
        cls = train.Momentum
    params = set(inspect.signature(cls.__init__).parameters) - {"self"}
    config, dropped = {}, {}
    for key, v in raw.items():
        if key in params:
            config[key] = v
        elif key not in _OPT_IGNORED and v not in (None, False, 0):
            dropped[key] = v
    if dropped:
        warnings.warn(
            f"{where}: optimizer {spec['class_name']} settings not supported, ignored: {dropped}",
            stacklevel=3,
        )
    try:
        return cls(**config)
    except Exception as e:
        raise ModelLoadError(
            f"{where}: cannot build optimizer {spec['class_name']} from {config}: {e}"
        ) from e


__all__ = ["model_from_topology", "optimizer_from_config", "training_config"]
