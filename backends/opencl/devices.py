"""OpenCL device discovery and choice: GPUs first, then accelerators, then CPUs.

``TENSORWEAVE_OPENCL_DEVICE`` picks one explicitly: ``"platform:device"`` indices (``"0:1"``)
or a case-insensitive substring of the device or platform name (``"nvidia"``, ``"pthread"``).

A device is only used once its OpenCL C compiler has built a one-line kernel (``can_build``):
a driver can list a device and still fail every build. The PoCL 3.0 that pyopencl's wheel
bundles (LLVM 14) does this on CPUs its LLVM does not know (e.g. AMD Zen 5: "unknown target
CPU 'generic'"). Without an explicit choice the best-ranked device that builds is used; an
explicit choice that cannot build, or no device that builds, is an error naming each failure.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

ENV_VAR = "TENSORWEAVE_OPENCL_DEVICE"
KIND_ORDER = ("gpu", "accelerator", "cpu", "other")


@dataclass(frozen=True)
class DeviceEntry:
    """One OpenCL device with its indices, names and kind ("gpu", "accelerator", "cpu")."""

    platform_index: int
    device_index: int
    platform: str
    name: str
    kind: str
    device: Any = None

    @property
    def label(self) -> str:
        return (
            f"{self.platform_index}:{self.device_index} {self.name} [{self.kind}, {self.platform}]"
        )


def _kind(device_type: int) -> str:
    import pyopencl as cl

    if device_type & cl.device_type.GPU:
        return "gpu"
    if device_type & cl.device_type.ACCELERATOR:
        return "accelerator"
    if device_type & cl.device_type.CPU:
        return "cpu"
    return "other"


def list_devices() -> list[DeviceEntry]:
    """Every device of every OpenCL platform (empty when no ICD or platform is installed)."""
    import pyopencl as cl

    try:
        platforms = cl.get_platforms()
    except cl.Error:  # no ICD loader platforms: simply no devices
        return []
    out = []
    for p_i, platform in enumerate(platforms):
        try:
            devices = platform.get_devices()
        except cl.Error:
            continue
        for d_i, dev in enumerate(devices):
            out.append(
                DeviceEntry(p_i, d_i, platform.name.strip(), dev.name.strip(), _kind(dev.type), dev)
            )
    return out


def ranked(entries: list[DeviceEntry]) -> list[DeviceEntry]:
    """Devices in preference order: GPU, accelerator, CPU, other; discovery order within a kind."""
    return sorted(entries, key=lambda e: KIND_ORDER.index(e.kind))


def choose(entries: list[DeviceEntry], spec: str | None = None) -> DeviceEntry:
    """The device ``spec`` names (see the module docstring), or the best-ranked one."""
    if not entries:
        raise RuntimeError("no OpenCL device found (no platform reports any device)")
    spec = (spec or "").strip()
    if not spec:
        return ranked(entries)[0]
    listing = "; ".join(e.label for e in entries)
    if ":" in spec and all(part.strip().isdigit() for part in spec.split(":", 1)):
        p, d = (int(part) for part in spec.split(":", 1))
        for e in entries:
            if (e.platform_index, e.device_index) == (p, d):
                return e
        raise ValueError(f"{ENV_VAR}={spec!r}: no device {p}:{d}; available: {listing}")
    if spec.isdigit():
        raise ValueError(
            f"{ENV_VAR}={spec!r}: expected 'platform:device' indices (e.g. '0:0') or a name "
            f"substring; available: {listing}"
        )
    low = spec.lower()
    matches = [e for e in entries if low in e.name.lower() or low in e.platform.lower()]
    if not matches:
        raise ValueError(f"{ENV_VAR}={spec!r} matches no device name; available: {listing}")
    return ranked(matches)[0]


_PROBE_SOURCE = "__kernel void tw_probe(__global float *a) { a[get_global_id(0)] = 1.0f; }"
_probes: dict[int, str | None] = {}
_HINT = (
    " (this driver's compiler does not know this CPU; install a newer OpenCL driver, e.g. "
    "Debian/Ubuntu's pocl-opencl-icd, which pyopencl then finds beside its bundled PoCL)"
)


def can_build(entry: DeviceEntry) -> str | None:
    """None when ``entry``'s compiler builds a trivial kernel, else the reason it failed.

    Entries without a device object (test fakes) count as able to build. Cached per device.
    """
    if entry.device is None:
        return None
    key = entry.device.int_ptr
    if key not in _probes:
        import pyopencl as cl

        try:
            ctx = cl.Context([entry.device])
            cl.Program(ctx, _PROBE_SOURCE).build()
            _probes[key] = None
        except cl.Error as exc:  # RuntimeError (build) or LogicError (context)
            msg = " ".join(str(exc).split())
            if "unknown target CPU" in msg:
                msg = "unknown target CPU" + _HINT + ": " + msg
            _probes[key] = f"{entry.label}: {type(exc).__name__}: {msg[:400]}"
    return _probes[key]


def chosen(entries: list[DeviceEntry] | None = None, probe: bool = False) -> DeviceEntry:
    """The device the backend uses: ``choose`` with the environment variable applied.

    With ``probe``, the device must also build a trivial kernel (``can_build``): without an
    explicit choice the best-ranked device that builds is taken; otherwise RuntimeError names
    every failure.
    """
    entries = list_devices() if entries is None else entries
    spec = os.environ.get(ENV_VAR)
    entry = choose(entries, spec)
    if not probe:
        return entry
    if (spec or "").strip():
        reason = can_build(entry)
        if reason:
            raise RuntimeError(f"{ENV_VAR}={spec!r} names a device that cannot build: {reason}")
        return entry
    failures = []
    for cand in ranked(entries):
        reason = can_build(cand)
        if reason is None:
            return cand
        failures.append(reason)
    raise RuntimeError("no OpenCL device can build kernels: " + "; ".join(failures))
