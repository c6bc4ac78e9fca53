"""Neural-network composites the ``cpu`` backend fuses: ``softmax``, ``log_softmax``,
``categorical_crossentropy`` (and its gradient), stride-1 ``conv2d`` / ``fused_conv2d`` /
``conv2d_backprop_filter`` and ``max_pool`` / ``max_pool_grad``.

Each is one pass per row or per image (kernels in ``backends.cpu.kernels`` and
``backends.cpu.conv``). The engine uses them where ``CpuBackend.prefers`` says so: direct
convolution below ``CONV_DIRECT_MAX`` input x output channels, its im2col + BLAS composite
above.
"""

from __future__ import annotations

import functools

import numba
import numpy as np

from backends.cpu import conv as CV
from backends.cpu import kernels as K
from backends.cpu.primitives.common import FLOATS, L, PrimitiveBase, fill_into, prod, scalars

#: Direct (fused) conv2d below this many input x output channels, im2col + BLAS from it.
#: Measured on (32, 28, 28, c) * (3, 3, c, o), forward / filter gradient ms, fused vs im2col:
#: c*o 16 1.1/3.3; 64 1.3/2.0 and 4.5/11.2; 128 2.1/1.2 and 6.0/12.6; 256 2.9/1.8 and 9.7/5.8
#: (8x32); 512 6.6/4.3 and 17.7/17.7; 1024 15.4/9.2 and 36.7/27.7.
CONV_DIRECT_MAX = 256


@functools.lru_cache(maxsize=8)
def no_array(dt: np.dtype) -> np.ndarray:
    """A shared empty array of ``dt``: the "no bias / no output" argument of conv kernels."""
    return np.empty(0, dt)


