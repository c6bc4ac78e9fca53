"""Save and load models in the TensorFlow.js layers format (``docs/tfjs-compat.md`` §5).

A saved model is a folder holding ``model.json`` (``modelTopology`` in Keras JSON, a
``weightsManifest``, ``format: "layers-model"``, optionally ``trainingConfig``) and
``weights.bin`` (the raw little-endian arrays in manifest order: trainable weights, then
non-trainable ones, then, with ``include_optimizer``, the optimizer's ``iter`` and slots in
group ``optimizer``). Weight names are TF.js's: ``<layer name>/<weight name>``, wrapped layers
as TF.js scopes them (``bidirectional_Bidirectional1/forward_lstm_LSTM1/kernel``).

The format itself lives in :mod:`layers.tfjs_format` (weights) and :mod:`layers.tfjs_topology`
(JSON); this module writes and reads folders.

Saving is atomic: the files are written and fsynced in a temporary folder beside the target
(``.<name>.tmp-<pid>-<hex>``), which then replaces the target in one rename (an exchange on
Linux), so a crash or a full disk leaves the previous save intact. The target keeps its
permission bits (a new folder gets ``0o777`` less the umask) but gets a new inode; a target
that is a symbolic link to a folder is followed (the folder is replaced, the link stays).
Temporary folders left by a killed save are removed by the next save to the same target when
their process is gone or they are older than :data:`STALE_AFTER_S`.

Loading accepts the folder or its ``model.json``, several groups and shards, quantised weights
(uint8/uint16 with scale and min, float16), TF.js and Keras spellings (including the Keras 3
functional form). Model files are untrusted input; in order, :func:`load_model`

1. reads ``model.json`` as strict, bounded JSON from a regular file (never blocks on a FIFO);
2. checks every manifest group and entry (types, names unique, shapes, dtypes, finite
   quantisation) and that the decoded weights fit ``max_weight_bytes``;
3. confines every weight path to the folder (no absolute path, no ``..``, no symbolic link
   leading out; checked again on the opened file), opens regular files only and checks their
   ``fstat`` sizes against the manifest before reading a byte;
4. builds the model with a guard on ``Layer.add_weight``: each weight the topology creates
   must have the shape of an unclaimed manifest entry before it is allocated, so a topology
   with huge ``units``/``filters``/input shapes fails at once; sizes in layer configs must be
   integers in ``0..2**31-1``;
5. matches weights by name, compiles from ``trainingConfig`` and restores optimizer state.

Anything malformed or hostile raises :class:`ModelLoadError` (a ValueError) naming the file
(and the weight or layer), never another exception, and no half-loaded model escapes. The
rules are listed in :mod:`layers.tfjs_format`.
"""

from __future__ import annotations

import ctypes
import errno
import json
import math
import os
import re
import shutil
import stat
import sys
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

import engine as tw
from layers.base import WEIGHT_GUARD
from layers.models import Model, Sequential
from layers.tfjs_format import (
    FORMAT,
    MODEL_JSON,
    OPTIMIZER_GROUP,
    TFJS_LAYERS_VERSION,
    WEIGHTS_BIN,
    DecodedWeight,
    ModelLoadError,
    default_max_weight_bytes,
    encode_weights,
    generated_by,
    match_weights,
    name_aliases,
    plan_group,
    read_group,
    read_json_file,
    weight_names,
)
from layers.tfjs_topology import model_from_topology, optimizer_from_config, training_config


# --- paths ------------------------------------------------------------------------------------------
def _local_path(path: str | os.PathLike) -> Path:
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if text.startswith("file://"):
        text = text[len("file://") :]
    elif "://" in text:
        scheme = text.split("://", 1)[0]
        raise ValueError(
            f"unsupported location {text!r}: only local paths and file:// are supported, not {scheme}://"
        )
    if not text:
        raise ValueError("the model path is empty")
    return Path(text).expanduser()


