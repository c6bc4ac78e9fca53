"""Matrix products of the ``cpu`` backend: ``matmul`` (batched; float through BLAS, int32
through a numba kernel) and ``fused_matmul`` (BLAS, then one pass for bias and activation).

Float GEMMs go through ``backends.cpu.native.threads.matmul`` (numpy's matmul with OpenBLAS's
threads under the backend's thread control); compiled chunks call OpenBLAS directly
(``backends.cpu.native.cblas``).
"""

from __future__ import annotations

import numpy as np

from backends.cpu import kernels as K
from backends.cpu.native import threads as T
from backends.cpu.primitives.common import FLOATS, INT32, L, PrimitiveBase, scalars

#: Activation name -> the code ``K.bias_act`` takes.
ACTIVATIONS = {name: i for i, name in enumerate(K.FUSED_ACTIVATIONS)}


class MatmulPrimitives(PrimitiveBase):
    """Batched matmul and the fused matmul + bias + activation."""

    def matmul(
        self,
        a: np.ndarray,
        a_shape: tuple,
        b: np.ndarray,
        b_shape: tuple,
        dtype: str,
        transpose_a: bool,
        transpose_b: bool,
    ) -> np.ndarray:
        if a.dtype in FLOATS:
            # BLAS (sgemm/dgemm) through numpy; transposed views need no copy.
            av = a.transpose(0, 2, 1) if transpose_a else a
            bv = b.transpose(0, 2, 1) if transpose_b else b
            out = self._empty((a_shape[0], av.shape[1], bv.shape[2]), a.dtype)
            if a_shape[0] == 1:
                self._launch(T.matmul, av[0], bv[0], out[0])
            else:
                self._launch(T.matmul, av, bv, out)
            return out
        if a.dtype != INT32:
            raise TypeError(
                f"matmul is not defined for dtype {a.dtype}; expected float32/float64/int32"
            )
        batch = a_shape[0]
        m = a_shape[2] if transpose_a else a_shape[1]
        k = a_shape[1] if transpose_a else a_shape[2]
        n = b_shape[1] if transpose_b else b_shape[2]
        out = self._empty((batch, m, n), np.int32)
        rows = batch * m
        if out.size == 0:
            return out
        args = (a.reshape(-1), b.reshape(-1), out.reshape(-1))
        ta, tb = transpose_a, transpose_b
        serial = L(K.matmul_int, (*args, m, k, n, ta, tb, 0, rows), (3, 4, 5, 8, 9))
        par = (
            (
                lambda: L(
                    K.matmul_int_par,
                    (*args, batch, m, k, n, ta, tb, self._rows_per_task(rows, n * k)),
                    (3, 4, 5, 6, 9),
                )
            )
            if rows > 1
            else None
        )
        self._run(rows * n * max(k, 1) // 8, "matmul", serial, par)
        return out

    def fused_matmul(
        self,
        a: np.ndarray,
        a_shape: tuple,
        b: np.ndarray,
        b_shape: tuple,
        bias: np.ndarray | None,
        bias_shape: tuple | None,
        dtype: str,
        transpose_a: bool,
        transpose_b: bool,
        activation: str,
        alpha: float,
    ) -> np.ndarray:
        """``activation(op(a) @ op(b) + bias)`` for 2-D float operands: BLAS, then one numba
        pass over the fresh product for bias and activation. ``bias`` is None, a scalar or a
        row of N values."""
        if a.dtype not in FLOATS:
            raise TypeError(f"fused_matmul needs float operands, got {a.dtype}")
        code = ACTIVATIONS.get(activation)
        if code is None:
            raise ValueError(
                f"fused_matmul: unknown activation {activation!r}; expected one of "
                f"{list(K.FUSED_ACTIVATIONS)}"
            )
        av = a.reshape(a_shape)
        bv = b.reshape(b_shape)
        av = av.T if transpose_a else av
        bv = bv.T if transpose_b else bv
        out = self._empty((av.shape[0], bv.shape[1]), np.result_type(av, bv))
        self._launch(T.matmul, av, bv, out)
        m, n = out.shape
        if out.size == 0 or (bias is None and code == 0):
            return out
        bflat = self._empty(0, out.dtype) if bias is None else bias.reshape(-1)
        step = 0 if bflat.size == 1 else 1
        one = scalars(out.dtype)[1]
        al = out.dtype.type(alpha)
        of = out.reshape(-1)
        serial = L(K.bias_act, (of, bflat, step, n, code, al, one, 0, m), (3, 7, 8))
        par = (
            (
                lambda: L(
                    K.bias_act_par,
                    (of, bflat, step, m, n, code, al, one, self._rows_per_task(m, n)),
                    (3, 4, 8),
                )
            )
            if m > 1
            else None
        )
        self._run(out.size, ("fused_matmul", code, out.dtype.char), serial, par)
        return out
