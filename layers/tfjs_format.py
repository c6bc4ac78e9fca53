"""The TF.js layers format's weights: TF.js weight names, the manifest, encoding, decoding
(groups, shards, quantisation) and matching by name (``shared/spec/tfjs-compat.md`` §5)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

import engine as tw
from layers.base import InputLayer, Layer
from layers.models import Model

FORMAT = "layers-model"
#: The tfjs-layers release whose format we write (``keras_version`` names it, as TF.js does).
TFJS_LAYERS_VERSION = "4.22.0"
MODEL_JSON = "model.json"
WEIGHTS_BIN = "weights.bin"
OPTIMIZER_GROUP = "optimizer"

#: manifest dtype -> little-endian numpy dtype of the stored bytes
_DTYPES = {"float32": np.dtype("<f4"), "int32": np.dtype("<i4"), "bool": np.dtype("u1")}
#: quantisation dtype -> numpy dtype of the stored bytes
_QUANT = {"uint8": np.dtype("u1"), "uint16": np.dtype("<u2"), "float16": np.dtype("<f2")}


class ModelLoadError(ValueError):
    """A saved model that cannot be loaded: the message names the file and, where one is at
    fault, the weight or layer."""


def generated_by() -> str:
    """The ``generatedBy`` of files we write: ``tensorweave <version>``."""
    try:
        from importlib.metadata import version

        return f"tensorweave {version('tensorweave')}"
    except Exception:  # not installed as a distribution (running from a checkout)
        return "tensorweave"


# --- weight names -----------------------------------------------------------------------------------
def _collect_names(layer: Layer, prefix: str, out: dict[int, str]) -> None:
    from layers.recurrent import Bidirectional, TimeDistributed

    for e in layer._entries:
        out.setdefault(id(e.var), prefix + e.short_name)
    if isinstance(layer, Model):  # a nested model: its layers keep their own names (TF.js)
        for sub in layer.layers:
            if not isinstance(sub, InputLayer):
                _collect_names(sub, sub.name + "/", out)
        return
    for sub in layer._sublayers:
        if isinstance(layer, TimeDistributed):
            sub_prefix = prefix  # TF.js builds the wrapped layer in the wrapper's scope
        elif isinstance(layer, Bidirectional) and not sub.name.startswith(
            ("forward_", "backward_")
        ):
            sub_prefix = (
                prefix
                + ("forward_" if sub is layer.forward_layer else "backward_")
                + sub.name
                + "/"
            )
        else:
            sub_prefix = prefix + sub.name + "/"
        _collect_names(sub, sub_prefix, out)


def weight_names(model: Model) -> list[tuple[str, Any]]:
    """``(manifest name, variable)`` for every weight of ``model`` in ``model.weights`` order
    (trainable first), named as TF.js names them."""
    names: dict[int, str] = {}
    for layer in model.layers:
        if not isinstance(layer, InputLayer):
            _collect_names(layer, layer.name + "/", names)
    out = [(names.get(id(v), v.name), v) for v in model.weights]
    seen: dict[str, int] = {}
    for n, _ in out:
        seen[n] = seen.get(n, 0) + 1
    dup = sorted(n for n, c in seen.items() if c > 1)
    if dup:
        raise ValueError(
            f"model {model.name!r} has several weights named {dup}; layer names must be unique"
        )
    return out


# --- encoding -----------------------------------------------------------------------------------------
def _as_array(value: Any) -> np.ndarray:
    return value.numpy() if isinstance(value, tw.Tensor) else np.asarray(value)


def encode_weights(
    named: list[tuple[str, Any]], group: str | None = None
) -> tuple[list[dict], list[bytes]]:
    """Manifest entries (``name``, ``shape``, ``dtype``, and ``group`` when given) and the raw
    little-endian bytes of each ``(name, array or tensor)``, as TF.js's ``encodeWeights``."""
    specs, chunks = [], []
    for name, value in named:
        arr = _as_array(value)
        if arr.dtype == np.bool_:
            dtype = "bool"
        elif arr.dtype.kind in "iu":
            dtype = "int32"
        elif arr.dtype.kind == "f":
            dtype = "float32"
        else:
            raise ValueError(
                f"weight {name!r}: cannot save dtype {arr.dtype}; the format holds float32, int32 and bool"
            )
        data = np.ascontiguousarray(arr, dtype=_DTYPES[dtype]).tobytes()
        spec: dict[str, Any] = {"name": name, "shape": [int(s) for s in arr.shape], "dtype": dtype}
        if group is not None:
            spec["group"] = group
        specs.append(spec)
        chunks.append(data)
    return specs, chunks


