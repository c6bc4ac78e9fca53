"""Every gradient in engine/gradients.py against central finite differences (or exact
analytic formulas), plus the autodiff API: grads, value_and_grad(s), variable_grads,
custom_grad, higher-order gradients, stop_gradient and the no-path error."""

from __future__ import annotations

import numpy as np
import pytest
from _oracle import check, check_grads
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import engine as tw
from engine import optable
from engine.gradients import GRADIENTS


def _rand(shape, seed=0, lo=-1.0, hi=1.0):
    return np.random.default_rng(seed).uniform(lo, hi, size=shape).astype(np.float32)


# --- elementwise: every op-table entry with a gradient (engine/optable.py) -------------------
_SMOOTH = [
    n
    for n, op in optable.OPS.items()
    if "f" in op.kinds and op.grad is not None and op.grad != optable.ZERO_GRAD
]
_PIECEWISE = [n for n, op in optable.OPS.items() if op.grad == optable.ZERO_GRAD]
_BROADCAST = [((2, 3), (2, 3)), ((2, 3), (3,)), ((2, 1, 3), (4, 1)), ((), (2,))]


@pytest.mark.parametrize("name", _SMOOTH)
def test_elementwise_gradients(backend, name):
    """The table's gradient against central differences on the entry's gradient domain;
    binary ops also with broadcasting (the tape sums the gradient back to each shape)."""
    op = optable.OPS[name]
    g = np.random.default_rng(1)
    spans = op.gradient_domain()
    fn = getattr(tw, name)
    if op.arity == 1:
        check_grads(fn, spans[0].sample(g, (2, 3)), eps=op.grad_eps)
        return
    one = tw.tensor(np.ones(1, np.float32))
    wrt = [i for i, gi in enumerate(op.grad(one, one, one, one)) if gi is not None]  # floor_div: a
    for sa, sb in _BROADCAST:
        a, b = spans[0].sample(g, sa), spans[1].sample(g, sb)
        check_grads(fn, a, b, eps=op.grad_eps, wrt=wrt)


@pytest.mark.parametrize("op", _PIECEWISE)
def test_piecewise_constant_gradients_are_zero(backend, op):
    x = tw.tensor(_rand((3,), 2, 0.1, 0.4) + np.array([0, 1, -2], np.float32))
    g = tw.grad(lambda t: tw.sum(tw.mul(getattr(tw, op)(t), t)))(x)
    # d/dx (f(x) * x) = f(x) when f' = 0
    check(g, optable.OPS[op].numpy(x.numpy()), "float32")


def test_squared_difference_gradients_with_broadcasting(backend):
    for sa, sb in _BROADCAST:
        check_grads(tw.squared_difference, _rand(sa, 3, -2, 2), _rand(sb, 4, -2, 2), eps=1e-3)


def _np_sum_to(g, shape):
    """Reduce a broadcast gradient to ``shape`` (the numpy reference for sum_to_shape)."""
    g = g.sum(axis=tuple(range(g.ndim - len(shape)))) if g.ndim > len(shape) else g
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape) if axes else g.reshape(shape)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
    op=st.sampled_from(["add", "sub", "mul", "div"]),
    data=st.data(),
)
def test_property_broadcast_gradients(backend, shapes, op, data):
    sa, sb = shapes.input_shapes
    el = st.floats(0.5, 2.0, width=32)
    a = data.draw(hnp.arrays(np.float32, sa, elements=el)).astype(np.float64)
    b = data.draw(hnp.arrays(np.float32, sb, elements=el)).astype(np.float64)
    w = np.random.default_rng(0).uniform(0.5, 1.5, size=shapes.result_shape)
    ga, gb = tw.grads(lambda x, y: tw.sum(getattr(tw, op)(x, y) * tw.tensor(w)))(
        tw.tensor(a.astype(np.float32)), tw.tensor(b.astype(np.float32))
    )
    da, db = {
        "add": (w + 0 * b, w + 0 * a),
        "sub": (w + 0 * b, -w + 0 * a),
        "mul": (w * b, w * a),
        "div": (w / b + 0 * a, -w * a / b**2),
    }[op]
    check(
        ga,
        _np_sum_to(np.broadcast_to(da, shapes.result_shape), sa),
        "float32",
        rtol=1e-5,
        atol=1e-5,
    )
    check(
        gb,
        _np_sum_to(np.broadcast_to(db, shapes.result_shape), sb),
        "float32",
        rtol=1e-5,
        atol=1e-5,
    )


