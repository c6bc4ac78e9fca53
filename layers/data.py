"""User data: datasets (TF.js ``tf.data``) and the conversion of arrays into model inputs.

Datasets: the factories ``array``, ``generator``, ``csv``, ``zip`` and ``func`` build a
``Dataset``, whose methods (``batch``, ``shuffle``, ``map``, ``filter``, ``take``, ``skip``,
``repeat``, ``prefetch``, ``concatenate``) chain as in TF.js; ``model.fit``, ``evaluate``,
``predict``, ``fit_dataset`` and ``evaluate_dataset`` take one. ``as_input_list`` and
``split_inputs`` turn user arrays (tensors, numpy, lists, dicts) into the model's list of input
tensors.
"""

from __future__ import annotations

import builtins
import csv as _csv
import functools
import itertools
import math
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from os import PathLike, fspath
from typing import Any, NoReturn

import numpy as np

import engine as tw
from engine import Tensor
from engine.dtypes import as_int
from engine.hints import did_you_mean


def _convert(x: Any, what: str) -> Tensor:
    if isinstance(x, Tensor):
        return x if x.dtype == "float32" else tw.cast(x, "float32")
    try:
        arr = np.asarray(x)
        if arr.dtype.kind not in "biufc":
            arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"{what}: cannot convert {type(x).__name__} to a float32 tensor ({e})"
        ) from None
    try:  # checked conversion: complex values and finite values beyond float32 raise
        return tw.tensor(arr, dtype="float32")
    except (TypeError, ValueError) as e:
        raise type(e)(f"{what}: {e}") from None


def _is_array_like(x: Any) -> bool:
    return isinstance(x, (Tensor, np.ndarray)) or hasattr(x, "__array__")


def split_inputs(x: Any, names: list[str], kind: str = "input") -> list[Any]:
    """``x`` (one array, a list, or a dict keyed by name) as one entry per name, unconverted.

    Args:
        x: One array (single input), a list in ``names`` order, or a dict keyed by name.
        names: The model's input (or output) names.
        kind: ``"input"`` or ``"target"``, for error messages.

    Returns:
        One entry per name.

    Raises:
        ValueError: A dict with missing or unknown keys, or a list of the wrong length.
    """
    n = len(names)
    if isinstance(x, dict):
        missing = [k for k in names if k not in x]
        if missing:
            raise ValueError(
                f"{kind} dict is missing {missing}; expected keys {names}, got {sorted(x)}"
            )
        extra = sorted(set(x) - set(names))
        if extra:
            raise ValueError(f"{kind} dict has unknown keys {extra}; expected keys {names}")
        return [x[k] for k in names]
    if isinstance(x, (list, tuple)):
        if (
            n > 1
            or (len(x) == 1 and _is_array_like(x[0]))
            or (x and all(_is_array_like(e) for e in x) and n == len(x))
        ):
            if len(x) != n:
                raise ValueError(
                    f"the model has {n} {kind}(s) {names}, got a list of {len(x)} arrays"
                )
            return list(x)
    if n != 1:
        raise ValueError(f"the model has {n} {kind}s {names}; pass a list or a dict of {n} arrays")
    return [x]


def as_input_list(x: Any, model: Any) -> list[Tensor]:
    """``x`` as a list of float32 tensors, one per model input, with shapes checked.

    Args:
        x: What ``fit``/``predict`` accept: an array, a list, or a dict keyed by input name.
        model: The model whose ``input_names`` and ``input_shapes`` to match.

    Returns:
        One float32 Tensor per model input.

    Raises:
        TypeError: A value cannot be converted to float32.
        ValueError: A shape does not match the model, or sample counts differ.
    """
    shapes = list(getattr(model, "input_shapes", []) or [])
    names = list(getattr(model, "input_names", []) or [])
    if not names:  # a Sequential model that does not know its input shape yet
        if isinstance(x, dict) or (
            isinstance(x, (list, tuple)) and len(x) == 1 and _is_array_like(x[0])
        ):
            x = list(x.values())[0] if isinstance(x, dict) else x[0]
        return [_convert(x, "input")]
    parts = split_inputs(x, names, "input")
    out = [_convert(p, f"input {name!r}") for p, name in builtins.zip(parts, names, strict=False)]
    for t, shape, name in builtins.zip(out, shapes, names, strict=False):
        if len(t.shape) != len(shape) or any(
            e is not None and e != g for e, g in builtins.zip(shape[1:], t.shape[1:], strict=False)
        ):
            raise ValueError(
                f"input {name!r}: expected shape {tuple(shape)} (None = any size), got an array of shape {t.shape}"
            )
    counts = {t.shape[0] for t in out}
    if len(counts) > 1:
        raise ValueError(
            f"all inputs must have the same number of samples, got {[t.shape[0] for t in out]}"
        )
    return out