# --- loading: weights ---------------------------------------------------------------------------------
class DecodedWeight:
    """One manifest entry read back: its name, value (numpy, dequantised), spec and file."""

    __slots__ = ("name", "value", "spec", "file")

    def __init__(self, name: str, value: np.ndarray, spec: dict, file: str):
        self.name, self.value, self.spec, self.file = name, value, spec, file


def _read_group(
    folder: Path, group: Mapping, gi: int, where: str
) -> tuple[bytes, list[tuple[int, str]]]:
    paths = group.get("paths")
    if not isinstance(paths, list) or not paths:
        raise ModelLoadError(f"{where}: weightsManifest[{gi}] has no 'paths' list of weight files")
    chunks, bounds, end = [], [], 0
    names = [w.get("name") for w in group.get("weights") or [] if isinstance(w, Mapping)]
    for k, p in enumerate(paths):
        fp = folder / p
        try:
            data = fp.read_bytes()
        except FileNotFoundError:
            raise ModelLoadError(
                f"{fp}: weight file missing (shard {k + 1} of {len(paths)} of weightsManifest[{gi}] in {where}, "
                f"holding weights among {names[:8]}{' ...' if len(names) > 8 else ''})"
            ) from None
        except OSError as e:
            raise ModelLoadError(f"{fp}: cannot read weight file: {e}") from e
        chunks.append(data)
        end += len(data)
        bounds.append((end, str(fp)))
    return b"".join(chunks), bounds


def _file_at(bounds: list[tuple[int, str]], offset: int) -> str:
    for end, name in bounds:
        if offset < end:
            return name
    return bounds[-1][1]


def decode_group(folder: Path, group: Mapping, gi: int, where: str) -> list[DecodedWeight]:
    """Read weight group ``gi`` (its shards concatenated, files relative to ``folder``) and
    decode every entry; sizes are checked against the manifest (``where`` names it)."""
    specs = group.get("weights")
    if not isinstance(specs, list):
        raise ModelLoadError(f"{where}: weightsManifest[{gi}] has no 'weights' list")
    buf, bounds = _read_group(folder, group, gi, where)
    files = ", ".join(Path(f).name for _, f in bounds)
    out, offset = [], 0
    for spec in specs:
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
            raise ModelLoadError(
                f"{where}: weightsManifest[{gi}] has an entry without a name: {str(spec)[:200]}"
            )
        name = spec["name"]
        shape, dtype = spec.get("shape"), spec.get("dtype")
        if not isinstance(shape, list) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape
        ):
            raise ModelLoadError(
                f"{where}: weight {name!r} has an invalid shape {shape!r}; expected a list of sizes"
            )
        if dtype not in _DTYPES:
            raise ModelLoadError(
                f"{where}: weight {name!r} has dtype {dtype!r}; supported: {', '.join(_DTYPES)} (string and complex weights are not)"
            )
        count = math.prod(shape)
        q = spec.get("quantization")
        if q is not None:
            if not isinstance(q, Mapping) or q.get("dtype") not in _QUANT:
                raise ModelLoadError(
                    f"{where}: weight {name!r} has quantization {q!r}; expected dtype uint8, uint16 or float16"
                )
            stored = _QUANT[q["dtype"]]
        else:
            stored = _DTYPES[dtype]
        nbytes = count * stored.itemsize
        if offset + nbytes > len(buf):
            raise ModelLoadError(
                f"{_file_at(bounds, min(offset, max(len(buf) - 1, 0)))}: truncated weight data: weight {name!r} "
                f"(shape {shape}, {stored.name}) needs bytes {offset}..{offset + nbytes} of group {gi} "
                f"but its file(s) {files} hold {len(buf)} bytes"
            )
        raw = np.frombuffer(buf, dtype=stored, count=count, offset=offset).reshape(shape)
        file = _file_at(bounds, offset) if nbytes else bounds[0][1]
        offset += nbytes
        if q is not None:
            value = _dequantize(raw, q, dtype, name, where)
        elif dtype == "bool":
            value = raw.astype(bool)
        else:
            value = raw.astype(raw.dtype.newbyteorder("="))
        out.append(DecodedWeight(name, value, dict(spec), file))
    if offset != len(buf):
        raise ModelLoadError(
            f"{bounds[-1][1]}: weight file(s) {files} of group {gi} hold {len(buf)} bytes but the manifest in "
            f"{where} describes {offset}; the files and model.json disagree (a partial or mixed save?)"
        )
    return out


