"""The TF.js layers format's weights: TF.js weight names, the manifest, encoding, decoding
(groups, shards, quantisation) and matching by name (``docs/tfjs-compat.md`` §5).

Model files are untrusted input. What the loader checks, before it reads or allocates:

* ``model.json`` is a regular file (opened non-blocking, so a FIFO never hangs) of at most
  :data:`MAX_JSON_BYTES`, UTF-8, strict JSON: no ``NaN``/``Infinity`` and no number that
  overflows to infinity (JavaScript's ``JSON.parse`` refuses them too), nested at most
  :data:`MAX_JSON_DEPTH` deep.
* Every manifest group has ``paths`` (non-empty strings) and ``weights``; every entry a string
  ``name`` (unique across the manifest), a ``shape`` of at most :data:`MAX_RANK` non-negative
  integers, a dtype ``float32``/``int32``/``bool`` and, if quantised, ``uint8``/``uint16`` with
  finite numeric ``scale`` and ``min`` whose range fits the dtype, or ``float16`` for float32.
* Every weight path is relative, has no ``..`` part and, with symbolic links resolved, stays
  inside the model folder; it must name a regular file (not a directory, FIFO, device or
  socket: ``stat`` before opening, ``fstat`` after). The message of a refusal names the path
  as written in the manifest, never the size or contents of anything outside the folder.
* The sizes (``fstat``) of a group's files must add up to exactly the bytes its entries need
  before any byte is read; the decoded weights of a load must fit ``max_weight_bytes``
  (default: half the machine's memory, :func:`default_max_weight_bytes`).

Any violation raises :class:`ModelLoadError` (a ``ValueError``) naming the file. The checks of
the topology (sizes against the manifest before any weight is allocated) are in
:mod:`layers.saving` and :mod:`layers.tfjs_topology`."""

from __future__ import annotations

import json
import math
import os
import stat
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
    from layers.recurrent import RNN, Bidirectional, StackedRNNCells, TimeDistributed

    for e in layer._entries:
        out.setdefault(id(e.var), prefix + e.short_name)
    if isinstance(layer, Model):  # a nested model: its layers keep their own names (TF.js)
        for sub in layer.layers:
            if not isinstance(sub, InputLayer):
                _collect_names(sub, sub.name + "/", out)
        return
    for i, sub in enumerate(layer._sublayers):
        if isinstance(layer, (TimeDistributed, RNN)):
            sub_prefix = prefix  # TF.js builds the wrapped layer / cell in the layer's scope
        elif isinstance(layer, StackedRNNCells):
            sub_prefix = f"{prefix}RNNCell_{i}/"  # TF.js's name scope of each stacked cell
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


