"""Mixed precision: dtype policies (Keras 3 ``keras.mixed_precision``).

A layer's *dtype policy* names the dtype it computes in and the dtype of its variables:

- ``"float32"`` (the default): both float32;
- ``"mixed_float16"``: compute in float16, keep float32 variables. Under it a layer casts its
  floating inputs to float16 and reads its float32 weights cast to float16 (the gradient flows
  back to the float32 weight through the cast), so its outputs are float16. Losses and metrics
  compute in float32 (they cast predictions), and ``Model.compile`` wraps the optimizer in a
  ``engine.train.LossScaleOptimizer`` (dynamic loss scaling), as Keras 3 does. As Keras
  recommends, give the last layer (or a final ``activation("softmax")``) ``dtype="float32"``
  so the model's outputs are float32;
- ``"float64"``, ``"int32"``, ``"bool"``: plain dtypes, as before (no casts).

float16 needs a backend whose capabilities declare it: the ``numpy`` backend computes in numpy's
float16 (matmuls and sums accumulate in float32). On ``cpu``, ``opencl`` and ``cuda``, creating
or calling a layer under ``mixed_float16`` raises a ``TypeError`` naming the backend and
suggesting the numpy backend or the float32 policy. ``"mixed_bfloat16"`` and a pure
``"float16"`` policy (float16 variables) are not supported.

Set the policy for every layer made afterwards with ``set_global_policy``, or per layer with
the ``dtype=`` argument (a policy or its name). Layers made earlier keep their policy.

Example:

>>> from layers import mixed_precision
>>> mixed_precision.set_global_policy("mixed_float16")
>>> d = layers.dense(units=2, kernel_initializer="ones")
>>> d.dtype_policy.compute_dtype, d.dtype_policy.variable_dtype
('float16', 'float32')
>>> y = d(tw.ones([1, 3]))
>>> y.dtype, d.kernel.dtype
('float16', 'float32')
>>> mixed_precision.set_global_policy("float32")
"""

from __future__ import annotations

import threading
from typing import Any

from engine import dtypes

#: Policy names with a compute dtype different from the variable dtype.
_MIXED = {"mixed_float16": ("float16", "float32")}


class DTypePolicy:
    """A layer's compute and variable dtypes (Keras 3 ``keras.DTypePolicy``).

    Args:
        name: ``"float32"``, ``"mixed_float16"`` (compute float16, variables float32), or a
            plain dtype name (``"float64"``, ``"int32"``, ``"bool"``; ``np.float32`` too).

    Raises:
        ValueError: ``name`` is a policy this engine does not offer (``"mixed_bfloat16"``,
            ``"float16"``: the message names the accepted ones).
        TypeError: ``name`` is no dtype at all.

    Example:

    >>> p = layers.mixed_precision.DTypePolicy("mixed_float16")
    >>> p.name, p.compute_dtype, p.variable_dtype
    ('mixed_float16', 'float16', 'float32')
    """

    def __init__(self, name: Any = "float32"):
        if isinstance(name, DTypePolicy):
            name = name.name
        if isinstance(name, str) and name in _MIXED:
            self._name = name
            self._compute, self._variable = _MIXED[name]
            return
        if isinstance(name, str) and name in ("mixed_bfloat16", "bfloat16"):
            raise ValueError(
                f"dtype policy {name!r} is not supported (no bfloat16 tensors); accepted: "
                "'float32', 'mixed_float16', or a dtype name such as 'float64'"
            )
        dt = dtypes.as_dtype(name)  # float16 without backend support raises, naming it
        if dt == "float16":
            raise ValueError(
                f"dtype policy {name!r} (float16 variables) is not supported; use "
                "'mixed_float16' (compute in float16, float32 variables) or 'float32'"
            )
        self._name = dt
        self._compute = self._variable = dt

    @property
    def name(self) -> str:
        """The policy's name (``"mixed_float16"``, ``"float32"``, ...)."""
        return self._name

    @property
    def compute_dtype(self) -> str:
        """The dtype layers compute in (``"float16"`` under ``mixed_float16``)."""
        return self._compute

    @property
    def variable_dtype(self) -> str:
        """The dtype of layers' variables (``"float32"`` under ``mixed_float16``)."""
        return self._variable

    @property
    def is_mixed(self) -> bool:
        """True when the compute dtype differs from the variable dtype."""
        return self._compute != self._variable

    def get_config(self) -> dict[str, Any]:
        """The policy as a JSON-ready dict.

        Returns:
            ``{"name": name}`` (``DTypePolicy(**config)`` rebuilds it).
        """
        return {"name": self._name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DTypePolicy:
        """A policy from ``get_config()`` output.

        Args:
            config: ``{"name": ...}``.

        Returns:
            The policy.
        """
        return cls(config.get("name", "float32"))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DTypePolicy) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self._name)

    def __repr__(self) -> str:
        return f'<DTypePolicy "{self._name}">'