def test_floor_div_gradient_is_zero(backend):
    a, b = tw.tensor([2.5, -3.5]), tw.tensor([2.0, 2.0])
    ga = tw.grad(lambda x: tw.sum(tw.add(tw.floor_div(x, b), x)))(a)
    check(ga, np.ones(2), "float32")


def test_scalar_operand_gradients(backend):
    x = tw.tensor([1.0, 2.0, 3.0])
    check(
        tw.grad(lambda t: tw.sum(3.0 * t - 1.0 / t + t**2.0))(x),
        3 + 1 / np.array([1, 4, 9]) + 2 * x.numpy(),
        "float32",
    )
    check(
        tw.grad(lambda t: tw.sum(2.0**t))(x),
        np.log(2) * 2 ** x.numpy().astype(np.float64),
        "float32",
    )


def test_maximum_tie_sends_gradient_one_way(backend):
    a, b = tw.tensor([1.0, 2.0]), tw.tensor([1.0, 3.0])
    ga, gb = tw.grads(lambda x, y: tw.sum(tw.maximum(x, y)))(a, b)
    np.testing.assert_array_equal(ga.numpy() + gb.numpy(), [1.0, 1.0])


def test_where_gradient(backend):
    cond = np.array([[True, False, True]])
    a, b = _rand((2, 3), 5), _rand((3,), 6)
    check_grads(lambda x, y: tw.where(tw.tensor(cond), x, y), a, b)


def test_cast_gradient(backend):
    x = tw.tensor([1.5, -2.0])
    check(
        tw.grad(lambda t: tw.sum(tw.cast(t, "float32") * 2.0))(x), np.array([2.0, 2.0]), "float32"
    )
    # through int32 no gradient flows: no path from x to y
    with pytest.raises(ValueError, match="no path"):
        tw.grad(lambda t: tw.sum(tw.cast(tw.cast(t, "int32"), "float32")))(x)


# --- reductions --------------------------------------------------------------------------------
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)], ids=str)
@pytest.mark.parametrize("op", ["sum", "mean", "prod", "max", "min", "logsumexp"])
def test_reduction_gradients(backend, op, axis):
    x = _rand((2, 3, 2), 7, 0.5, 1.5)
    x = x + np.arange(x.size, dtype=np.float32).reshape(x.shape) * 0.01  # distinct values
    for keepdims in (False, True):
        check_grads(lambda t, k=keepdims: getattr(tw, op)(t, axis, k), x, eps=1e-3)


def test_max_gradient_splits_on_ties_like_tfjs(backend):
    x = tw.tensor([1.0, 3.0, 3.0])
    check(tw.grad(lambda t: tw.max(t))(x), np.array([0.0, 1.0, 1.0]), "float32")


def test_prod_gradient_with_a_zero(backend):
    x = tw.tensor([[2.0, 0.0, 3.0], [2.0, 0.0, 0.0], [2.0, 4.0, 3.0]])
    ref = np.array([[0.0, 6.0, 0.0], [0.0, 0.0, 0.0], [12.0, 6.0, 8.0]])
    check(tw.grad(lambda t: tw.prod(t, 1))(x), ref, "float32")


@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_cumsum_gradient(backend, exclusive, reverse):
    check_grads(lambda t: tw.cumsum(t, 1, exclusive, reverse), _rand((2, 4), 8))


def test_moments_and_norm_gradients(backend):
    x = _rand((3, 4), 9, 0.2, 2)
    check_grads(lambda t: tw.moments(t, 0)[1], x, eps=1e-3)
    check_grads(lambda t: tw.moments(t, (0, 1))[0], x, eps=1e-3)
    check_grads(lambda t: tw.norm(t, "euclidean", 1), x, eps=1e-3)
    check_grads(lambda t: tw.norm(t, 3, 0), x, eps=1e-3)