def _optimizer_weights(model: Model, names: dict[str, str]) -> list[tuple[str, Any]]:
    """TF.js order: ``iter``, then for each slot kind, that slot of every trainable weight."""
    opt = model.optimizer
    entries = opt.get_weights()
    it = [e for e in entries if e["name"] == "iter"]
    slots: dict[str, Any] = {e["name"]: e["tensor"] for e in entries if e["name"] != "iter"}
    out: list[tuple[str, Any]] = [("iter", it[0]["tensor"] if it else np.int32(opt.iterations))]
    trainable = [v.name for v in model.trainable_weights]
    for slot in opt.slot_names:
        for vname in trainable:
            value = slots.get(f"{vname}/{slot}")
            if value is not None:
                out.append((f"{names[vname]}/{slot}", value))
    return out


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, set)):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} {value!r} to model.json")


def model_to_artifacts(model: Model, include_optimizer: bool = False) -> tuple[dict, bytes]:
    """The ``model.json`` content (with a manifest pointing at ``weights.bin``) and the weight
    bytes, as TF.js's ``model.save`` writes them."""
    if not isinstance(model, Model):
        raise TypeError(
            f"save expects a model (Sequential or functional), got {type(model).__name__}"
        )
    if not model.built:
        raise ValueError(
            f"model {model.name!r} is not built: give its first layer an input_shape (or call it on data) before saving"
        )
    topology = {
        "class_name": "Sequential" if isinstance(model, Sequential) else "Model",
        "config": model.get_config(),
        "keras_version": f"tfjs-layers {TFJS_LAYERS_VERSION}",
        "backend": "tensor_flow.js",
    }
    named = weight_names(model)
    specs, chunks = encode_weights([(n, v) for n, v in named])
    artifacts: dict[str, Any] = {
        "modelTopology": topology,
        "format": FORMAT,
        "generatedBy": generated_by(),
        "convertedBy": None,
    }
    if include_optimizer:
        if not getattr(model, "is_compiled", False) or model.optimizer is None:
            raise ValueError(
                f"include_optimizer=True but model {model.name!r} is not compiled; call compile() first "
                "or save with include_optimizer=False"
            )
        artifacts["trainingConfig"] = training_config(model)
        by_var = {v.name: n for n, v in named}
        ospecs, ochunks = encode_weights(_optimizer_weights(model, by_var), OPTIMIZER_GROUP)
        specs += ospecs
        chunks += ochunks
    artifacts["weightsManifest"] = [{"paths": [WEIGHTS_BIN], "weights": specs}]
    return artifacts, b"".join(chunks)