def _dequantize(raw: np.ndarray, q: Mapping, dtype: str, name: str, where: str) -> np.ndarray:
    if q["dtype"] == "float16":
        if dtype != "float32":
            raise ModelLoadError(
                f"{where}: weight {name!r}: float16 quantization needs dtype float32, got {dtype}"
            )
        return raw.astype(np.float32)
    try:
        scale, minimum = float(q["scale"]), float(q["min"])
    except (KeyError, TypeError, ValueError):
        raise ModelLoadError(
            f"{where}: weight {name!r}: {q['dtype']} quantization needs numeric 'scale' and 'min', got {dict(q)}"
        ) from None
    values = raw.astype(np.float64) * scale + minimum
    if dtype == "float32":
        return values.astype(np.float32)
    if dtype == "int32":
        return np.round(values).astype(np.int32)
    raise ModelLoadError(f"{where}: weight {name!r}: cannot dequantize to dtype {dtype}")


def name_aliases(name: str) -> list[str]:
    """Names to try for a manifest entry: itself, without Keras's ``:0``, and TF.js's shortened
    form (the two scopes before the last token dropped: ``lstm/lstm_cell/kernel`` -> ``lstm/kernel``)."""
    out = [name]
    if name.endswith(":0"):
        out.append(name[:-2])
    tokens = out[-1].split("/")
    if len(tokens) > 2:
        out.append("/".join(tokens[:-2] + tokens[-1:]))
    return out


def match_weights(
    model: Model, decoded: list[DecodedWeight], where: str
) -> list[tuple[Any, np.ndarray]]:
    """``(variable, value)`` for every weight of ``model``, matched by name, after checking that
    each entry names one model weight of the same shape and dtype and that none is missing."""
    named = weight_names(model)
    by_name: dict[str, Any] = {}
    for n, v in named:
        by_name[n] = v
    for _n, v in named:  # our own variable names as a second spelling
        by_name.setdefault(v.name, v)
    assigned: dict[int, str] = {}
    pairs = []
    for d in decoded:
        var = next((by_name[a] for a in name_aliases(d.name) if a in by_name), None)
        if var is None:
            raise ModelLoadError(
                f"{d.file}: weight {d.name!r} matches no weight of the model built from {where}; "
                f"the model's weights: {[n for n, _ in named]}"
            )
        if id(var) in assigned:
            raise ModelLoadError(
                f"{d.file}: weight {d.name!r} sets the same model weight as {assigned[id(var)]!r}"
            )
        if tuple(d.value.shape) != tuple(var.shape):
            raise ModelLoadError(
                f"{d.file}: weight {d.name!r} has shape {list(d.value.shape)} in the manifest but the model's "
                f"weight has shape {list(var.shape)}"
            )
        if d.spec["dtype"] != var.dtype:
            raise ModelLoadError(
                f"{d.file}: weight {d.name!r} has dtype {d.spec['dtype']} in the manifest but the model's weight is {var.dtype}"
            )
        assigned[id(var)] = d.name
        pairs.append((var, d.value))
    missing = [n for n, v in named if id(v) not in assigned]
    if missing:
        raise ModelLoadError(
            f"{where}: the weights manifest lacks {len(missing)} of the model's weights: {missing}"
        )
    return pairs


__all__ = [
    "FORMAT",
    "MODEL_JSON",
    "OPTIMIZER_GROUP",
    "TFJS_LAYERS_VERSION",
    "WEIGHTS_BIN",
    "DecodedWeight",
    "ModelLoadError",
    "decode_group",
    "encode_weights",
    "generated_by",
    "match_weights",
    "name_aliases",
    "weight_names",
]