# --- matmul ----------------------------------------------------------------------------------
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_matmul_gradient_transposes(backend, ta, tb):
    a = _rand((4, 3) if ta else (3, 4), 10)
    b = _rand((2, 4) if tb else (4, 2), 11)
    check_grads(lambda x, y: tw.matmul(x, y, ta, tb), a, b, eps=1e-2)


@pytest.mark.parametrize(
    "sa,sb,ta,tb",
    [
        ((2, 3, 4), (4, 2), False, False),
        ((1, 3, 4), (2, 4, 2), False, False),
        ((2, 1, 3, 2), (3, 4, 3), True, True),
        ((3,), (3, 2), False, False),
        ((2, 3, 4), (4,), False, False),
        ((2, 4, 3), (2, 2, 4), True, True),
        ((1, 4, 3), (2, 4, 2), True, False),
        ((2, 3, 4), (1, 2, 4), False, True),
    ],
    ids=str,
)
def test_matmul_gradient_batch_broadcast(backend, sa, sb, ta, tb):
    check_grads(lambda x, y: tw.matmul(x, y, ta, tb), _rand(sa, 12), _rand(sb, 13))


def test_dot_outer_gradients(backend):
    check_grads(tw.dot, _rand((3,), 14), _rand((3, 2), 15))
    check_grads(tw.outer, _rand((3,), 16), _rand((2,), 17))


# --- shape ops ---------------------------------------------------------------------------------
def test_transpose_reshape_gradients(backend):
    x = _rand((2, 3, 4), 18)
    check_grads(lambda t: tw.transpose(t, (2, 0, 1)), x)
    check_grads(lambda t: tw.reshape(t, (4, 6)), x)
    check_grads(lambda t: tw.expand_dims(tw.squeeze(tw.reshape(t, (1, 24))), 1), x)


@pytest.mark.parametrize(
    "index",
    [
        (slice(None, None, 2),),
        (slice(None, None, -1), 1),
        (Ellipsis, slice(3, 0, -2)),
        (1, slice(1, None), None),
        (slice(0, 0),),
        (0, -1, slice(None, None, -3)),
    ],
    ids=str,
)
def test_strided_slice_gradients(backend, index):
    check_grads(lambda t: t[index] * 1.0, _rand((3, 4, 5), 19))


def test_slice_reverse_split_concat_stack_gradients(backend):
    x = _rand((3, 4), 20)
    check_grads(lambda t: tw.slice(t, [1, 1], [2, -1]), x)
    check_grads(lambda t: tw.reverse(t, 1), x)
    check_grads(lambda t: tw.concat(tw.split(t, [1, 3], 1)[::-1], 1), x)
    check_grads(lambda a, b: tw.concat([a, b, a], 0), x, _rand((1, 4), 21))
    check_grads(lambda a, b: tw.stack([a, b], 1), x, _rand((3, 4), 22))
    check_grads(lambda t: tw.unstack(t, 1)[2], x)


def test_pad_tile_broadcast_gradients(backend):
    x = _rand((2, 3), 23)
    check_grads(lambda t: tw.pad(t, [(1, 0), (2, 1)], 3.0), x)
    check_grads(lambda t: tw.tile(t, (2, 3)), x)
    check_grads(lambda t: tw.broadcast_to(t, (4, 2, 3)), x)
    check_grads(lambda t: tw.broadcast_to(t, (2, 3)), _rand((1, 3), 24))