# --- datasets (TF.js ``tf.data``) ---------------------------------------------------------------

#: ``Dataset.size`` of an endless dataset (``repeat()`` with no count).
INFINITE = math.inf


def _close(it: Any) -> None:
    """Close an iterator that can be closed (generators, prefetch iterators); ignore others."""
    close = getattr(it, "close", None)
    if close is not None:
        close()


def _fail(what: str, got: Any, expected: str, exc: type[Exception] = TypeError) -> NoReturn:
    raise exc(f"{what}: expected {expected}, got {got!r} ({type(got).__name__})")


def _count(value: Any, name: str, minimum: int) -> int:
    """A checked integer argument: ``take(-1)`` and ``batch(0)`` raise before anything runs."""
    out = as_int(value, name, minimum=minimum)
    assert out is not None
    return out


def _callable(fn: Any, name: str) -> None:
    if not callable(fn):
        _fail(name, fn, "a function")


class Dataset:
    """An ordered collection of elements that can be iterated many times (TF.js
    ``tf.data.Dataset``).

    Build one with a factory (``array``, ``generator``, ``csv``, ``zip``, ``func``) and chain
    the methods (``batch``, ``shuffle``, ``map``, ``filter``, ``take``, ``skip``, ``repeat``,
    ``prefetch``, ``concatenate``); each returns a new dataset and reads nothing until the
    dataset is iterated. Iterating (``for e in ds``, ``iter(ds)``) starts a fresh pass, so
    ``model.fit(ds, epochs=3)`` sees every element three times. Elements are numbers, numpy
    arrays, Tensors or (nested) dicts, tuples and lists of them, as in TF.js.

    Where TF.js differs: batches are numpy arrays (``batch`` stacks each leaf on the host;
    ``fit`` converts them), and methods and iteration are synchronous (TF.js's ``toArray`` and
    ``forEachAsync`` are ``to_array`` and ``for_each``).

    Example:

    >>> ds = layers.data.array([1, 2, 3, 4, 5]).map(lambda v: v * 10).batch(2)
    >>> [b.tolist() for b in ds]
    [[10, 20], [30, 40], [50]]
    >>> ds.size
    3
    """

    def __init__(self, make_iterator: Callable[[], Iterator[Any]], size: float | None = None):
        """Wrap a function that starts one pass (use the factories rather than this).

        Args:
            make_iterator: Called once per pass; returns an iterator over the elements.
            size: The number of elements: an int, ``INFINITE`` or ``None`` (unknown).
        """
        _callable(make_iterator, "Dataset: make_iterator")
        self._make_iterator = make_iterator
        self._size = size

    @property
    def size(self) -> float | None:
        """The number of elements: an int, ``math.inf`` (``repeat()``), or ``None`` when it is
        not known without iterating (``filter``, ``generator``, ``csv``)."""
        return self._size

    def __repr__(self) -> str:
        return f"Dataset(size={self._size})"

    def iterator(self) -> Iterator[Any]:
        """Start a pass over the elements (TF.js ``dataset.iterator()``, synchronous).

        Returns:
            An iterator. Close it (``it.close()``) to stop a pass early: a ``prefetch`` thread
            then stops at once; dropping the iterator does the same when it is collected.
        """
        return self._make_iterator()

    def __iter__(self) -> Iterator[Any]:
        return self.iterator()

    # --- transformations ------------------------------------------------------------------------
    def _then(self, stage: Callable[[Iterator[Any]], Iterator[Any]], size: float | None) -> Dataset:
        """A dataset whose passes feed a pass of this one through ``stage`` (a generator
        function); the upstream iterator is closed when the stage ends or is closed."""

        def make() -> Iterator[Any]:
            return _closing(stage, self.iterator())

        return Dataset(make, size)

    def batch(self, batch_size: int, small_last_batch: bool = True) -> Dataset:
        """Group consecutive elements into batches (TF.js ``batch``).

        Each leaf of the element structure is stacked along a new first axis into a numpy
        array: numbers give a vector, arrays of shape ``s`` give ``(batch, *s)``, dicts and
        tuples keep their structure (``{"xs": x, "ys": y}`` elements give
        ``{"xs": x_batch, "ys": y_batch}``).

        Args:
            batch_size: Elements per batch (an int >= 1).
            small_last_batch: Keep a final batch with fewer elements (TF.js's default); False
                drops it.

        Returns:
            The dataset of batches.

        Raises:
            ValueError: ``batch_size`` < 1; while iterating, elements whose structures or leaf
                shapes differ.
        """
        n = _count(batch_size, "batch: batch_size", 1)
        keep = bool(small_last_batch)
        size = self._size
        if size is not None and size != INFINITE:
            size = math.ceil(size / n) if keep else size // n

        def stage(it: Iterator[Any]) -> Iterator[Any]:
            while True:
                group = list(itertools.islice(it, n))
                if not group or (len(group) < n and not keep):
                    return
                yield _stack(group, "batch")
                if len(group) < n:
                    return

        return self._then(stage, size)

    def shuffle(
        self, buffer_size: int, seed: int | None = None, reshuffle_each_iteration: bool = True
    ) -> Dataset:
        """Randomly shuffle the elements through a buffer (TF.js ``shuffle``).

        The buffer holds ``buffer_size`` elements; each output is drawn at random from it and
        its place refilled from upstream, so output ``j`` comes from the first
        ``j + buffer_size`` inputs. A buffer at least as large as the dataset gives a uniform
        permutation; 1 keeps the order.

        Args:
            buffer_size: Elements held (an int >= 1).
            seed: Seed of the random order. ``None`` draws one from the global sequence
                (``engine.set_seed``) when ``shuffle`` is called, so seeded programs repeat.
            reshuffle_each_iteration: Each pass (epoch) gets a new order (derived from the seed,
                so the sequence of orders repeats too); False repeats the first order.

        Returns:
            The shuffled dataset (same size).

        Raises:
            ValueError: ``buffer_size`` < 1 or a negative ``seed``.
        """
        n = _count(buffer_size, "shuffle: buffer_size", 1)
        if seed is None:
            base = int(tw.rng().integers(2**62))
        else:
            base = _count(seed, "shuffle: seed", 0)
        seeds = np.random.Generator(np.random.Philox(base))
        lock = threading.Lock()
        reshuffle = bool(reshuffle_each_iteration)

        def make() -> Iterator[Any]:
            if reshuffle:
                with lock:  # drawn when the pass starts, in the caller's order
                    key = int(seeds.integers(2**62))
            else:
                key = base
            rng = np.random.Generator(np.random.Philox(key))
            return _closing(functools.partial(_shuffled, n=n, rng=rng), self.iterator())

        return Dataset(make, self._size)

    def map(self, fn: Callable[[Any], Any]) -> Dataset:
        """Apply ``fn`` to every element (TF.js ``map``).

        Args:
            fn: Takes an element, returns the new element.

        Returns:
            The mapped dataset (same size).

        Raises:
            TypeError: ``fn`` is not callable.
        """
        _callable(fn, "map: fn")

        def stage(it: Iterator[Any]) -> Iterator[Any]:
            for e in it:
                yield fn(e)

        return self._then(stage, self._size)

    def filter(self, predicate: Callable[[Any], Any]) -> Dataset:
        """Keep the elements for which ``predicate`` is true (TF.js ``filter``).

        Args:
            predicate: Takes an element, returns a bool (a one-value array or Tensor counts).

        Returns:
            The filtered dataset (size unknown, ``None``, unless this one is empty).

        Raises:
            TypeError: ``predicate`` is not callable.
        """
        _callable(predicate, "filter: predicate")

        def stage(it: Iterator[Any]) -> Iterator[Any]:
            for e in it:
                keep = predicate(e)
                if isinstance(keep, Tensor):
                    keep = keep.numpy()
                if bool(np.asarray(keep)):
                    yield e

        return self._then(stage, 0 if self._size == 0 else None)

    def take(self, count: int) -> Dataset:
        """The first ``count`` elements (TF.js ``take``).

        Args:
            count: An int >= 0 (TF.js reads a negative count as "all"; here that is an error:
                leave ``take`` out to keep every element).

        Returns:
            The dataset of at most ``count`` elements.

        Raises:
            ValueError: ``count`` is negative.
        """
        n = _count(count, "take: count", 0)

        def stage(it: Iterator[Any]) -> Iterator[Any]:
            yield from itertools.islice(it, n)

        return self._then(stage, n if self._size is None else min(self._size, n))

    def skip(self, count: int) -> Dataset:
        """All but the first ``count`` elements (TF.js ``skip``).

        Args:
            count: An int >= 0.

        Returns:
            The dataset without its first ``count`` elements.

        Raises:
            ValueError: ``count`` is negative.
        """
        n = _count(count, "skip: count", 0)

        def stage(it: Iterator[Any]) -> Iterator[Any]:
            yield from itertools.islice(it, n, None)

        size = self._size
        return self._then(stage, None if size is None else max(size - n, 0))

    def repeat(self, count: int | None = None) -> Dataset:
        """Repeat the dataset ``count`` times, or forever (TF.js ``repeat``).

        Each repetition is a fresh pass (a ``shuffle`` upstream reshuffles). A pass that
        yields nothing ends the repetition, so repeating an empty dataset does not hang.

        Args:
            count: Passes (an int >= 0), or ``None`` for an endless dataset (give ``fit`` a
                ``steps_per_epoch`` then).

        Returns:
            The repeated dataset (``size`` is ``math.inf`` without ``count``).

        Raises:
            ValueError: A negative ``count``.
        """
        times = None if count is None else _count(count, "repeat: count", 0)
        base = self

        def make() -> Iterator[Any]:
            k = 0
            while times is None or k < times:
                it = base.iterator()
                got = False
                try:
                    for e in it:
                        got = True
                        yield e
                finally:
                    _close(it)
                if not got:
                    return
                k += 1

        size = self._size
        if times is not None:
            size = None if size is None else size * times
        elif size != 0:
            size = INFINITE
        return Dataset(make, size)

    def prefetch(self, buffer_size: int) -> Dataset:
        """Produce elements ahead in a background thread (TF.js ``prefetch``).

        Each pass starts one thread that iterates this dataset (reading files, ``map``, ...)
        into a queue of at most ``buffer_size`` elements while the consumer (``fit``) works on
        earlier ones. An exception in the producer is raised in the consumer; the thread stops
        when the pass ends or its iterator is closed or dropped, and never outlives the
        interpreter (daemon thread).

        Args:
            buffer_size: Elements produced ahead (an int >= 1).

        Returns:
            The same elements, produced ahead.

        Raises:
            ValueError: ``buffer_size`` < 1.
        """
        n = _count(buffer_size, "prefetch: buffer_size", 1)
        return Dataset(lambda: _PrefetchIterator(self.iterator(), n), self._size)

    def concatenate(self, other: Dataset) -> Dataset:
        """This dataset's elements, then ``other``'s (TF.js ``concatenate``).

        Args:
            other: A ``Dataset``.

        Returns:
            The concatenated dataset.

        Raises:
            TypeError: ``other`` is not a ``Dataset``.
        """
        if not isinstance(other, Dataset):
            _fail("concatenate: other", other, "a Dataset")
        a, b = self, other

        def make() -> Iterator[Any]:
            for part in (a, b):
                it = part.iterator()
                try:
                    yield from it
                finally:
                    _close(it)

        size = None if a.size is None or b.size is None else a.size + b.size
        return Dataset(make, size)

    # --- consumers --------------------------------------------------------------------------------
    def to_array(self) -> list[Any]:
        """Every element in a list (TF.js ``toArray``).

        Returns:
            A list of the elements of one pass.

        Raises:
            ValueError: The dataset is endless (``repeat()``); ``take`` a part first.
        """
        if self._size == INFINITE:
            raise ValueError("to_array: the dataset is endless (repeat()); take(n) a part first")
        it = self.iterator()
        try:
            return list(it)
        finally:
            _close(it)

    def for_each(self, fn: Callable[[Any], Any]) -> None:
        """Call ``fn`` on every element of one pass (TF.js ``forEachAsync``).

        Args:
            fn: Takes an element; its result is ignored.

        Raises:
            TypeError: ``fn`` is not callable.
            ValueError: The dataset is endless (``repeat()``).
        """
        _callable(fn, "for_each: fn")
        if self._size == INFINITE:
            raise ValueError("for_each: the dataset is endless (repeat()); take(n) a part first")
        it = self.iterator()
        try:
            for e in it:
                fn(e)
        finally:
            _close(it)