# --- atomic write ---------------------------------------------------------------------------------------
def _write_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` and fsync it."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the files themselves were synced
    finally:
        os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _swap_in(stage: Path, target: Path) -> Path | None:
    """Put ``stage`` at ``target`` in one step; returns the path now holding the old contents."""
    if not target.exists():
        os.rename(stage, target)
        return None
    if _exchange(stage, target):
        return stage
    backup = target.parent / _temp_name(target.name, "old")
    os.rename(target, backup)
    try:
        os.rename(stage, target)
    except BaseException:
        os.rename(backup, target)
        raise
    return backup


def _old_model_files(folder: Path) -> set[str]:
    """model.json and the weight files its manifest names (replaced by a new save)."""
    names = {MODEL_JSON}
    try:
        doc = read_json_file(folder / MODEL_JSON)  # a FIFO or a huge file is not waited on
        for group in doc.get("weightsManifest") or []:
            names.update(os.path.normpath(p) for p in group.get("paths") or [])
    except (OSError, ValueError, AttributeError, TypeError):
        pass
    return names


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _carry_over(old: Path, stage: Path, replaced: set[str]) -> None:
    """Keep files of the old folder that are not part of the model (hard links, no copies)."""
    for entry in old.iterdir():
        if entry.name in replaced or (stage / entry.name).exists():
            continue
        dst = stage / entry.name
        if entry.is_symlink():
            os.symlink(os.readlink(entry), dst)
        elif entry.is_dir():
            shutil.copytree(entry, dst, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(str(entry), str(dst))


#: A staging (``tmp``) or backup (``old``) folder of a save: ``.<target>.<kind>-<pid>-<hex>``.
_TEMP_RE = re.compile(r"^\.(?P<target>.+)\.(?P<kind>tmp|old)-(?:(?P<pid>\d+)-)?[0-9a-zA-Z_]{6,}$")
#: A temporary folder of a save older than this is stale even if its pid runs (pid reuse).
STALE_AFTER_S = 24 * 3600.0


def _temp_name(target_name: str, kind: str) -> str:
    return f".{target_name}.{kind}-{os.getpid()}-{uuid.uuid4().hex[:12]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # exists but belongs to someone else, or cannot be told: keep
    return True


def remove_stale_temp_folders(target: str | os.PathLike, now: float | None = None) -> list[Path]:
    """Remove the staging/backup folders that killed saves to ``target`` left beside it
    (``.<name>.tmp-<pid>-<hex>``, ``.<name>.old-<pid>-<hex>``): those whose process is gone, and
    any older than :data:`STALE_AFTER_S` (whose pid may have been reused). Folders of this
    process younger than that are kept (a save may be running in another thread), as is
    anything that is not a folder owned by the current user. Returns the removed paths."""
    target = Path(target)
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP_RE.match(entry.name)
        if m is None or m["target"] != target.name:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
            continue
        old = now - st.st_mtime > STALE_AFTER_S
        pid = int(m["pid"]) if m["pid"] else None
        dead = pid is not None and pid != os.getpid() and not _pid_alive(pid)
        if old or dead:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


def _resolve_target(folder: str | os.PathLike) -> Path:
    """The folder a save writes: ``folder`` with its parent resolved and, when ``folder`` is a
    symbolic link, the folder it points to (the link itself stays)."""
    target = Path(folder)
    target = target.parent.resolve() / target.name
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    return target


def _stage_folder(target: Path) -> tuple[Path, int]:
    """A new staging folder beside ``target`` (owner-writable while it is filled) and the mode
    it must get before the swap: that of ``target`` when it exists (its owner and group are
    copied too where permitted), else ``0o777`` less the umask, as ``mkdir`` makes it."""
    stage = target.parent / _temp_name(target.name, "tmp")
    os.mkdir(stage, 0o777)  # the umask applies, as for any new folder
    try:
        mode = stat.S_IMODE(os.stat(stage).st_mode)
        try:
            st = os.stat(target)
        except FileNotFoundError:
            st = None
        if st is not None:
            mode = stat.S_IMODE(st.st_mode)
            if hasattr(os, "chown") and (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
                try:
                    os.chown(stage, st.st_uid, st.st_gid)
                except OSError:
                    pass  # not permitted: the new folder stays ours
        os.chmod(stage, mode | stat.S_IRWXU)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return stage, mode


def _remove_tree(path: Path) -> None:
    try:
        os.chmod(path, stat.S_IRWXU)  # a read-only folder's entries cannot be unlinked
    except OSError:
        pass
    shutil.rmtree(path, ignore_errors=True)


def write_folder_atomic(folder: str | os.PathLike, files: Mapping[str, bytes]) -> Path:
    """Make ``folder`` hold ``files`` (name -> bytes), replacing a previous save in one step.

    Files are written and fsynced in a temporary folder beside ``folder`` which then takes its
    place; other files already in ``folder`` are kept. The folder keeps its permission bits
    (a new one gets ``0o777`` less the umask); it gets a new inode (the swap is a rename). A
    symbolic link to a folder is followed: the folder it points to is replaced and the link
    stays. Temporary folders of earlier saves that were killed are removed first (see
    :func:`remove_stale_temp_folders`). On any failure ``folder`` is untouched and the
    temporary folder is removed."""
    target = _resolve_target(folder)
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"cannot save to {target}: it exists and is not a folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_folders(target)
    stage, mode = _stage_folder(target)
    old: Path | None = None
    try:
        for name, data in files.items():
            _write_file(stage / name, data)
        if target.exists():
            _carry_over(target, stage, _old_model_files(target) | set(files))
        os.chmod(stage, mode)
        _fsync_dir(stage)
        old = _swap_in(stage, target)
        _fsync_dir(target.parent)
    except BaseException:
        _remove_tree(stage)
        raise
    if old is not None:
        _remove_tree(old)
    return target


def save_model(model: Model, path: str | os.PathLike, include_optimizer: bool = False) -> Path:
    """Save ``model`` in the TF.js layers format; the function behind ``Model.save``.

    Writes ``model.json`` + ``weights.bin`` into the folder; with ``include_optimizer`` also the
    training config and the optimizer state. Atomic: a failed save leaves a previous one
    intact.

    Args:
        model: The model to save.
        path: The folder (created if needed; a ``file://`` URL is accepted).
        include_optimizer: Also save the compile settings and optimizer state.

    Returns:
        The folder written.

    Raises:
        ValueError: ``path`` names a ``.json`` file instead of a folder.
    """
    target = _local_path(path)
    if target.suffix.lower() == ".json":
        raise ValueError(
            f"save() takes a folder, got the file path {os.fspath(path)!r}; pass the folder "
            f"({str(target.parent)!r}) and model.json and weights.bin are written inside it"
        )
    artifacts, data = model_to_artifacts(model, include_optimizer)
    text = json.dumps(artifacts, default=_json_default)
    return write_folder_atomic(target, {MODEL_JSON: text.encode("utf-8"), WEIGHTS_BIN: data})


def _compile_from(model: Model, tc: Any, where: str) -> bool:
    """Compile ``model`` as ``trainingConfig`` says. An optimizer, loss or metric we do not
    support leaves the model uncompiled with a warning (the model itself is fine)."""
    if not isinstance(tc, Mapping):
        raise ModelLoadError(f"{where}: trainingConfig must be an object, got {type(tc).__name__}")
    if tc.get("sample_weight_mode") is not None:
        warnings.warn(
            f"{where}: trainingConfig ['sample_weight_mode'] is not supported and was ignored",
            stacklevel=3,
        )
    try:
        optimizer = optimizer_from_config(tc.get("optimizer_config"), where)
        model.compile(
            optimizer=optimizer,
            loss=tc.get("loss"),
            metrics=tc.get("metrics"),
            loss_weights=tc.get("loss_weights"),
            weighted_metrics=tc.get("weighted_metrics"),
        )
    except Exception as e:
        warnings.warn(
            f"{where}: cannot compile from trainingConfig (optimizer {tc.get('optimizer_config')!r}, "
            f"loss {tc.get('loss')!r}, metrics {tc.get('metrics')!r}): {e}; the model is returned "
            "uncompiled, call compile() before training",
            stacklevel=3,
        )
        return False
    return True


def _restore_optimizer(model: Model, decoded: list[DecodedWeight], where: str) -> None:
    named = weight_names(model)
    by_name = {n: v for n, v in named}
    state: list[tuple[str, np.ndarray]] = []
    for d in decoded:
        if d.name == "iter":
            if d.value.size != 1:
                raise ModelLoadError(
                    f"{d.file}: optimizer weight 'iter' must be a scalar, got shape {list(d.value.shape)}"
                )
            state.append(("iter", d.value.reshape(()).astype(np.int32)))
            continue
        vname, _, slot = d.name.rpartition("/")
        var = next((by_name[a] for a in name_aliases(vname) if a in by_name), None)
        if var is None:
            raise ModelLoadError(
                f"{d.file}: optimizer weight {d.name!r} names no weight of the model"
            )
        if tuple(d.value.shape) != tuple(var.shape):
            raise ModelLoadError(
                f"{d.file}: optimizer weight {d.name!r} has shape {list(d.value.shape)}, its variable {list(var.shape)}"
            )
        state.append((f"{var.name}/{slot}", d.value))
    try:
        model.optimizer.set_weights([(n, tw.tensor(v)) for n, v in state])
    except Exception as e:
        raise ModelLoadError(f"{where}: cannot restore the optimizer state: {e}") from e


# --- loading: entry points -----------------------------------------------------------------------------
def _read_json(path: Path) -> dict:
    try:
        doc = read_json_file(path)
    except FileNotFoundError:
        raise ModelLoadError(
            f"{path}: no such file; pass a folder holding model.json or the model.json path"
        ) from None
    if not isinstance(doc, dict):
        raise ModelLoadError(
            f"{path}: expected a JSON object with modelTopology and weightsManifest"
        )
    return doc


def model_json_path(path: str | os.PathLike) -> Path:
    """The ``model.json`` of a saved model given its folder or the file itself."""
    p = _local_path(path)
    if p.is_dir():
        return p / MODEL_JSON
    if p.exists() or p.suffix.lower() == ".json":
        return p
    raise ModelLoadError(
        f"{p}: no such folder or file; pass a folder holding model.json or the model.json path"
    )


class _WeightBudget:
    """The weight guard of a load: every weight the topology creates must have the shape of a
    manifest entry not yet claimed, checked before the weight is allocated (so ``units: 1e9``
    fails at once instead of allocating gigabytes)."""

    def __init__(self, decoded: list[DecodedWeight], where: str):
        self.where = where
        self.left = Counter(tuple(d.value.shape) for d in decoded)
        self.by_name: dict[str, DecodedWeight] = {}
        for d in decoded:
            for alias in name_aliases(d.name):
                self.by_name.setdefault(alias, d)

    def __call__(self, layer: Any, name: str, shape: tuple[int, ...], dtype: str) -> None:
        if self.left[shape] > 0:
            self.left[shape] -= 1
            return
        full = f"{getattr(layer, 'name', '?')}/{name}"
        entry = self.by_name.get(full)
        if entry is not None:
            raise ModelLoadError(
                f"{entry.file}: weight {entry.name!r} has shape {list(entry.value.shape)} in the manifest "
                f"but the model built from {self.where} needs shape {list(shape)} (checked before allocating it)"
            )
        raise ModelLoadError(
            f"{self.where}: the weights manifest lacks weight {full!r} of shape {list(shape)} "
            f"({math.prod(shape)} values) that the topology gives layer {getattr(layer, 'name', '?')!r} "
            "(no unclaimed entry has that shape); the topology and the weights disagree"
        )


def _build(topology: Any, decoded: list[DecodedWeight], where: str) -> Model:
    token = WEIGHT_GUARD.set(_WeightBudget(decoded, where))
    try:
        return model_from_topology(topology, where)
    finally:
        WEIGHT_GUARD.reset(token)


def load_model(
    path: str | os.PathLike,
    compile: bool = True,  # noqa: A002
    max_weight_bytes: int | None = None,
) -> Model:
    """Load a model saved in the TF.js layers format (TF.js ``tf.loadLayersModel``).

    Reads what ``model.save`` (or TF.js / the Keras converter) writes. Weights are matched by
    name; with a ``trainingConfig`` (and ``compile``) the model is compiled and any saved
    optimizer state restored.

    The files are treated as untrusted (see :mod:`layers.tfjs_format` for the rules): weight
    paths must stay inside the folder and name regular files of exactly the size the manifest
    needs, the decoded weights must fit ``max_weight_bytes`` (default: half the machine's
    memory), and every weight the topology creates must match a manifest entry's shape before
    it is allocated. Any malformed or hostile input raises :class:`ModelLoadError` (a
    ValueError) naming the file, and no half-loaded model escapes.

    Args:
        path: The model's folder or its ``model.json`` (a ``file://`` URL is accepted).
        compile: Compile the model from the saved ``trainingConfig`` when there is one.
        max_weight_bytes: Refuse models whose weights need more bytes (default: half the
            machine's memory).

    Returns:
        The ``Model`` (a ``Sequential`` when one was saved), with its weights loaded.

    Raises:
        ModelLoadError: The folder or a file is missing, malformed, too large or does not
            match the topology.

    Example:

    >>> import tempfile
    >>> model = layers.sequential([layers.dense(units=2, input_shape=[3])])
    >>> model.compile(optimizer="adam", loss="meanSquaredError")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     loaded = layers.load_model(model.save(tmp, include_optimizer=True))
    >>> loaded.is_compiled, [w.shape for w in loaded.get_weights()]
    (True, [(3, 2), (2,)])
    """
    if max_weight_bytes is not None and (
        not isinstance(max_weight_bytes, (int, np.integer))
        or isinstance(max_weight_bytes, bool)
        or max_weight_bytes < 0
    ):
        raise ValueError(
            f"max_weight_bytes must be a non-negative integer (bytes) or None, got {max_weight_bytes!r}"
        )
    json_path = model_json_path(path)
    doc = _read_json(json_path)
    where = str(json_path)
    limit = default_max_weight_bytes() if max_weight_bytes is None else int(max_weight_bytes)
    fmt = doc.get("format")
    if fmt is not None and fmt != FORMAT:
        raise ModelLoadError(
            f"{where}: format is {fmt!r:.80}; only TF.js layers models ({FORMAT!r}) can be loaded"
        )
    if "modelTopology" not in doc:
        raise ModelLoadError(f"{where}: no modelTopology; not a TF.js layers model")
    manifest = doc.get("weightsManifest")
    if manifest is not None and not isinstance(manifest, list):
        raise ModelLoadError(
            f"{where}: weightsManifest must be a list of groups, got {type(manifest).__name__}"
        )
    plans = [plan_group(group, gi, where) for gi, group in enumerate(manifest or [])]
    seen: set[str] = set()
    for plan in plans:
        for w in plan.weights:
            if w.name in seen:
                raise ModelLoadError(
                    f"{where}: weightsManifest names weight {w.name!r} more than once"
                )
            seen.add(w.name)
    total = sum(plan.decoded_bytes for plan in plans)
    if total > limit:
        raise ModelLoadError(
            f"{where}: the weights manifest describes {total} bytes of weights, over the limit of "
            f"{limit} bytes (pass max_weight_bytes to load_model to allow more)"
        )
    decoded: list[DecodedWeight] = []
    for plan in plans:
        decoded.extend(read_group(json_path.parent, plan, where))
    model_part = [d for d in decoded if d.spec.get("group") != OPTIMIZER_GROUP]
    opt_part = [d for d in decoded if d.spec.get("group") == OPTIMIZER_GROUP]
    if manifest is None:
        model = model_from_topology(doc["modelTopology"], where)
        if model.weights:
            raise ModelLoadError(
                f"{where}: no weightsManifest, so the model's {len(model.weights)} weights cannot be loaded"
            )
    else:
        model = _build(doc["modelTopology"], model_part, where)
    try:
        pairs = match_weights(model, model_part, where)
    except ModelLoadError:
        raise
    except ValueError as e:  # weight_names: a topology whose weights share a name
        raise ModelLoadError(f"{where}: {e}") from e
    tc = doc.get("trainingConfig")
    if tc is None and isinstance(doc["modelTopology"], Mapping):
        tc = doc["modelTopology"].get("training_config")  # the Keras-converter form
    compiled = bool(compile and tc is not None and _compile_from(model, tc, where))
    for var, value in pairs:
        var.assign(tw.tensor(value, dtype=var.dtype))
    if compiled and opt_part:
        _restore_optimizer(model, opt_part, where)
    return model


__all__ = [
    "ModelLoadError",
    "load_model",
    "model_from_topology",
    "model_json_path",
    "model_to_artifacts",
    "save_model",
    "weight_names",
    "remove_stale_temp_folders",
    "write_folder_atomic",
]