def test_gather_scatter_gradients(backend):
    x = _rand((4, 3), 25)
    idx = tw.tensor(np.array([[3, 0], [3, 1]], np.int32))
    check_grads(lambda t: tw.gather(t, idx, 0), x)  # repeated index: contributions add
    check_grads(lambda t: tw.gather(t, tw.tensor([2, 2, 0], dtype="int32"), 1), x)
    nd = tw.tensor(np.array([[0, 1], [3, 2], [0, 1]], np.int32))
    check_grads(lambda t: tw.gather_nd(t, nd), x)
    rows = tw.tensor(np.array([[1], [1], [0]], np.int32))
    check_grads(lambda u: tw.scatter_nd(rows, u, (3, 3)), _rand((3, 3), 26))
    check_grads(
        lambda u: tw.scatter_add(u, tw.tensor([2, 0, 2], dtype="int32"), 1, 4), _rand((2, 3), 27)
    )
    check_grads(lambda t: t[[1, 1, 3]], x)


def test_top_k_values_gradient(backend):
    x = np.array([[0.1, 0.9, 0.5, 0.3], [0.8, 0.2, 0.6, 0.4]], np.float32)
    check_grads(lambda t: tw.top_k(t, 2)[0], x)


# --- nn ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "strides,padding,dil",
    [((1, 1), "valid", (1, 1)), ((2, 2), "same", (1, 1)), ((1, 1), "valid", (2, 1))],
)
def test_conv2d_gradients(backend, strides, padding, dil):
    x, f = _rand((1, 5, 4, 2), 28), _rand((2, 2, 2, 2), 29)
    check_grads(lambda a, b: tw.conv2d(a, b, strides, padding, dil), x, f)


def test_conv1d_depthwise_separable_transpose_gradients(backend):
    check_grads(lambda a, b: tw.conv1d(a, b, 2, "same"), _rand((1, 6, 2), 30), _rand((3, 2, 2), 31))
    check_grads(
        lambda a, b: tw.depthwise_conv2d(a, b, 1, "same"),
        _rand((1, 4, 4, 2), 32),
        _rand((2, 2, 2, 2), 33),
    )
    check_grads(
        lambda a, b: tw.conv2d_transpose(a, b, (1, 5, 5, 2), 2, "same"),
        _rand((1, 3, 3, 3), 34),
        _rand((3, 3, 2, 3), 35),
    )


@pytest.mark.parametrize("op", ["max_pool", "avg_pool"])
@pytest.mark.parametrize(
    "pool,strides,padding", [(2, None, "valid"), (3, 2, "same"), (2, 1, "same")]
)
def test_pool_gradients(backend, op, pool, strides, padding):
    x = np.random.default_rng(36).permutation(50).astype(np.float32).reshape(1, 5, 5, 2) * 0.1
    check_grads(lambda t: getattr(tw, op)(t, pool, strides, padding), x, eps=1e-2)


def test_batch_norm_gradients(backend):
    x, m, v = _rand((4, 3), 37), _rand((3,), 38), _rand((3,), 39, 0.5, 1.5)
    o, s = _rand((3,), 40), _rand((3,), 41)
    check_grads(lambda *a: tw.batch_norm(*a, 1e-3), x, m, v, o, s, eps=1e-3)


@pytest.mark.parametrize(
    "name", ["elu", "selu", "leaky_relu", "relu6", "softsign", "gelu", "swish", "mish"]
)
def test_activation_gradients(backend, name):
    x = np.array([-2.5, -1.2, -0.4, 0.3, 1.1, 2.2, 6.5], np.float32)
    check_grads(getattr(tw, name), x, eps=1e-3)


def test_clip_hard_sigmoid_lrn_gradients(backend):
    x = np.array([[-2.0, -0.3, 0.4, 1.7, 3.0]], np.float32)
    check_grads(lambda t: tw.clip_by_value(t, -1.0, 2.0), x)
    check_grads(tw.hard_sigmoid, x * 2.0)
    check_grads(
        lambda t: tw.local_response_normalization(t, 1, 1.0, 0.5, 0.75),
        _rand((1, 2, 1, 4), 45),
        eps=1e-3,
    )


def test_identity_and_clone_gradients(backend):
    check_grads(tw.identity, _rand((2, 2), 46))
    check_grads(lambda t: t.clone() * t, _rand((3,), 47))


def test_prelu_gradient(backend):
    check_grads(
        tw.prelu, np.array([[-1.0, 0.5, -2.0]], np.float32), np.array([0.1, 0.2, 0.3], np.float32)
    )