# --- loading: untrusted files ---------------------------------------------------------------------------
#: model.json larger than this is refused before it is read.
MAX_JSON_BYTES = 256 * 2**20
#: deepest nesting of objects/arrays accepted in model.json (real topologies stay below ~25).
MAX_JSON_DEPTH = 100
#: most dimensions a weight may have in the manifest.
MAX_RANK = 32

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO opens at once instead of waiting for a writer
    | getattr(os, "O_NOFOLLOW", 0)  # the path is already resolved; a link swapped in is refused
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def default_max_weight_bytes() -> int:
    """The default limit on the decoded weights of one load: half the machine's memory (8 GiB
    where it cannot be told)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_regular(path: str | os.PathLike, label: str) -> tuple[int, int]:
    """Open ``path`` for reading without blocking (a FIFO never hangs) and return ``(fd, size)``
    once ``fstat`` says it is a regular file; anything else raises :class:`ModelLoadError`
    (``label`` starts the message), except a missing file, which raises ``FileNotFoundError``
    for the caller to word. The caller closes the fd."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise
    except OSError as e:
        raise ModelLoadError(f"{label}: cannot read: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):  # refuse before opening: opening a device can act
        raise ModelLoadError(f"{label}: is {_kind(st.st_mode)}, expected a regular file")
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise
    except OSError as e:
        raise ModelLoadError(f"{label}: cannot open: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # replaced between stat and open
            raise ModelLoadError(f"{label}: is {_kind(st.st_mode)}, expected a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def read_into(fd: int, view: memoryview, label: str) -> None:
    """Fill ``view`` from ``fd`` (a regular file whose size was checked); a file that shrank
    meanwhile raises :class:`ModelLoadError`."""
    with os.fdopen(fd, "rb", buffering=0, closefd=False) as f:
        got = 0
        while got < len(view):
            try:
                n = f.readinto(view[got:])
            except OSError as e:
                raise ModelLoadError(f"{label}: cannot read: {e.strerror}") from None
            if not n:
                raise ModelLoadError(
                    f"{label}: the file shrank while it was read ({got} of {len(view)} bytes)"
                )
            got += n


def resolve_inside(folder: Path, rel: Any, label: str) -> str:
    """The real path of the weight file ``rel`` of the model folder ``folder``: a non-empty
    relative path that, with every symbolic link resolved, stays inside the folder. The message
    of a refusal names ``rel`` only, never what lies outside."""
    if not isinstance(rel, str) or not rel or "\0" in rel:
        raise ModelLoadError(f"{label}: a weight path must be a non-empty string, got {rel!r:.80}")
    if os.path.isabs(rel) or rel.startswith("\\") or (len(rel) > 1 and rel[1] == ":"):
        raise ModelLoadError(
            f"{label}: weight path {rel!r:.200} is absolute; paths must be relative to the model folder"
        )
    if ".." in rel.replace("\\", "/").split("/"):
        raise ModelLoadError(
            f"{label}: weight path {rel!r:.200} leaves the model folder ('..' is not allowed)"
        )
    base = os.path.realpath(folder)
    full = os.path.realpath(os.path.join(base, rel))
    if full == base or os.path.commonpath([base, full]) != base:
        raise ModelLoadError(
            f"{label}: weight path {rel!r:.200} leads outside the model folder (a symbolic link?)"
        )
    return full


def _opened_inside(fd: int, folder: Path, rel: str, label: str) -> None:
    """Where the kernel can say which file ``fd`` is (Linux ``/proc/self/fd``), check again
    that it lies inside ``folder``: a folder swapped for a link between the check and the open
    is caught before a byte is read."""
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return  # no /proc: the resolve-then-open check is all there is
    base = os.path.realpath(folder)
    if real == base or os.path.commonpath([base, real]) != base:
        raise ModelLoadError(
            f"{label}: weight path {rel!r:.200} leads outside the model folder (it changed while it was opened)"
        )


def _strict_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON (non-finite numbers are not allowed)")


def parse_json_text(text: str, label: str) -> Any:
    """Strict JSON (no NaN/Infinity, no number that overflows to infinity, at most
    :data:`MAX_JSON_DEPTH` levels deep); anything else raises :class:`ModelLoadError`."""
    try:
        doc = json.loads(text, parse_float=_strict_float, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise ModelLoadError(
            f"{label}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}"
        ) from None
    except RecursionError:
        raise ModelLoadError(
            f"{label}: invalid model file: JSON nested deeper than {MAX_JSON_DEPTH} levels"
        ) from None
    except (ValueError, MemoryError) as e:
        raise ModelLoadError(f"{label}: invalid JSON: {str(e)[:200]}") from None
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise ModelLoadError(
                    f"{label}: invalid model file: JSON nested deeper than {MAX_JSON_DEPTH} levels"
                )
            items = value.values() if isinstance(value, dict) else value
            stack.extend((v, depth + 1) for v in items)
    return doc


def read_json_file(path: Path) -> Any:
    """``path`` parsed as strict JSON (see :func:`parse_json_text`); it must be a regular file
    of at most :data:`MAX_JSON_BYTES` bytes."""
    fd, size = open_regular(path, str(path))
    try:
        if size > MAX_JSON_BYTES:
            raise ModelLoadError(
                f"{path}: {size} bytes; model.json files over {MAX_JSON_BYTES} bytes are refused"
            )
        buf = bytearray(size)
        read_into(fd, memoryview(buf), str(path))
    finally:
        os.close(fd)
    try:
        text = buf.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ModelLoadError(
            f"{path}: cannot read: not UTF-8 text ({e.reason} at byte {e.start})"
        ) from None
    return parse_json_text(text, str(path))


# --- loading: weights ---------------------------------------------------------------------------------
class DecodedWeight:
    """One manifest entry read back: its name, value (numpy, dequantised), spec and file."""

    __slots__ = ("name", "value", "spec", "file")

    def __init__(self, name: str, value: np.ndarray, spec: dict, file: str):
        self.name, self.value, self.spec, self.file = name, value, spec, file


class WeightPlan:
    """A weight entry of the manifest, checked: name, shape, dtype, stored dtype, byte count,
    quantization (``(scale, min)``, ``"float16"`` or None) and the entry itself."""

    __slots__ = ("name", "shape", "dtype", "stored", "count", "nbytes", "quant", "spec")

    def __init__(
        self,
        name: str,
        shape: tuple[int, ...],
        dtype: str,
        stored: np.dtype,
        count: int,
        quant: tuple[float, float] | str | None,
        spec: dict,
    ):
        self.name, self.shape, self.dtype, self.stored = name, shape, dtype, stored
        self.count, self.nbytes = count, count * stored.itemsize
        self.quant, self.spec = quant, spec


class GroupPlan:
    """A checked group of the manifest: its index, weight paths and entries; nothing read yet."""

    __slots__ = ("index", "paths", "weights")

    def __init__(self, index: int, paths: list[str], weights: list[WeightPlan]):
        self.index, self.paths, self.weights = index, paths, weights

    @property
    def nbytes(self) -> int:
        """Bytes the group's files must hold together."""
        return sum(w.nbytes for w in self.weights)

    @property
    def decoded_bytes(self) -> int:
        """Bytes of the decoded (dequantised) arrays."""
        return sum(w.count * _DTYPES[w.dtype].itemsize for w in self.weights)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _plan_quant(q: Any, name: str, dtype: str, where: str) -> tuple[np.dtype, tuple | None]:
    if not isinstance(q, Mapping) or q.get("dtype") not in _QUANT:
        raise ModelLoadError(
            f"{where}: weight {name!r} has quantization {str(q)[:200]}; expected dtype uint8, uint16 or float16"
        )
    qd = q["dtype"]
    if qd == "float16":
        if dtype != "float32":
            raise ModelLoadError(
                f"{where}: weight {name!r}: float16 quantization needs dtype float32, got {dtype}"
            )
        return _QUANT[qd], None
    if dtype not in ("float32", "int32"):
        raise ModelLoadError(f"{where}: weight {name!r}: cannot dequantize to dtype {dtype}")
    scale, minimum = q.get("scale"), q.get("min")
    ok = all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        for v in (scale, minimum)
    )
    if not ok:
        raise ModelLoadError(
            f"{where}: weight {name!r}: {qd} quantization needs finite numeric 'scale' and 'min', "
            f"got scale={scale!r:.40} min={minimum!r:.40}"
        )
    top = float(minimum) + float(scale) * float(np.iinfo(_QUANT[qd]).max)
    limit = float(np.finfo(np.float32).max) if dtype == "float32" else 2.0**31 - 1
    if not all(math.isfinite(v) and abs(v) <= limit for v in (float(minimum), top)):
        raise ModelLoadError(
            f"{where}: weight {name!r}: {qd} quantization with scale {scale} and min {minimum} "
            f"reaches {top:g}, outside the range of {dtype}"
        )
    return _QUANT[qd], (float(scale), float(minimum))


def plan_group(group: Any, gi: int, where: str) -> GroupPlan:
    """Check weight group ``gi`` of a manifest (``where`` names model.json) without reading any
    file: ``paths`` a non-empty list of strings, every entry a name, a shape of at most
    :data:`MAX_RANK` non-negative sizes, a supported dtype and, if quantised, a valid scheme with
    finite scale and min."""
    if not isinstance(group, Mapping):
        raise ModelLoadError(
            f"{where}: weightsManifest[{gi}] must be an object with paths and weights"
        )
    specs = group.get("weights")
    if not isinstance(specs, list):
        raise ModelLoadError(f"{where}: weightsManifest[{gi}] has no 'weights' list")
    paths = group.get("paths")
    if not isinstance(paths, list) or not paths:
        raise ModelLoadError(f"{where}: weightsManifest[{gi}] has no 'paths' list of weight files")
    for p in paths:
        if not isinstance(p, str) or not p:
            raise ModelLoadError(
                f"{where}: weightsManifest[{gi}].paths holds {p!r:.80}; expected file names (strings)"
            )
    out = []
    for spec in specs:
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
            raise ModelLoadError(
                f"{where}: weightsManifest[{gi}] has an entry without a name: {str(spec)[:200]}"
            )
        name = spec["name"]
        shape, dtype = spec.get("shape"), spec.get("dtype")
        if (
            not isinstance(shape, list)
            or len(shape) > MAX_RANK
            or not all(_is_int(s) and s >= 0 for s in shape)
        ):
            raise ModelLoadError(
                f"{where}: weight {name!r} has an invalid shape {str(shape)[:200]}; expected a list of "
                f"at most {MAX_RANK} non-negative sizes"
            )
        if not isinstance(dtype, str) or dtype not in _DTYPES:
            raise ModelLoadError(
                f"{where}: weight {name!r} has dtype {dtype!r:.80}; supported: {', '.join(_DTYPES)} (string and complex weights are not)"
            )
        group_name = spec.get("group")
        if group_name is not None and not isinstance(group_name, str):
            raise ModelLoadError(
                f"{where}: weight {name!r} has group {group_name!r:.80}; expected a string"
            )
        q = spec.get("quantization")
        quant: tuple[float, float] | str | None = None
        stored = _DTYPES[dtype]
        if q is not None:
            stored, scheme = _plan_quant(q, name, dtype, where)
            quant = "float16" if scheme is None else scheme
        out.append(
            WeightPlan(name, tuple(shape), dtype, stored, math.prod(shape), quant, dict(spec))
        )
    return GroupPlan(gi, list(paths), out)


def read_group(folder: Path, plan: GroupPlan, where: str) -> list[DecodedWeight]:
    """Open every file of ``plan`` (resolved inside ``folder``, regular files only), check that
    their sizes add up to what the manifest describes before reading a byte, then read and
    decode the group."""
    gi, paths = plan.index, plan.paths
    label = f"{where}: weightsManifest[{gi}]"
    names = [w.name for w in plan.weights]
    fds: list[tuple[int, int, str]] = []
    try:
        for k, p in enumerate(paths):
            full = resolve_inside(folder, p, label)
            shown = str(folder / p)
            try:
                fd, size = open_regular(full, f"{shown}: weight file {p!r}")
            except FileNotFoundError:
                raise ModelLoadError(
                    f"{shown}: weight file missing (shard {k + 1} of {len(paths)} of weightsManifest[{gi}] in {where}, "
                    f"holding weights among {names[:8]}{' ...' if len(names) > 8 else ''})"
                ) from None
            fds.append((fd, size, shown))
            _opened_inside(fd, folder, p, label)
        _check_sizes(plan, fds, where)
        try:
            buf = bytearray(plan.nbytes)
        except MemoryError:
            raise ModelLoadError(
                f"{label}: {plan.nbytes} bytes of weights do not fit in memory"
            ) from None
        view, at = memoryview(buf), 0
        for fd, size, shown in fds:
            read_into(fd, view[at : at + size], shown)
            at += size
    finally:
        for fd, _, _ in fds:
            os.close(fd)
    return _decode(buf, plan, fds, where)


def _check_sizes(plan: GroupPlan, fds: list[tuple[int, int, str]], where: str) -> None:
    have = sum(size for _, size, _ in fds)
    need = plan.nbytes
    files = ", ".join(Path(f).name for _, _, f in fds)
    if have > need:
        raise ModelLoadError(
            f"{fds[-1][2]}: weight file(s) {files} of group {plan.index} hold {have} bytes but the manifest in "
            f"{where} describes {need}; the files and model.json disagree (a partial or mixed save?)"
        )
    if have < need:
        offset = 0
        for w in plan.weights:
            if offset + w.nbytes > have:
                break
            offset += w.nbytes
        end, shown = 0, fds[-1][2]
        for _, size, f in fds:
            end += size
            if min(offset, max(have - 1, 0)) < end:
                shown = f
                break
        raise ModelLoadError(
            f"{shown}: truncated weight data: weight {w.name!r} (shape {list(w.shape)}, {w.stored.name}) needs "
            f"bytes {offset}..{offset + w.nbytes} of group {plan.index} but its file(s) {files} hold {have} bytes"
        )


def _decode(
    buf: bytearray, plan: GroupPlan, fds: list[tuple[int, int, str]], where: str
) -> list[DecodedWeight]:
    bounds, end = [], 0
    for _, size, shown in fds:
        end += size
        bounds.append((end, shown))
    out, offset = [], 0
    for w in plan.weights:
        raw = np.frombuffer(buf, dtype=w.stored, count=w.count, offset=offset).reshape(w.shape)
        file = _file_at(bounds, offset) if w.nbytes else bounds[0][1]
        offset += w.nbytes
        if w.quant is not None:
            value = _dequantize(raw, w)
        elif w.dtype == "bool":
            value = raw.astype(bool)
        else:
            value = raw.astype(raw.dtype.newbyteorder("="))
        out.append(DecodedWeight(w.name, value, w.spec, file))
    return out


def _file_at(bounds: list[tuple[int, str]], offset: int) -> str:
    for end, name in bounds:
        if offset < end:
            return name
    return bounds[-1][1]


def decode_group(folder: Path, group: Mapping, gi: int, where: str) -> list[DecodedWeight]:
    """Read weight group ``gi`` (its shards concatenated, files relative to ``folder``) and
    decode every entry: :func:`plan_group` then :func:`read_group`."""
    return read_group(folder, plan_group(group, gi, where), where)


def _dequantize(raw: np.ndarray, w: WeightPlan) -> np.ndarray:
    if w.quant == "float16":
        return raw.astype(np.float32)
    scale, minimum = w.quant
    values = raw.astype(np.float64) * scale + minimum
    if w.dtype == "float32":
        return values.astype(np.float32)
    return np.round(values).astype(np.int32)


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
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_RANK",
    "MODEL_JSON",
    "OPTIMIZER_GROUP",
    "TFJS_LAYERS_VERSION",
    "WEIGHTS_BIN",
    "DecodedWeight",
    "GroupPlan",
    "ModelLoadError",
    "WeightPlan",
    "decode_group",
    "default_max_weight_bytes",
    "open_regular",
    "parse_json_text",
    "plan_group",
    "read_group",
    "read_json_file",
    "resolve_inside",
    "encode_weights",
    "generated_by",
    "match_weights",
    "name_aliases",
    "weight_names",
]
