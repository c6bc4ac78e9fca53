"""Native helpers of the ``cpu`` backend, below the kernels and the scheduler:

- ``cblas``: OpenBLAS called from numba (``cblas_?gemm`` by symbol, a GEMM split over numba's
  threads): the private copy the GEMMs call (``get_gemm``), numpy's and its thread count
  (``get_blas``);
- ``threads``: other processes' CPU load, OpenBLAS's idle spin, and the GEMM thread choice;
- ``stream``: non-temporal (streaming) stores for large elementwise outputs on x86-64.

Nothing here imports the rest of the backend (``stream`` uses ``backends.cpu.kernels``).
"""
