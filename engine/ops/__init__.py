"""Every public op of the engine (shape checks, dtype rules, composites)."""

from types import ModuleType as _ModuleType

from engine.ops import image, signal, spectral  # TF.js's tf.image, tf.signal, tf.spectral
from engine.ops.accumulate import add_n, cumprod, euclidean_norm, moving_average
from engine.ops.activations import (
    elu,
    gelu,
    hard_sigmoid,
    leaky_relu,
    linear,
    log_softmax,
    mish,
    prelu,
    relu6,
    selu,
    softmax,
    softsign,
    swish,
)
from engine.ops.complex_ops import complex, conj, imag, real
from engine.ops.contraction import einsum
from engine.ops.core import (
    as_tensor,
    binary,
    broadcast_shapes,
    cast,
    identity,
    reshape,
    scalar,
    sum_to_shape,
    tensor,
    unary,
)
from engine.ops.creation import (
    eye,
    fill,
    linspace,
    ones,
    ones_like,
    random_normal,
    random_uniform,
    range,
    rng,
    set_seed,
    truncated_normal,
    variable,
    zeros,
    zeros_like,
)
from engine.ops.elementwise_extra import div_no_nan, is_inf, log_sigmoid, step
from engine.ops.int_ops import bitwise_and, broadcast_args
from engine.ops.layout import (
    batch_to_space_nd,
    depth_to_space,
    diag,
    ensure_shape,
    meshgrid,
    mirror_pad,
    space_to_batch_nd,
)
from engine.ops.linalg import FUSED_ACTIVATIONS, dot, fused_matmul, matmul, outer
from engine.ops.losses import categorical_crossentropy
from engine.ops.math import *  # noqa: F403  (every op-table op, generated, and the rest)
from engine.ops.nn import (
    avg_pool,
    batch_norm,
    conv1d,
    conv2d,
    conv2d_input_grad,
    conv2d_transpose,
    conv_output_size,
    depthwise_conv2d,
    dropout,
    fused_conv2d,
    local_response_normalization,
    max_pool,
    separable_conv2d,
)
from engine.ops.nn3d import (
    avg_pool3d,
    conv3d,
    conv3d_transpose,
    dilation2d,
    max_pool3d,
    max_pool_with_argmax,
)
from engine.ops.random_ops import (
    multinomial,
    random_gamma,
    random_standard_normal,
    random_uniform_int,
)
from engine.ops.reduction import (
    all,
    any,
    argmax,
    argmin,
    cumsum,
    logsumexp,
    max,
    mean,
    min,
    moments,
    norm,
    prod,
    sum,
)
from engine.ops.search import (
    argwhere,
    boolean_mask,
    in_top_k,
    lower_bound,
    search_sorted,
    setdiff1d,
    setdiff1d_async,
    unique,
    upper_bound,
    where_async,
)
from engine.ops.segment import (
    bincount,
    dense_bincount,
    tensor_scatter_update,
    unsorted_segment_sum,
)
from engine.ops.shape import (
    broadcast_to,
    concat,
    expand_dims,
    gather,
    gather_nd,
    one_hot,
    pad,
    reverse,
    scatter_add,
    scatter_nd,
    slice,
    split,
    squeeze,
    stack,
    strided_slice_index,
    tile,
    top_k,
    transpose,
    unstack,
)
from engine.ops.trig import acos, acosh, asin, asinh, atan, atanh, cosh, sinh

# Public names: every op, and the TF.js namespaces ``image``, ``linalg``, ``signal`` and
# ``spectral``; not the submodules
# that hold the ops (``from engine import *`` must not rebind ``math`` to engine.ops.math).
__all__ = [
    n
    for n, v in list(globals().items())
    if not n.startswith("_")
    and (not isinstance(v, _ModuleType) or n in ("image", "linalg", "signal", "spectral"))
]
