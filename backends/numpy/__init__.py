"""The ``numpy`` reference backend: plain numpy, lowest priority, the oracle of the tests."""

from backends.numpy.backend import NumpyBackend

__all__ = ["NumpyBackend"]