#: Keras 2's name for the same class.
Policy = DTypePolicy

_lock = threading.Lock()
_global: DTypePolicy | None = None


def set_global_policy(policy: DTypePolicy | str | None) -> None:
    """Set the dtype policy of every layer created afterwards without a ``dtype=`` argument.

    The backend is not checked here: a layer created (or called) under ``mixed_float16`` on
    a backend without float16 raises then, naming the backend.

    Args:
        policy: A ``DTypePolicy`` or its name (``"mixed_float16"``, ``"float32"``); ``None``
            restores the default ``"float32"``.

    Raises:
        ValueError: An unsupported policy name (nothing changes).

    Example:

    >>> layers.mixed_precision.set_global_policy("mixed_float16")
    >>> layers.mixed_precision.global_policy().name
    'mixed_float16'
    >>> layers.mixed_precision.set_global_policy(None)
    >>> layers.mixed_precision.global_policy().name
    'float32'
    """
    global _global
    new = None if policy is None else get(policy)
    if new is not None and new.name == "float32":
        new = None
    with _lock:
        _global = new


def global_policy() -> DTypePolicy:
    """The policy layers created now take when given no ``dtype=``.

    Returns:
        The global ``DTypePolicy`` (``"float32"`` unless ``set_global_policy`` changed it).

    Example:

    >>> layers.mixed_precision.global_policy()
    <DTypePolicy "float32">
    """
    return _global if _global is not None else DTypePolicy("float32")


def get(policy: DTypePolicy | str | None) -> DTypePolicy:
    """A ``DTypePolicy`` from a policy, a policy name or a dtype (``None``: the global one).

    Args:
        policy: A ``DTypePolicy``, a name (``"mixed_float16"``, ``"float32"``, ...), a dtype
            or a Keras 3 serialized policy ``{"class_name": "DTypePolicy", "config": {...}}``.

    Returns:
        The policy.

    Raises:
        ValueError: An unsupported policy name.

    Example:

    >>> layers.mixed_precision.get("mixed_float16").compute_dtype
    'float16'
    """
    if policy is None:
        return global_policy()
    if isinstance(policy, DTypePolicy):
        return policy
    if isinstance(policy, dict):
        return DTypePolicy((policy.get("config") or {}).get("name", "float32"))
    return DTypePolicy(policy)


def check_supported(policy: DTypePolicy, what: str) -> None:
    """Raise ``TypeError`` naming the active backend when it cannot compute in the
    policy's compute dtype (float16 without ``capabilities["float16"]``).

    Args:
        policy: The policy in use.
        what: Who uses it, for the message (``"layer 'dense_Dense1'"``).

    Example:

    >>> mp = layers.mixed_precision
    >>> mp.check_supported(mp.DTypePolicy("float32"), "a layer")  # float32: nothing to check
    """
    if policy.compute_dtype == "float16" and not dtypes.backend_has_float16():
        from engine import registry

        name = registry.get_backend()
        raise TypeError(
            f"{what}: dtype policy {policy.name!r} computes in float16, which backend "
            f"{name!r} does not support (its capabilities declare no float16); use the numpy "
            "backend (TENSORWEAVE_BACKEND=numpy or tw.set_backend('numpy')) or the 'float32' "
            "policy (mixed_precision.set_global_policy('float32'))"
        )