@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_log_softmax_gradients(backend, axis):
    x = _rand((3, 4), 42, -2, 2)
    check_grads(lambda t: tw.softmax(t, axis), x, eps=1e-3)
    check_grads(lambda t: tw.log_softmax(t, axis), x, eps=1e-3)


def test_fused_softmax_gradient_entries_match_composite(backend):
    """The GRADIENTS entries a fused softmax/log_softmax kernel uses, checked directly."""
    x = tw.tensor(_rand((2, 5), 43, -2, 2))
    dy = tw.tensor(_rand((2, 5), 44))
    for name, fn in (("softmax", tw.softmax), ("log_softmax", tw.log_softmax)):
        out = fn(x)
        (g,) = GRADIENTS[name](dy, (x,), out, {"axis": 1})
        ref = tw.grad(lambda t, fn=fn: tw.sum(tw.mul(fn(t), dy)))(x)
        check(g, ref.numpy(), "float32", atol=1e-6)


def test_dropout_gradient_uses_the_mask(backend):
    x = tw.tensor(np.ones((200,), np.float32))
    y, g = tw.value_and_grad(lambda t: tw.sum(tw.dropout(t, 0.5, seed=11)))(x)
    mask = tw.dropout(x, 0.5, seed=11).numpy()
    check(g, mask, "float32")
    assert y.item() == pytest.approx(mask.sum(), rel=1e-6)


# --- every registered gradient is exercised ------------------------------------------------------
def test_gradient_table_has_every_differentiable_kernel():
    expected = {
        "add",
        "sub",
        "mul",
        "div",
        "pow",
        "maximum",
        "minimum",
        "mod",
        "floor_div",
        "atan2",
        "where",
        "cast",
        "reshape",
        "identity",
        "sum",
        "prod",
        "reduce_max",
        "reduce_min",
        "cumsum",
        "matmul",
        "transpose",
        "slice",
        "concat",
        "pad",
        "gather",
        "scatter_add",
        "softmax",
        "log_softmax",
        "custom",
        *optable.OPS,
    }
    assert expected <= set(GRADIENTS), f"missing: {sorted(expected - set(GRADIENTS))}"


# --- autodiff API -------------------------------------------------------------------------------
def test_grad_value_and_grad_grads(backend):
    f = lambda x: tw.sum(tw.square(x))  # noqa: E731
    x = tw.tensor([1.0, -2.0, 3.0])
    check(tw.grad(f)(x), 2 * x.numpy(), "float32")
    y, g = tw.value_and_grad(f)(x)
    assert y.item() == pytest.approx(14.0)
    check(g, 2 * x.numpy(), "float32")
    h = lambda a, b: tw.sum(a * b)  # noqa: E731
    ga, gb = tw.grads(h)(x, [4.0, 5.0, 6.0])
    check(ga, np.array([4.0, 5.0, 6.0]), "float32")
    check(gb, x.numpy(), "float32")
    v, (ga2, gb2) = tw.value_and_grads(h)(x, x)
    assert v.item() == pytest.approx(14.0)
    check(ga2, 2 * x.numpy(), "float32")  # the same tensor twice: both see the total


def test_grad_with_dy_and_non_scalar_output(backend):
    x = tw.tensor([1.0, 2.0])
    check(tw.grad(lambda t: t * 3.0)(x), np.array([3.0, 3.0]), "float32")
    check(
        tw.grad(lambda t: t * 3.0)(x, dy=tw.tensor([1.0, -2.0])), np.array([3.0, -6.0]), "float32"
    )
    check(tw.grad(lambda t: t)(x), np.ones(2), "float32")
    with pytest.raises(
        ValueError, match=r"dy has shape \(3,\) but the function's output has shape \(2,\)"
    ):
        tw.grad(lambda t: t * 3.0)(x, dy=tw.tensor([1.0, 2.0, 3.0]))