class NNPrimitives(PrimitiveBase):
    """Softmax, cross-entropy, convolution and max pooling, each fused into one pass."""

    def _softmax(self, x: np.ndarray, shape: tuple, axis: int, log: bool) -> np.ndarray:
        if x.dtype not in FLOATS:
            raise TypeError(f"softmax needs a float input, got {x.dtype}")
        p, r, q = prod(shape[:axis]), shape[axis], prod(shape[axis + 1 :])
        out = self._empty(shape, x.dtype)
        if out.size == 0:
            return out
        xf, of = x.reshape(-1), out.reshape(-1)
        zero = scalars(x.dtype)[0]
        serial = L(K.softmax, (xf, of, r, q, log, zero, 0, p), (2, 3, 6, 7))
        par = (
            (
                lambda: L(
                    K.softmax_par,
                    (xf, of, p, r, q, log, zero, self._rows_per_task(p, r * q)),
                    (2, 3, 4, 7),
                )
            )
            if p > 1
            else None
        )
        self._run(x.size, "softmax", serial, par)
        return out

    def softmax(self, x: np.ndarray, shape: tuple, dtype: str, axis: int) -> np.ndarray:
        """exp(x - max) / sum along ``axis`` in one pass per row (fused engine composite)."""
        return self._softmax(x, shape, axis, False)

    def log_softmax(self, x: np.ndarray, shape: tuple, dtype: str, axis: int) -> np.ndarray:
        """(x - max) - log(sum(exp(x - max))) along ``axis`` (fused engine composite)."""
        return self._softmax(x, shape, axis, True)

    def _cce_args(self, x: np.ndarray, shape: tuple) -> tuple:
        if x.dtype not in FLOATS:
            raise TypeError(f"categorical_crossentropy needs float inputs, got {x.dtype}")
        dt = x.dtype
        return prod(shape[:-1]), shape[-1], dt.type(1e-7), dt.type(1 - 1e-7), scalars(dt)[0]

    def categorical_crossentropy(
        self, t: np.ndarray, x: np.ndarray, shape: tuple, dtype: str, from_logits: bool
    ) -> np.ndarray:
        """Per-row ``-sum(t * log(clip(q, eps, 1 - eps)))`` over the last axis, ``q`` the
        renormalised ``x`` (or its softmax), in one pass per row (fused engine composite)."""
        p, r, eps, hi, zero = self._cce_args(x, shape)
        out = self._empty(shape[:-1], x.dtype)
        if out.size == 0:
            return out
        tf, xf, of = t.reshape(-1), x.reshape(-1), out.reshape(-1)
        lg = bool(from_logits)
        serial = L(K.cce, (tf, xf, of, r, lg, eps, hi, zero, 0, p), (3, 8, 9))
        par = (
            (
                lambda: L(
                    K.cce_par,
                    (tf, xf, of, p, r, lg, eps, hi, zero, self._rows_per_task(p, r)),
                    (3, 4, 9),
                )
            )
            if p > 1
            else None
        )
        self._run(x.size, ("cce", x.dtype.char), serial, par)
        return out

    def categorical_crossentropy_grad(
        self,
        dy: np.ndarray,
        t: np.ndarray,
        x: np.ndarray,
        shape: tuple,
        dtype: str,
        from_logits: bool,
    ) -> np.ndarray:
        """d ``categorical_crossentropy`` / d x times the per-row ``dy``, one pass per row."""
        p, r, eps, hi, zero = self._cce_args(x, shape)
        out = self._empty(shape, x.dtype)
        if out.size == 0:
            return out
        args = (dy.reshape(-1), t.reshape(-1), x.reshape(-1), out.reshape(-1))
        lg = bool(from_logits)
        serial = L(K.cce_grad, (*args, r, lg, eps, hi, zero, 0, p), (4, 9, 10))
        par = (
            (
                lambda: L(
                    K.cce_grad_par,
                    (*args, p, r, lg, eps, hi, zero, self._rows_per_task(p, r)),
                    (4, 5, 10),
                )
            )
            if p > 1
            else None
        )
        self._run(x.size, ("cce_grad", x.dtype.char), serial, par)
        return out

    @staticmethod
    def _conv_geo(x_shape: tuple, f_shape: tuple, pads: tuple, dilations: tuple) -> tuple:
        """The ``geo`` tuple of ``backends.cpu.conv`` for a stride-1 convolution."""
        _, h, w, c = x_shape
        kh, kw, _, o = f_shape
        dh, dw = int(dilations[0]), int(dilations[1])
        (pt, pb), (pl, pr) = pads
        oh = h + pt + pb - (kh - 1) * dh
        ow = w + pl + pr - (kw - 1) * dw
        return tuple(int(v) for v in (h, w, c, o, kh, kw, dh, dw, pt, pl, oh, ow))

    def _images_per_task(self, n: int) -> int:
        return max(1, -(-n // (4 * numba.get_num_threads())))

    def conv2d(
        self,
        x: np.ndarray,
        x_shape: tuple,
        f: np.ndarray,
        f_shape: tuple,
        bias: np.ndarray | None,
        dtype: str,
        pads: tuple,
        dilations: tuple,
        activation: str,
    ) -> np.ndarray:
        """Stride-1 NHWC convolution, optionally + bias and relu, in one pass per image
        (fused engine composite; ``backends.cpu.conv.conv2d``)."""
        if x.dtype not in FLOATS or f.dtype != x.dtype:
            raise TypeError(f"conv2d needs float operands of one dtype, got {x.dtype}, {f.dtype}")
        geo = self._conv_geo(x_shape, f_shape, pads, dilations)
        n = x_shape[0]
        out = self._empty((n, geo[10], geo[11], f_shape[3]), x.dtype)
        if out.size == 0:
            return out
        act = 1 if activation == "relu" else 0
        b = no_array(x.dtype) if bias is None else bias.reshape(-1)
        args = (x.reshape(-1), f.reshape(-1), b, out.reshape(-1), act, geo)
        serial = L(CV.conv2d, (*args, 0, n), (6, 7))
        par = (
            (lambda: L(CV.conv2d_par, (*args, n, self._images_per_task(n)), (6, 7)))
            if n > 1
            else None
        )
        self._run(out.size * x_shape[3], ("conv2d", x.dtype.char), serial, par)
        return out

    def fused_conv2d(
        self,
        x: np.ndarray,
        x_shape: tuple,
        f: np.ndarray,
        f_shape: tuple,
        bias: np.ndarray | None,
        dtype: str,
        pads: tuple,
        dilations: tuple,
        activation: str,
    ) -> np.ndarray:
        """``activation(conv2d(x, f) + bias)``, stride 1, linear or relu (one kernel)."""
        return self.conv2d(x, x_shape, f, f_shape, bias, dtype, pads, dilations, activation)

    def conv2d_backprop_filter(
        self,
        x: np.ndarray,
        x_shape: tuple,
        dy: np.ndarray,
        dy_shape: tuple,
        out: np.ndarray | None,
        dtype: str,
        pads: tuple,
        dilations: tuple,
        activation: str,
    ) -> np.ndarray:
        """Filter gradient (KH*KW*C*O values) then bias gradient (O values) of a stride-1
        convolution, through the relu read from ``out`` when given, in one pass over ``dy``."""
        if x.dtype not in FLOATS or dy.dtype != x.dtype:
            raise TypeError(f"conv2d_backprop_filter needs float operands, got {x.dtype}")
        n, oh, ow, o = dy_shape
        kh = (x_shape[1] + sum(pads[0]) - oh) // int(dilations[0]) + 1
        kw = (x_shape[2] + sum(pads[1]) - ow) // int(dilations[1]) + 1
        geo = self._conv_geo(x_shape, (kh, kw, x_shape[3], o), pads, dilations)
        nf = kh * kw * x_shape[3] * o
        res = self._empty(nf + o, x.dtype)
        act = 1 if activation == "relu" and out is not None else 0
        ob = no_array(x.dtype) if act == 0 else out.reshape(-1)
        blocks = max(1, min(n, 4))
        args = (x.reshape(-1), dy.reshape(-1), ob, act, geo, n, blocks, res[:nf], res[nf:])
        if n == 0:
            self._launch(fill_into, res, 0)
        elif n > 1:
            serial = L(CV.conv2d_filter_grad, args, (5, 6))
            par = L(CV.conv2d_filter_grad_par, args, (5, 6))
            self._run(dy.size * x_shape[3], ("conv2d_bpf", x.dtype.char), serial, par)
        else:
            self._submit(L(CV.conv2d_filter_grad, args, (5, 6)))
        return res

    def max_pool(
        self,
        x: np.ndarray,
        x_shape: tuple,
        dtype: str,
        pool: tuple,
        strides: tuple,
        pads: tuple,
    ) -> np.ndarray:
        """NHWC max pooling (padding cells never win; NaN does) in one pass."""
        geo, out_shape = self._pool_geo(x_shape, pool, strides, pads)
        if x.dtype not in FLOATS:
            raise TypeError(f"max_pool needs a float input, got {x.dtype}")
        out = self._empty(out_shape, x.dtype)
        n = x_shape[0]
        if out.size == 0:
            return out
        args = (x.reshape(-1), out.reshape(-1), geo)
        serial = L(CV.max_pool, (*args, 0, n), (3, 4))
        par = (
            (lambda: L(CV.max_pool_par, (*args, n, self._images_per_task(n)), (3, 4)))
            if n > 1
            else None
        )
        self._run(x.size, ("max_pool", x.dtype.char), serial, par)
        return out

    def max_pool_grad(
        self,
        dy: np.ndarray,
        x: np.ndarray,
        out: np.ndarray,
        x_shape: tuple,
        dtype: str,
        pool: tuple,
        strides: tuple,
        pads: tuple,
    ) -> np.ndarray:
        """Gradient of ``max_pool``: each window's ``dy`` to its first cell (row-major window
        order) equal to its max, as TF.js; none in a NaN window."""
        geo, _ = self._pool_geo(x_shape, pool, strides, pads)
        dx = self._empty(x_shape, x.dtype)
        n = x_shape[0]
        if dx.size == 0:
            return dx
        args = (dy.reshape(-1), x.reshape(-1), out.reshape(-1), dx.reshape(-1), geo)
        serial = L(CV.max_pool_grad, (*args, 0, n), (5, 6))
        par = (
            (lambda: L(CV.max_pool_grad_par, (*args, n, self._images_per_task(n)), (5, 6)))
            if n > 1
            else None
        )
        self._run(x.size, ("max_pool_grad", x.dtype.char), serial, par)
        return dx

    @staticmethod
    def _pool_geo(x_shape: tuple, pool: tuple, strides: tuple, pads: tuple) -> tuple:
        n, h, w, c = x_shape
        kh, kw = pool
        sh, sw = strides
        (pt, pb), (pl, pr) = pads
        oh = (h + pt + pb - kh) // sh + 1
        ow = (w + pl + pr - kw) // sw + 1
        geo = tuple(int(v) for v in (h, w, c, kh, kw, sh, sw, pt, pl, oh, ow))
        return geo, (n, oh, ow, c)