def _closing(stage: Callable[[Iterator[Any]], Iterator[Any]], it: Iterator[Any]) -> Iterator[Any]:
    """``stage(it)`` that closes ``it`` when the stage ends, fails or is closed."""
    try:
        yield from stage(it)
    finally:
        _close(it)


def _shuffled(it: Iterator[Any], n: int, rng: np.random.Generator) -> Iterator[Any]:
    buf: list[Any] = []
    for e in it:
        if len(buf) < n:
            buf.append(e)
            continue
        i = int(rng.integers(len(buf)))
        out, buf[i] = buf[i], e
        yield out
    while buf:
        i = int(rng.integers(len(buf)))
        buf[i], buf[-1] = buf[-1], buf[i]
        yield buf.pop()


_ITEM, _END, _ERROR = 0, 1, 2


def _produce(base: Iterator[Any], q: queue.Queue, stop: threading.Event) -> None:
    """The prefetch thread: ``base`` into ``q`` until it ends, fails or ``stop`` is set. It
    holds no reference to its ``_PrefetchIterator``, so dropping that stops the thread."""

    def put(msg: tuple[int, Any]) -> bool:
        while not stop.is_set():
            try:
                q.put(msg, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    try:
        for e in base:
            if not put((_ITEM, e)):
                return
        put((_END, None))
    except BaseException as e:  # handed to the consumer, which raises it
        put((_ERROR, e))
    finally:
        _close(base)


class _PrefetchIterator:
    """Iterates ``base`` in a daemon thread into a bounded queue (``Dataset.prefetch``)."""

    def __init__(self, base: Iterator[Any], depth: int):
        self._queue: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(
            target=_produce,
            args=(base, self._queue, self._stop),
            name="tensorweave-prefetch",
            daemon=True,
        )
        self._thread.start()

    def __iter__(self) -> _PrefetchIterator:
        return self

    def __next__(self) -> Any:
        if self._done:
            raise StopIteration
        kind, value = self._queue.get()
        if kind == _ITEM:
            return value
        self._done = True
        self._thread.join()
        if kind == _ERROR:
            raise value
        raise StopIteration

    def close(self) -> None:
        """Stop the producer thread and wait for it (it finishes the element it is reading)."""
        stop = getattr(self, "_stop", None)
        if stop is None:
            return
        self._done = True
        stop.set()
        while True:  # free a producer blocked on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: S110 - interpreter shutdown; the thread is a daemon
            pass


def _stack(elements: list[Any], where: str, path: str = "element") -> Any:
    """Stack the leaves of same-structured elements along a new first axis (numpy)."""
    first = elements[0]
    if isinstance(first, Mapping):
        keys = list(first)
        for e in elements[1:]:
            if not isinstance(e, Mapping) or set(e) != set(keys):
                raise ValueError(
                    f"{where}: elements differ in structure at {path}: a dict with keys "
                    f"{keys} and {_describe(e)}"
                )
        return {k: _stack([e[k] for e in elements], where, f"{path}[{k!r}]") for k in keys}
    if isinstance(first, (list, tuple)):
        for e in elements[1:]:
            if type(e) is not type(first) or len(e) != len(first):
                raise ValueError(
                    f"{where}: elements differ in structure at {path}: a "
                    f"{type(first).__name__} of {len(first)} and {_describe(e)}"
                )
        parts = [_stack([e[i] for e in elements], where, f"{path}[{i}]") for i in range(len(first))]
        return tuple(parts) if isinstance(first, tuple) else parts
    leaves = []
    for e in elements:
        if e is None:
            raise ValueError(
                f"{where}: {path} is None in some element (an empty CSV cell without a "
                "default?); give every element a value"
            )
        leaves.append(e.numpy() if isinstance(e, Tensor) else np.asarray(e))
    shapes = {a.shape for a in leaves}
    if len(shapes) > 1:
        raise ValueError(
            f"{where}: {path} has different shapes in one batch: {sorted(shapes)}; "
            "every element must have the same shape"
        )
    return np.stack(leaves)


def _describe(e: Any) -> str:
    if isinstance(e, Mapping):
        return f"a dict with keys {list(e)}"
    if isinstance(e, (list, tuple)):
        return f"a {type(e).__name__} of {len(e)}"
    return f"a {type(e).__name__}"


# --- factories ------------------------------------------------------------------------------------
def array(items: Any) -> Dataset:
    """A dataset of the given elements, in order (TF.js ``tf.data.array``).

    Args:
        items: A list, tuple or other sequence of elements (numbers, arrays, Tensors,
            dicts, ...), or a numpy array / Tensor whose rows (first axis) are the elements.

    Returns:
        A dataset whose ``size`` is the number of elements.

    Raises:
        TypeError: ``items`` is not a list, tuple, array or Tensor (a generator, a dict, a
            string, a number).

    Example:

    >>> import numpy as np
    >>> xs = layers.data.array(np.arange(6).reshape(3, 2))
    >>> [row.tolist() for row in xs]
    [[0, 1], [2, 3], [4, 5]]
    """
    if isinstance(items, Tensor):
        items = items.numpy()
    if isinstance(items, np.ndarray):
        if items.ndim == 0:
            _fail("data.array: items", items, "a list or an array with a first axis")
        rows = items
    elif isinstance(items, Sequence) and not isinstance(items, (str, bytes)):
        rows = list(items)  # a list, tuple, range, ...: a snapshot of its elements
    else:
        hint = (
            " (for a dict of columns use data.zip({key: data.array(column), ...}))"
            if isinstance(items, Mapping)
            else " (for a generator use data.generator)"
            if isinstance(items, Iterator)
            else ""
        )
        raise TypeError(
            f"data.array: expected a list or tuple of elements or an array, got "
            f"{type(items).__name__}{hint}"
        )
    return Dataset(lambda: iter(rows), len(rows))


def generator(fn: Callable[[], Iterable[Any]]) -> Dataset:
    """A dataset whose passes each call ``fn`` for a fresh iterator (TF.js
    ``tf.data.generator``).

    Args:
        fn: A function returning an iterator or iterable, typically a generator function:
            pass ``gen``, not ``gen()`` (a generator object can be iterated only once).

    Returns:
        A dataset of unknown ``size``.

    Raises:
        TypeError: ``fn`` is not callable (a generator object, a list); while iterating,
            ``fn()`` returns something that cannot be iterated.

    Example:

    >>> def count_to_three():
    ...     yield from (1, 2, 3)
    >>> layers.data.generator(count_to_three).to_array()
    [1, 2, 3]
    """
    if not callable(fn):
        hint = (
            "; pass the generator function itself (gen, not gen()) so every pass can restart"
            if isinstance(fn, Iterator)
            else ""
        )
        raise TypeError(
            f"data.generator: expected a function returning an iterator, got "
            f"{type(fn).__name__}{hint}"
        )

    def make() -> Iterator[Any]:
        out = fn()
        try:
            return iter(out)
        except TypeError:
            raise TypeError(
                f"data.generator: the function returned {type(out).__name__}, not an "
                "iterator or iterable"
            ) from None

    return Dataset(make, None)


def func(fn: Callable[[], Mapping[str, Any]]) -> Dataset:
    """A dataset whose elements come from calling ``fn`` (TF.js ``tf.data.func``).

    As in TF.js, ``fn()`` returns ``{"value": element, "done": False}`` per element and
    ``{"done": True}`` at the end, and every pass continues the same sequence (a pass after
    ``done`` is empty): the dataset is as stateful as ``fn``.

    Args:
        fn: A function of no arguments returning ``{"value": ..., "done": bool}``.

    Returns:
        A dataset of unknown ``size``.

    Raises:
        TypeError: ``fn`` is not callable; while iterating, ``fn()`` returns something other
            than a dict with ``"done"`` (and ``"value"`` while not done).

    Example:

    >>> state = {"i": 0}
    >>> def next_value():
    ...     state["i"] += 1
    ...     return {"value": state["i"], "done": state["i"] > 3}
    >>> layers.data.func(next_value).to_array()
    [1, 2, 3]
    """
    _callable(fn, "data.func: fn")
    finished = [False]

    def make() -> Iterator[Any]:
        while not finished[0]:
            r = fn()
            if not isinstance(r, Mapping) or "done" not in r:
                _fail("data.func: fn()", r, 'a dict {"value": element, "done": bool}')
            if r["done"]:
                finished[0] = True
                return
            if "value" not in r:
                _fail("data.func: fn()", r, 'a "value" while "done" is false')
            yield r["value"]

    return Dataset(make, None)


def zip(datasets: Any, strict: bool = False) -> Dataset:  # noqa: A001 - TF.js's name
    """Combine datasets element by element into the same structure (TF.js ``tf.data.zip``).

    ``zip({"xs": a, "ys": b})`` yields ``{"xs": a_i, "ys": b_i}``; ``zip([a, b])`` yields
    ``[a_i, b_i]``; structures nest. As in TF.js the result ends with the shortest dataset.

    Args:
        datasets: A list, tuple or dict (nested freely) whose leaves are ``Dataset``s.
        strict: Raise when the datasets turn out to have different lengths instead of
            stopping at the shortest (TF.js has no such option; its rule is the default).

    Returns:
        The zipped dataset; its ``size`` is the smallest size when every size is known.

    Raises:
        TypeError: ``datasets`` is not a list/tuple/dict, or a leaf is not a ``Dataset``.
        ValueError: An empty structure; with ``strict``, lengths that differ (while
            iterating; sizes known up front are checked at once).

    Example:

    >>> xs = layers.data.array([1, 2, 3])
    >>> ys = layers.data.array([10, 20])
    >>> layers.data.zip({"xs": xs, "ys": ys}).to_array()
    [{'xs': 1, 'ys': 10}, {'xs': 2, 'ys': 20}]
    """
    leaves: list[Dataset] = []

    def walk(s: Any, path: str) -> Any:
        if isinstance(s, Dataset):
            leaves.append(s)
            return len(leaves) - 1
        if isinstance(s, Mapping):
            return {k: walk(v, f"{path}[{k!r}]") for k, v in s.items()}
        if isinstance(s, (list, tuple)):
            return type(s)(walk(v, f"{path}[{i}]") for i, v in enumerate(s))
        raise TypeError(
            f"data.zip: {path} is {type(s).__name__}; the leaves of the structure must be "
            "Datasets (wrap arrays in data.array)"
        )

    if not isinstance(datasets, (Mapping, list, tuple)):
        _fail("data.zip: datasets", datasets, "a list, tuple or dict of Datasets")
    shape = walk(datasets, "datasets")
    if not leaves:
        raise ValueError("data.zip: datasets holds no Dataset; give at least one")
    sizes = [d.size for d in leaves]
    check = bool(strict)
    known = [s for s in sizes if s is not None]
    if check and len(set(known)) > 1:
        raise ValueError(f"data.zip: strict=True but the datasets have sizes {sizes}")

    def build(s: Any, values: list[Any]) -> Any:
        if isinstance(s, int):
            return values[s]
        if isinstance(s, Mapping):
            return {k: build(v, values) for k, v in s.items()}
        return type(s)(build(v, values) for v in s)

    def make() -> Iterator[Any]:
        its = [d.iterator() for d in leaves]
        try:
            count = 0
            while True:
                values, ended = [], []
                for i, it in enumerate(its):
                    try:
                        values.append(next(it))
                    except StopIteration:
                        ended.append(i)
                        if not check:
                            return
                if ended:
                    if len(ended) < len(its):
                        raise ValueError(
                            f"data.zip: strict=True but datasets {ended} ended after {count} "
                            f"elements while the others go on"
                        )
                    return
                yield build(shape, values)
                count += 1
        finally:
            for it in its:
                _close(it)

    size = None if len(known) < len(sizes) else min(known)
    return Dataset(make, size)


def csv(
    source: str | PathLike[str],
    config: Mapping[str, Any] | None = None,
    *,
    has_header: bool = True,
    column_names: Sequence[str] | None = None,
    column_configs: Mapping[str, Mapping[str, Any]] | None = None,
    configured_columns_only: bool = False,
    delimiter: str = ",",
    delim_whitespace: bool = False,
) -> Dataset:
    """The rows of a local CSV file (TF.js ``tf.data.csv``).

    Each row is a dict ``{column: value}``; with any column configured ``is_label``, it is
    ``{"xs": {feature columns}, "ys": {label columns}}`` as in TF.js. Values that parse as
    numbers become floats (``dtype: "int32"`` floors them, ``"bool"`` reads ``1``/``true`` as
    1 and anything else as 0); other values stay strings; an empty cell takes the column's
    ``default``, raises for a ``required`` or label column, and is ``None`` otherwise. Blank
    lines are skipped; quoted fields follow Python's ``csv`` module.

    Args:
        source: A file path or a ``file://`` URL (remote URLs are not fetched).
        config: TF.js's config object with camelCase keys (``hasHeader``, ``columnNames``,
            ``columnConfigs``, ``configuredColumnsOnly``, ``delimiter``,
            ``delimWhitespace``), as an alternative to the keyword arguments.
        has_header: The first line names the columns.
        column_names: Column names, in order (required without a header; with one, they
            replace its names and must match its length).
        column_configs: ``{column: {"is_label": bool, "required": bool, "dtype": "float32" |
            "int32" | "bool", "default": value}}`` (TF.js's ``isLabel`` spelling works too).
        configured_columns_only: Keep only the columns of ``column_configs``.
        delimiter: The field separator (one character).
        delim_whitespace: Split fields on runs of whitespace instead.

    Returns:
        A dataset of unknown ``size`` that reads the file on every pass.

    Raises:
        FileNotFoundError: No such file.
        ValueError: A remote URL, no column names, duplicate names, a configured column that
            does not exist, a bad config key or dtype; while iterating, a row with the wrong
            number of fields or an empty required cell (naming the line).

    Example:

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "points.csv")
    >>> _ = open(path, "w").write("x,y,label\\n1,2,0\\n3,4,1\\n")
    >>> ds = layers.data.csv(path, column_configs={"label": {"is_label": True}})
    >>> ds.to_array()[0]
    {'xs': {'x': 1.0, 'y': 2.0}, 'ys': {'label': 0.0}}
    """
    if config is not None:
        if not isinstance(config, Mapping):
            _fail("data.csv: config", config, "a dict of TF.js CSVConfig keys")
        keys = {
            "hasHeader": "has_header",
            "columnNames": "column_names",
            "columnConfigs": "column_configs",
            "configuredColumnsOnly": "configured_columns_only",
            "delimiter": "delimiter",
            "delimWhitespace": "delim_whitespace",
        }
        keys.update({v: v for v in list(keys.values())})
        opts: dict[str, Any] = {}
        for k, v in config.items():
            if k not in keys:
                raise ValueError(
                    f"data.csv: unknown config key {k!r}{did_you_mean(str(k), keys)}; "
                    f"accepted: {sorted(set(keys))}"
                )
            opts[keys[k]] = v
        return csv(source, **opts)
    path = _local_path(source)
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        _fail("data.csv: delimiter", delimiter, "one character", ValueError)
    configs = _column_configs(column_configs)
    header_names = None
    if has_header:
        with open(path, newline="", encoding="utf-8") as f:
            for _, fields in _rows(f, delimiter, bool(delim_whitespace)):
                header_names = [h.strip() for h in fields]
                break
        if header_names is None:
            raise ValueError(f"data.csv: {path} is empty; has_header=True needs a header line")
    if column_names is not None:
        if isinstance(column_names, str) or not all(isinstance(c, str) for c in column_names):
            _fail("data.csv: column_names", column_names, "a list of strings")
        names = list(column_names)
        if header_names is not None and len(names) != len(header_names):
            raise ValueError(
                f"data.csv: column_names has {len(names)} names but the header line of {path} "
                f"has {len(header_names)} ({header_names})"
            )
    elif header_names is not None:
        names = header_names
    else:
        raise ValueError("data.csv: has_header=False needs column_names")
    dupes = sorted({c for c in names if names.count(c) > 1})
    if dupes:
        raise ValueError(f"data.csv: duplicate column names {dupes} in {names}")
    unknown = [k for k in configs if k not in names]
    if unknown:
        raise ValueError(
            f"data.csv: column_configs names {unknown}, which are not columns of {path} "
            f"(columns: {names})"
        )
    only = bool(configured_columns_only)
    ws = bool(delim_whitespace)
    labels = any(c["is_label"] for c in configs.values())

    def make() -> Iterator[Any]:
        with open(path, newline="", encoding="utf-8") as f:
            rows = _rows(f, delimiter, ws)
            if has_header:
                next(rows, None)
            for line_no, fields in rows:
                if len(fields) != len(names):
                    raise ValueError(
                        f"data.csv: {path} line {line_no} has {len(fields)} fields, expected "
                        f"{len(names)} ({names}): {str(fields)[:200]}"
                    )
                xs: dict[str, Any] = {}
                ys: dict[str, Any] = {}
                for name, text in builtins.zip(names, fields, strict=True):
                    cfg = configs.get(name)
                    if only and cfg is None:
                        continue
                    value = _cell(text, cfg, name, path, line_no)
                    (ys if cfg is not None and cfg["is_label"] else xs)[name] = value
                yield {"xs": xs, "ys": ys} if labels else xs

    return Dataset(make, None)


_DTYPES = ("float32", "int32", "bool")


def _local_path(source: Any) -> str:
    if isinstance(source, PathLike):
        source = fspath(source)
    if not isinstance(source, str):
        _fail("data.csv: source", source, "a file path or file:// URL")
    if source.startswith("file://"):
        source = source[len("file://") :]
    elif "://" in source:
        raise ValueError(
            f"data.csv: {source!r} is not a local file; only paths and file:// URLs are read "
            "(download the file first)"
        )
    if not os.path.isfile(source):
        raise FileNotFoundError(f"data.csv: no such file: {source!r}")
    return source


def _column_configs(configs: Any) -> dict[str, dict[str, Any]]:
    if configs is None:
        return {}
    if not isinstance(configs, Mapping):
        _fail("data.csv: column_configs", configs, "a dict {column: {...}}")
    spell = {
        "isLabel": "is_label",
        "is_label": "is_label",
        "required": "required",
        "dtype": "dtype",
        "default": "default",
    }
    out = {}
    for col, cfg in configs.items():
        if not isinstance(cfg, Mapping):
            _fail(f"data.csv: column_configs[{col!r}]", cfg, "a dict")
        c: dict[str, Any] = {"is_label": False, "required": False, "dtype": None}
        for k, v in cfg.items():
            if k not in spell:
                raise ValueError(
                    f"data.csv: column_configs[{col!r}] has unknown key {k!r}"
                    f"{did_you_mean(str(k), spell)}; accepted: {sorted(spell)}"
                )
            c[spell[k]] = v
        if c["dtype"] is not None and c["dtype"] not in _DTYPES:
            raise ValueError(
                f"data.csv: column_configs[{col!r}] dtype must be one of {_DTYPES}, got "
                f"{c['dtype']!r}"
            )
        c["is_label"], c["required"] = bool(c["is_label"]), bool(c["required"])
        out[col] = c
    return out


def _rows(f: Any, delimiter: str, whitespace: bool) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of the non-blank lines of ``f``."""
    if whitespace:
        for i, line in enumerate(f, 1):
            fields = line.split()
            if fields:
                yield i, fields
        return
    reader = _csv.reader(f, delimiter=delimiter)
    try:
        for fields in reader:
            if fields and any(s.strip() for s in fields):
                yield reader.line_num, fields
    except _csv.Error as e:
        raise ValueError(f"data.csv: {f.name} line {reader.line_num}: {e}") from None


def _number(text: str) -> float | None:
    s = text.strip()
    if not s or "_" in s or s.lower().lstrip("+-") == "nan":
        return None  # JavaScript's Number() reads neither "1_0" nor "nan"
    try:
        return float(s)
    except ValueError:
        return None


def _cell(text: str, cfg: dict[str, Any] | None, name: str, path: str, line_no: int) -> Any:
    if text == "":
        if cfg is not None and "default" in cfg:
            return cfg["default"]
        if cfg is not None and (cfg["required"] or cfg["is_label"]):
            raise ValueError(
                f"data.csv: {path} line {line_no}: the required column {name!r} is empty"
            )
        return None
    dtype = None if cfg is None else cfg["dtype"]
    if dtype == "bool":
        return 1 if text == "1" or text.lower() == "true" else 0
    num = _number(text)
    if num is None:
        return text
    if dtype == "int32":
        if not -(2**31) <= num < 2**31:
            raise ValueError(
                f"data.csv: {path} line {line_no}: column {name!r} value {text!r} is outside int32"
            )
        return int(math.floor(num))
    return num
