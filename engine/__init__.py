"""tensorweave's engine: tensors, ops, autodiff, backends, memory and optimizers.

``import engine as tw``; the README (``README.md`` in the source tree, the project description
on PyPI) shows a first model, the backends and the settings (``TENSORWEAVE_BACKEND``,
``TENSORWEAVE_CACHE``, ``TENSORWEAVE_DATA``); ``python -m engine`` lists the backends.
"""

from importlib import metadata as _metadata

try:
    __version__: str = _metadata.version("tensorweave")
except _metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

from engine import gradients as _gradients  # noqa: F401  (fills the gradient table)
from engine import losses as _tf_losses
from engine.autodiff import (
    Tape,
    custom_grad,
    grad,
    grads,
    stop_gradient,
    value_and_grad,
    value_and_grads,
    variable_grads,
)
from engine.dtypes import DTYPES
from engine.memory import dispose, keep, memory, tidied, tidy
from engine.ops import *  # noqa: F403
from engine.ops import __all__ as _ops_all
from engine.registry import (
    ENV_VAR,
    BackendError,
    backend,
    backend_scope,
    find_backend,
    get_backend,
    list_backends,
    register_backend,
    remove_backend,
    set_backend,
)
from engine.tensor import Tensor, Variable

# TF.js's tf.losses; the star import above bound ``losses`` to engine.ops.losses
losses = _tf_losses

EPSILON = 1e-7


def epsilon() -> float:
    """The fuzz factor used by losses and optimizers (TF.js ``backend().epsilon()``).

    Returns:
        1e-7, as TF.js on float32.
    """
    return EPSILON


def __getattr__(name: str):
    if name == "train":  # optimizers load on first use
        import importlib

        return importlib.import_module("engine.train")
    raise AttributeError(f"module 'engine' has no attribute {name!r}")


__all__ = [
    *_ops_all,
    "DTYPES",
    "ENV_VAR",
    "BackendError",
    "Tape",
    "Tensor",
    "Variable",
    "losses",
    "backend",
    "backend_scope",
    "custom_grad",
    "dispose",
    "epsilon",
    "find_backend",
    "get_backend",
    "grad",
    "grads",
    "keep",
    "list_backends",
    "memory",
    "register_backend",
    "remove_backend",
    "set_backend",
    "stop_gradient",
    "tidied",
    "tidy",
    "value_and_grad",
    "value_and_grads",
    "variable_grads",
]