def test_tidy_inside_the_differentiated_function(backend):
    """Tensors the backward pass needs survive a tidy that closes while the tape records."""
    x, w = tw.tensor([1.0, 2.0]), tw.tensor([3.0, 4.0])
    g = tw.grad(lambda t: tw.tidy(lambda: tw.sum(tw.exp(t) * w)))(x)
    check(g, np.exp([1.0, 2.0]) * [3.0, 4.0], "float32")

    def f(t):
        with tw.tidy():
            h = tw.keep(tw.tanh(t * w))
        return tw.sum(h * h)

    g = tw.grad(f)(x)
    th = np.tanh(np.array([3.0, 8.0]))
    check(g, 2 * th * (1 - th**2) * [3.0, 4.0], "float32", atol=1e-6)


def test_no_path_error(backend):
    x = tw.tensor([1.0, 2.0])
    with pytest.raises(ValueError, match=r"grads: no path leads from argument 0"):
        tw.grad(lambda t: tw.ones((2,)))(x)
    with pytest.raises(ValueError, match=r"no path leads from argument 1"):
        tw.grads(lambda a, b: tw.sum(a))(x, x * 2.0)
    with pytest.raises(ValueError, match="no path"):
        tw.grad(lambda t: tw.sum(tw.stop_gradient(t)))(x)
    with pytest.raises(TypeError, match="must return a Tensor"):
        tw.grad(lambda t: 3.0)(x)
    with pytest.raises(TypeError, match="argument 0 is int32; gradients flow only to float"):
        tw.grad(lambda t: tw.sum(tw.relu(t)))(tw.tensor(np.array([1, 2])))


def test_stop_gradient(backend):
    x = tw.tensor([2.0, 3.0])
    g = tw.grad(lambda t: tw.sum(t * tw.stop_gradient(t)))(x)
    check(g, x.numpy(), "float32")


def test_higher_order_gradients(backend):
    x = tw.tensor([0.5, -1.0, 2.0])
    xv = x.numpy().astype(np.float64)
    d2 = tw.grad(tw.grad(lambda t: tw.sum(t * t * t)))(x)
    check(d2, 6 * xv, "float32", rtol=1e-5)
    d3 = tw.grad(tw.grad(tw.grad(lambda t: tw.sum(t**3.0))))(x)
    check(d3, np.full(3, 6.0), "float32", rtol=1e-5)
    d2_tanh = tw.grad(tw.grad(lambda t: tw.sum(tw.tanh(t))))(x)
    check(d2_tanh, -2 * np.tanh(xv) * (1 - np.tanh(xv) ** 2), "float32", rtol=1e-5)
    d2_sin = tw.grad(tw.grad(lambda t: tw.sum(t * tw.sin(t))))(x)
    check(d2_sin, 2 * np.cos(xv) - xv * np.sin(xv), "float32", rtol=1e-5, atol=1e-6)
    d2_sm = tw.grad(tw.grad(lambda t: tw.sum(tw.softmax(t) * tw.tensor([1.0, 2.0, 3.0]))))(x)
    check_fd2 = _second_derivative_fd(lambda v: np.sum(_softmax(v) * [1, 2, 3]), xv)
    check(d2_sm, check_fd2, "float32", rtol=1e-3, atol=1e-4)


def _softmax(v):
    e = np.exp(v - v.max())
    return e / e.sum()


def _second_derivative_fd(f, x, eps=1e-4):
    """d/dx_i of (df/dx_i), summed as grad(grad(sum f)) does: the gradient of sum(grad f)."""

    def grad_sum(v):
        g = np.zeros_like(v)
        for i in range(v.size):
            p, m = v.copy(), v.copy()
            p[i] += eps
            m[i] -= eps
            g[i] = (f(p) - f(m)) / (2 * eps)
        return g.sum()

    out = np.zeros_like(x)
    for i in range(x.size):
        p, m = x.copy(), x.copy()
        p[i] += eps
        m[i] -= eps
        out[i] = (grad_sum(p) - grad_sum(m)) / (2 * eps)
    return out


