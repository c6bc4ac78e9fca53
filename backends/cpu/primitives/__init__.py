"""The ``cpu`` backend's primitives, one module per concern, each a mixin of ``CpuBackend``
(``backends.cpu.backend``):

- ``memory``: ``from_numpy``, ``to_numpy``, ``fill``;
- ``elementwise``: ``unary``, ``binary``, ``where``, ``cast``, ``fused_elementwise``;
- ``reduce``: ``reduce``, ``arg_reduce``, ``cumsum``;
- ``matmul``: ``matmul``, ``fused_matmul``;
- ``layout``: ``transpose``, ``reshape``, ``slice``, ``concat``, ``pad``;
- ``gather_scatter``: ``gather``, ``scatter_add``, ``ravel_indices``, ``one_hot``;
- ``nn``: ``softmax``, ``log_softmax``, ``categorical_crossentropy(_grad)``, ``conv2d``,
  ``fused_conv2d``, ``conv2d_backprop_filter``, ``max_pool``, ``max_pool_grad``;
- ``optim``: the fused optimizer updates (``sgd_update`` ... ``ftrl_update``);
- ``common``: what they share (``PrimitiveBase``, dtype constants, task sizes).

The kernels they launch are in ``backends.cpu.kernels`` (elementwise, reductions, gather,
softmax, optimizer updates), ``backends.cpu.conv`` (convolution, pooling) and
``backends.cpu.fusion`` (generated fused chains).

The package itself imports nothing, so a kernel module may use ``common`` without importing
every primitive.
"""