def test_mixed_second_derivative(backend):
    # d/dy (d/dx (x^2 y)) = 2x
    x, y = tw.tensor([1.5, -2.0]), tw.tensor([3.0, 0.5])
    g = tw.grads(lambda a, b: tw.sum(tw.grads(lambda u, v: tw.sum(u * u * v))(a, b)[0]))(x, y)
    check(g[1], 2 * x.numpy(), "float32")
    check(g[0], 2 * y.numpy(), "float32")


def test_custom_grad(backend):
    calls = []

    @tw.custom_grad
    def clipped_identity(x):
        def grad_fn(dy):
            calls.append(dy.shape)
            return [tw.clip_by_value(dy, -0.5, 0.5)]

        return tw.square(x), grad_fn  # value x^2, gradient overridden

    x = tw.tensor([1.0, 2.0, 3.0])
    y = clipped_identity(x)
    check(y, np.array([1.0, 4.0, 9.0]), "float32")
    g = tw.grad(lambda t: tw.sum(clipped_identity(t) * tw.tensor([0.1, 1.0, -2.0])))(x)
    check(g, np.array([0.1, 0.5, -0.5]), "float32")
    assert calls == [(3,)]


def test_custom_grad_two_inputs_and_wrong_count(backend):
    @tw.custom_grad
    def f(a, b):
        return tw.mul(a, b), lambda dy: [dy * 2.0, None]

    a, b = tw.tensor([1.0, 2.0]), tw.tensor([3.0, 4.0])
    check(tw.grad(lambda t: tw.sum(f(t, b)))(a), np.array([2.0, 2.0]), "float32")
    with pytest.raises(ValueError, match="no path"):
        tw.grads(lambda u, v: tw.sum(f(u, v)))(a, b)

    @tw.custom_grad
    def bad(a):
        return a * 1.0, lambda dy: [dy, dy]

    with pytest.raises(ValueError, match="returned 2 gradients for 1 inputs"):
        tw.grad(lambda t: tw.sum(bad(t)))(a)


def test_variable_grads(backend):
    w = tw.variable(tw.tensor([[1.0, 2.0], [3.0, 4.0]]), name="vg_w")
    b = tw.variable(tw.tensor([0.5, -0.5]), name="vg_b")
    frozen = tw.variable(tw.tensor([1.0, 1.0]), trainable=False, name="vg_frozen")
    unused = tw.variable(tw.tensor([9.0]), name="vg_unused")
    x = tw.tensor([[1.0, -1.0]])

    def loss():
        return tw.sum(tw.square(tw.matmul(x, w) + b) * frozen)

    out = tw.variable_grads(loss)
    z = x.numpy() @ w.numpy() + b.numpy()
    assert out["value"].item() == pytest.approx(float(np.sum(z**2)))
    assert set(out["grads"]) == {"vg_w", "vg_b"}
    check(out["grads"]["vg_w"], x.numpy().T @ (2 * z), "float32")
    check(out["grads"]["vg_b"], (2 * z).sum(0), "float32")
    only_b = tw.variable_grads(loss, [b])
    assert set(only_b["grads"]) == {"vg_b"}
    with pytest.raises(ValueError, match="no path leads from variable 'vg_unused'"):
        tw.variable_grads(loss, [unused])
    with pytest.raises(ValueError, match="variable_grads: f must return a scalar"):
        tw.variable_grads(lambda: w * 2.0)
    with pytest.raises(ValueError, match="uses no trainable variable"):
        tw.variable_grads(lambda: tw.sum(frozen))


def test_grad_ignores_int_inputs_and_gives_float_grads(backend):
    x = tw.tensor([1.0, 2.0])
    idx = tw.tensor(np.array([1, 0, 1], np.int32))
    g = tw.grad(lambda t: tw.sum(tw.gather(t, idx) * tw.cast(idx, "float32")))(x)
    check(g, np.array([0.0, 2.0]), "float32")


def test_gradient_inside_tidy_keeps_results(backend):
    x = tw.tensor([1.0, 2.0])
    g = tw.tidy(lambda: tw.grad(lambda t: tw.sum(tw.exp(t)))(x))
    check(g, np.exp(x.numpy().astype(np.float64)), "float32")
