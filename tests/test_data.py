"""``layers.data`` (TF.js ``tf.data``) and training on datasets, generators and lists of batches
(issue 20 item 1).

Every factory and method is checked against plain Python/numpy expectations; ``fit`` on a
Dataset, a generator or a list of batches must give the same weights as ``fit`` on the arrays
with ``shuffle=False`` (same batches; numpy backend). Prefetch threads must end with their pass
and hand producer errors to the consumer.
"""

from __future__ import annotations

import doctest
import threading
import warnings

import numpy as np
import pytest

import engine as tw
import layers
from engine import train
from layers import data

# --- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def numpy_backend():
    with tw.backend_scope("numpy"):
        yield


def _xy(n=40, d=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = np.eye(k, dtype=np.float32)[rng.integers(0, k, n)]
    return x, y


def _model(d=4, k=3, metrics=("acc",)):
    tw.set_seed(0)
    m = layers.sequential(
        [
            layers.dense(units=8, activation="relu", input_shape=[d]),
            layers.dense(units=k, activation="softmax"),
        ]
    )
    m.compile(optimizer=train.sgd(0.1), loss="categoricalCrossentropy", metrics=list(metrics))
    return m


def _weights(m):
    return [w.numpy().copy() for w in m.weights]


def _assert_same_weights(a, b):
    for wa, wb in zip(_weights(a), _weights(b), strict=True):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)


def _prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "tensorweave-prefetch" and t.is_alive()]


def _batches(x, y, size):
    return [(x[i : i + size], y[i : i + size]) for i in range(0, len(x), size)]


# --- factories -----------------------------------------------------------------------------------


def test_array_elements_rows_and_size():
    ds = data.array([1, 2.5, "a", {"k": 1}])
    assert ds.to_array() == [1, 2.5, "a", {"k": 1}] and ds.size == 4
    assert list(ds) == list(ds)  # re-iterable
    assert data.array(range(3)).to_array() == [0, 1, 2]
    rows = np.arange(12).reshape(4, 3)
    got = data.array(rows).to_array()
    assert len(got) == 4 and all(np.array_equal(g, r) for g, r in zip(got, rows, strict=True))
    from_tensor = data.array(tw.tensor(rows.astype(np.float32))).to_array()
    np.testing.assert_array_equal(np.stack(from_tensor), rows)
    for bad, hint in (
        ({"a": [1]}, "data.zip"),
        ((i for i in range(3)), "data.generator"),
        (5, "int"),
        ("abc", "str"),
    ):
        with pytest.raises(TypeError, match=hint):
            data.array(bad)
    with pytest.raises(TypeError, match="first axis"):
        data.array(np.array(3.0))


def test_generator_restarts_each_pass_and_rejects_generator_objects():
    calls = []

    def gen():
        calls.append(1)
        yield from range(4)

    ds = data.generator(gen)
    assert ds.size is None
    assert ds.to_array() == [0, 1, 2, 3] and ds.to_array() == [0, 1, 2, 3]
    assert len(calls) == 2
    assert data.generator(lambda: [5, 6]).to_array() == [5, 6]  # any iterable
    with pytest.raises(TypeError, match=r"gen, not gen\(\)"):
        data.generator(gen())
    with pytest.raises(TypeError, match="returned int"):
        data.generator(lambda: 3).to_array()


def test_func_follows_tfjs_value_done_protocol():
    state = {"i": 0}

    def nxt():
        state["i"] += 1
        return {"value": state["i"] * 2, "done": state["i"] > 3}

    ds = data.func(nxt)
    assert ds.take(2).to_array() == [2, 4]
    assert ds.to_array() == [6]  # stateful, as TF.js: a later pass continues
    assert ds.to_array() == []
    with pytest.raises(TypeError, match="done"):
        data.func(lambda: 7).to_array()
    with pytest.raises(TypeError, match="value"):
        data.func(lambda: {"done": False}).to_array()
    with pytest.raises(TypeError, match="function"):
        data.func([1, 2])


def test_zip_structures_shortest_rule_and_errors():
    a, b, c = data.array([1, 2, 3]), data.array([10, 20, 30, 40]), data.array(["x", "y", "z"])
    assert data.zip([a, b]).to_array() == [[1, 10], [2, 20], [3, 30]]
    assert data.zip((a, c)).to_array() == [(1, "x"), (2, "y"), (3, "z")]
    nested = data.zip({"xs": {"p": a, "q": b}, "ys": c})
    assert nested.size == 3
    assert nested.to_array()[1] == {"xs": {"p": 2, "q": 20}, "ys": "y"}
    # TF.js's rule: the shortest dataset ends the zip; strict=True makes a mismatch an error
    assert data.zip({"a": a, "b": b}).size == 3
    assert len(data.zip([a, b]).to_array()) == 3
    with pytest.raises(ValueError, match="sizes"):
        data.zip([a, b], strict=True)
    unknown = data.generator(lambda: iter(range(5)))
    with pytest.raises(ValueError, match="ended after 3"):
        data.zip([a, unknown], strict=True).to_array()
    assert data.zip([a, unknown]).size is None
    with pytest.raises(TypeError, match="must be Datasets"):
        data.zip([a, [1, 2, 3]])
    with pytest.raises(TypeError, match="list, tuple or dict"):
        data.zip(a)
    with pytest.raises(ValueError, match="no Dataset"):
        data.zip({})


# --- methods -------------------------------------------------------------------------------------


def test_batch_stacks_every_leaf_like_numpy():
    rng = np.random.default_rng(1)
    elems = [
        {"xs": rng.normal(size=(2, 3)), "ys": (float(i), np.int32(i)), "tag": [i, i + 1]}
        for i in range(7)
    ]
    batches = data.array(elems).batch(3).to_array()
    assert data.array(elems).batch(3).size == 3 and len(batches) == 3
    for b, start in zip(batches, (0, 3, 6), strict=True):
        part = elems[start : start + 3]
        np.testing.assert_array_equal(b["xs"], np.stack([e["xs"] for e in part]))
        assert isinstance(b["ys"], tuple) and isinstance(b["tag"], list)
        np.testing.assert_array_equal(b["ys"][0], [e["ys"][0] for e in part])
        np.testing.assert_array_equal(b["tag"][1], [e["tag"][1] for e in part])
    drop = data.array(elems).batch(3, small_last_batch=False)
    assert drop.size == 2 and [len(b["xs"]) for b in drop] == [3, 3]
    assert data.array([tw.tensor([1.0, 2.0])] * 2).batch(2).to_array()[0].shape == (2, 2)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        data.array(elems).batch(0)
    with pytest.raises(ValueError, match="non-integral"):
        data.array(elems).batch(2.5)
    with pytest.raises(TypeError, match="bool"):
        data.array(elems).batch(True)
    with pytest.raises(ValueError, match="different shapes"):
        data.array([np.zeros(2), np.zeros(3)]).batch(2).to_array()
    with pytest.raises(ValueError, match="differ in structure"):
        data.array([{"a": 1}, {"b": 1}]).batch(2).to_array()
    with pytest.raises(ValueError, match="None"):
        data.array([{"a": 1}, {"a": None}]).batch(2).to_array()


def test_shuffle_is_a_seeded_buffered_permutation():
    items = list(range(50))
    ds = data.array(items).shuffle(100, seed=3)
    first, second = ds.to_array(), ds.to_array()
    assert sorted(first) == items and sorted(second) == items
    assert first != items and first != second  # reshuffled every pass
    again = data.array(items).shuffle(100, seed=3)
    assert again.to_array() == first and again.to_array() == second  # the seed fixes the orders
    fixed = data.array(items).shuffle(100, seed=3, reshuffle_each_iteration=False)
    assert fixed.to_array() == fixed.to_array()
    assert data.array(items).shuffle(1, seed=0).to_array() == items  # buffer of 1: no change
    for seed in range(5):  # a buffer of b: output j comes from the first j + b inputs
        out = data.array(items).shuffle(4, seed=seed).to_array()
        assert sorted(out) == items and all(v <= j + 3 for j, v in enumerate(out))
    tw.set_seed(7)  # without a seed: drawn from the global sequence, so set_seed repeats it
    a = data.array(items).shuffle(50).to_array()
    tw.set_seed(7)
    assert data.array(items).shuffle(50).to_array() == a
    tw.set_seed(None)
    with pytest.raises(ValueError, match="buffer_size"):
        data.array(items).shuffle(0)
    with pytest.raises(ValueError, match="seed"):
        data.array(items).shuffle(3, seed=-1)


def test_map_filter_take_skip_repeat_concatenate_match_python():
    items = list(range(10))
    ds = data.array(items)
    assert ds.map(lambda v: v * v).to_array() == [v * v for v in items]
    assert ds.filter(lambda v: v % 3 == 0).to_array() == [0, 3, 6, 9]
    assert ds.filter(lambda v: tw.tensor(v > 6)).to_array() == [7, 8, 9]
    assert ds.filter(lambda v: True).size is None
    assert ds.take(3).to_array() == [0, 1, 2] and ds.take(3).size == 3
    assert ds.take(0).to_array() == [] and ds.take(99).size == 10
    assert ds.skip(7).to_array() == [7, 8, 9] and ds.skip(7).size == 3 and ds.skip(20).size == 0
    assert ds.take(3).repeat(2).to_array() == [0, 1, 2, 0, 1, 2]
    assert ds.repeat(2).size == 20 and ds.repeat(0).to_array() == []
    endless = ds.take(2).repeat()
    assert endless.size == float("inf") and endless.take(5).to_array() == [0, 1, 0, 1, 0]
    assert data.array([]).repeat().to_array() == []  # an empty pass ends the repetition
    assert ds.take(2).concatenate(ds.skip(8)).to_array() == [0, 1, 8, 9]
    assert ds.take(2).concatenate(ds.skip(8)).size == 4
    seen = []
    ds.take(4).for_each(seen.append)
    assert seen == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="endless"):
        endless.to_array()
    with pytest.raises(ValueError, match="endless"):
        endless.for_each(print)
    with pytest.raises(ValueError, match="take: count must be an integer >= 0"):
        ds.take(-1)
    with pytest.raises(ValueError, match="skip: count"):
        ds.skip(-2)
    with pytest.raises(ValueError, match="repeat: count"):
        ds.repeat(-1)
    with pytest.raises(TypeError, match="function"):
        ds.map(3)
    with pytest.raises(TypeError, match="function"):
        ds.filter(None)
    with pytest.raises(TypeError, match="Dataset"):
        ds.concatenate([1, 2])


# --- prefetch ------------------------------------------------------------------------------------


def test_prefetch_yields_the_same_elements_with_a_bounded_queue():
    produced = []

    def gen():
        for i in range(30):
            produced.append(i)
            yield i

    before = len(_prefetch_threads())
    it = data.generator(gen).prefetch(3).iterator()
    out = []
    for v in it:
        out.append(v)
        # the producer holds at most one element beyond the queue's 3
        assert len(produced) <= len(out) + 3 + 1
    assert out == list(range(30))
    assert len(_prefetch_threads()) == before  # joined when the pass ended
    with pytest.raises(ValueError, match="buffer_size"):
        data.array([1]).prefetch(0)


def test_prefetch_thread_stops_when_iteration_stops():
    before = len(_prefetch_threads())
    closed = []

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.append(True)

    ds = data.generator(endless).prefetch(2)
    it = ds.iterator()
    assert [next(it) for _ in range(5)] == [0, 1, 2, 3, 4]
    assert len(_prefetch_threads()) == before + 1
    it.close()  # joins the producer, which closes the upstream generator
    assert len(_prefetch_threads()) == before and closed == [True]
    # a `for` loop left early under a later stage: dropping the iterator stops the thread
    for v in ds.map(lambda v: v + 1):
        if v == 3:
            break
    import gc

    gc.collect()
    assert len(_prefetch_threads()) == before and closed == [True, True]
    # the same with the prefetch iterator itself left behind (the thread holds no reference)
    for v in ds:
        if v == 2:
            break
    del v
    gc.collect()
    assert len(_prefetch_threads()) == before and closed == [True, True, True]
    assert ds.take(4).to_array() == [0, 1, 2, 3]
    assert len(_prefetch_threads()) == before


def test_prefetch_reraises_producer_errors_in_the_consumer():
    def bad():
        yield 1
        yield 2
        raise KeyError("broken record 3")

    before = len(_prefetch_threads())
    got = []
    with pytest.raises(KeyError, match="broken record 3"):
        for v in data.generator(bad).prefetch(4):
            got.append(v)
    assert got == [1, 2]
    with pytest.raises(ZeroDivisionError):
        data.array([1, 0]).map(lambda v: 1 / v).prefetch(1).to_array()
    assert len(_prefetch_threads()) == before


# --- csv -----------------------------------------------------------------------------------------


def test_csv_parses_like_tfjs(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text(
        'a,b,name,flag,label\n1,2.5,"x, y",true,0\n\n-3,,z,0,1\n1e2,7.9,w,1,2\n',
        encoding="utf-8",
    )
    rows = data.csv(str(path)).to_array()
    assert rows == [
        {"a": 1.0, "b": 2.5, "name": "x, y", "flag": "true", "label": 0.0},
        {"a": -3.0, "b": None, "name": "z", "flag": 0.0, "label": 1.0},
        {"a": 100.0, "b": 7.9, "name": "w", "flag": 1.0, "label": 2.0},
    ]
    configs = {
        "label": {"is_label": True, "dtype": "int32"},
        "flag": {"dtype": "bool"},
        "b": {"default": -1.0, "dtype": "int32"},
    }
    rows = data.csv(path, column_configs=configs).to_array()
    assert rows[0] == {"xs": {"a": 1.0, "b": 2, "name": "x, y", "flag": 1}, "ys": {"label": 0}}
    assert rows[1]["xs"]["b"] == -1.0 and rows[1]["xs"]["flag"] == 0
    only = data.csv(
        f"file://{path}",
        {"columnConfigs": {"a": {}, "label": {"isLabel": True}}, "configuredColumnsOnly": True},
    )
    assert only.to_array()[2] == {"xs": {"a": 100.0}, "ys": {"label": 2.0}}
    plain = tmp_path / "plain.txt"
    plain.write_text("1 2\n3   4\n", encoding="utf-8")
    assert data.csv(
        plain, has_header=False, column_names=["p", "q"], delim_whitespace=True
    ).to_array() == [{"p": 1.0, "q": 2.0}, {"p": 3.0, "q": 4.0}]
    semi = tmp_path / "semi.csv"
    semi.write_text("u;v\n5;6\n", encoding="utf-8")
    assert data.csv(semi, delimiter=";", column_names=["U", "V"]).to_array() == [
        {"U": 5.0, "V": 6.0}
    ]


def test_csv_errors_are_clear(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("a,b,a2\n1,2,3\n4,5\n", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match="no such file"):
        data.csv(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="not a local file"):
        data.csv("https://example.com/x.csv")
    with pytest.raises(ValueError, match="needs column_names"):
        data.csv(path, has_header=False)
    with pytest.raises(ValueError, match="duplicate"):
        data.csv(path, column_names=["a", "a", "c"])
    with pytest.raises(ValueError, match="has 2 names"):
        data.csv(path, column_names=["a", "b"])
    with pytest.raises(ValueError, match="not columns"):
        data.csv(path, column_configs={"zz": {"is_label": True}})
    with pytest.raises(ValueError, match="unknown key 'islabel'"):
        data.csv(path, column_configs={"a": {"islabel": True}})
    with pytest.raises(ValueError, match="dtype"):
        data.csv(path, column_configs={"a": {"dtype": "float16"}})
    with pytest.raises(ValueError, match="unknown config key 'hasheader'"):
        data.csv(path, {"hasheader": True})
    with pytest.raises(ValueError, match="line 3 has 2 fields"):
        data.csv(path).to_array()
    empty_label = tmp_path / "e.csv"
    empty_label.write_text("a,y\n1,\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: the required column 'y' is empty"):
        data.csv(empty_label, column_configs={"y": {"is_label": True}}).to_array()


def test_csv_of_real_mnist_rows_trains_like_the_arrays(tmp_path, numpy_backend):
    """A CSV written from the shipped MNIST digits: csv -> map -> batch -> fit equals fit on
    the same arrays."""
    from layers import datasets

    try:
        images, labels = datasets.load_mnist()
    except FileNotFoundError as e:
        pytest.skip(f"the MNIST data is not available here: {e}")
    n = 96
    pixels = images[:n].reshape(n, 784)
    path = tmp_path / "mnist.csv"
    header = ",".join([f"p{i}" for i in range(784)] + ["label"])
    lines = [
        ",".join(map(str, list(p) + [int(lab)])) for p, lab in zip(pixels, labels[:n], strict=True)
    ]
    path.write_text(header + "\n" + "\n".join(lines) + "\n", encoding="utf-8")

    def to_xy(row):
        x = np.array(list(row["xs"].values()), dtype=np.float32) / 255.0
        return x, np.eye(10, dtype=np.float32)[int(row["ys"]["label"])]

    ds = data.csv(path, column_configs={"label": {"is_label": True}}).map(to_xy).batch(32)
    x = pixels.astype(np.float32) / 255.0
    y = np.eye(10, dtype=np.float32)[labels[:n]]
    a, b = _model(784, 10), _model(784, 10)
    ha = a.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    hb = b.fit(ds, epochs=2, verbose=0)
    _assert_same_weights(a, b)
    np.testing.assert_allclose(ha.history["loss"], hb.history["loss"], rtol=1e-5)


# --- training on datasets ------------------------------------------------------------------------


def test_fit_on_dataset_generator_and_lists_equals_fit_on_arrays(numpy_backend):
    x, y = _xy()
    ref = _model()
    h_ref = ref.fit(x, y, batch_size=10, epochs=3, shuffle=False, verbose=0)

    def gen():
        yield from _batches(x, y, 10)

    sources = {
        "zip dataset": data.zip({"xs": data.array(x), "ys": data.array(y)}).batch(10),
        "tuple dataset, prefetched": data.zip((data.array(x), data.array(y))).batch(10).prefetch(2),
        "generator dataset": data.generator(gen),
        "list of tuples": _batches(x, y, 10),
        "list of dicts": [{"xs": bx, "ys": by} for bx, by in _batches(x, y, 10)],
    }
    for name, source in sources.items():
        m = _model()
        h = m.fit(source, epochs=3, verbose=0)
        _assert_same_weights(ref, m)
        np.testing.assert_allclose(h.history["loss"], h_ref.history["loss"], rtol=1e-5), name
        m = _model()
        m.fit_dataset(source, epochs=3, verbose=0)
        _assert_same_weights(ref, m)
    # with y given, a list is data (rows as tuples), never a list of batches
    rows = _model()
    rows.fit([tuple(r) for r in x.tolist()], y, batch_size=10, epochs=3, shuffle=False, verbose=0)
    _assert_same_weights(ref, rows)
    # a generator object is read once: one epoch, then Keras's "ran out of data" warning
    one = _model()
    one.fit(x, y, batch_size=10, epochs=1, shuffle=False, verbose=0)
    m = _model()
    with pytest.warns(UserWarning, match="ran out of data after epoch 1"):
        h = m.fit(gen(), epochs=3, verbose=0)
    assert h.epoch == [0] and m.optimizer.iterations == 4
    _assert_same_weights(one, m)
    assert not _prefetch_threads()


def test_fit_sample_weights_and_class_weights_from_batches(numpy_backend):
    x, y = _xy()
    w = np.linspace(0.2, 2.0, 40).astype(np.float32)
    ref = _model()
    ref.fit(x, y, batch_size=8, epochs=2, shuffle=False, sample_weight=w, verbose=0)
    m = _model()
    batches = [(x[i : i + 8], y[i : i + 8], w[i : i + 8]) for i in range(0, 40, 8)]
    m.fit(data.array(batches), epochs=2, verbose=0)
    _assert_same_weights(ref, m)
    cw = {0: 1.0, 1: 3.0, 2: 0.5}
    ref = _model()
    ref.fit(x, y, batch_size=8, epochs=1, shuffle=False, class_weight=cw, verbose=0)
    m = _model()
    m.fit(_batches(x, y, 8), class_weight=cw, verbose=0)
    _assert_same_weights(ref, m)


def test_steps_per_epoch_with_repeat_continues_the_stream(numpy_backend):
    x, y = _xy()
    ref = _model()
    ref.fit(x, y, batch_size=10, epochs=3, steps_per_epoch=3, shuffle=False, verbose=0)
    m = _model()
    ds = data.zip({"xs": data.array(x), "ys": data.array(y)}).batch(10).repeat()
    h = m.fit(ds, epochs=3, steps_per_epoch=3, verbose=0)
    assert h.epoch == [0, 1, 2] and m.optimizer.iterations == 9
    _assert_same_weights(ref, m)
    m2 = _model()
    m2.fit_dataset(ds, epochs=3, batches_per_epoch=3, verbose=0)
    _assert_same_weights(ref, m2)
    # a finite dataset (4 batches) starts a new pass when it runs out, as the arrays' stream
    finite = _model()
    finite.fit(_batches(x, y, 10), epochs=3, steps_per_epoch=3, verbose=0)
    _assert_same_weights(ref, finite)
    # a one-shot generator that runs out within steps_per_epoch stops training, warning
    m3 = _model()
    with pytest.warns(UserWarning, match="ran out of data after 1 batches of epoch 2"):
        h = m3.fit(iter(_batches(x, y, 10)), epochs=3, steps_per_epoch=3, verbose=0)
    assert h.epoch == [0, 1] and m3.optimizer.iterations == 4
    # running out exactly at an epoch's end: no empty epoch is logged
    m4 = _model()
    with pytest.warns(UserWarning, match="ran out"):
        h = m4.fit(iter(_batches(x, y, 10)), epochs=3, steps_per_epoch=2, verbose=0)
    assert h.epoch == [0, 1] and len(h.history["loss"]) == 2


def test_bad_dataset_arguments_raise_before_training(numpy_backend):
    x, y = _xy()
    m = _model()
    w0 = _weights(m)
    ds = data.zip([data.array(x), data.array(y)]).batch(10)
    cases = [
        (lambda: m.fit(ds.repeat(), epochs=2, verbose=0), ValueError, "endless.*steps_per_epoch"),
        (lambda: m.fit(ds, y, verbose=0), ValueError, "y must not be given"),
        (lambda: m.fit(ds, sample_weight=np.ones(40), verbose=0), ValueError, "third entry"),
        (lambda: m.fit(ds, validation_split=0.2, verbose=0), ValueError, "validation_split"),
        (lambda: m.fit(x, verbose=0), ValueError, "y \\(the targets\\) is required"),
        (lambda: m.fit(ds, steps_per_epoch=0, verbose=0), ValueError, "steps_per_epoch"),
        (lambda: m.fit(ds, validation_data=ds.repeat(), verbose=0), ValueError, "validation_steps"),
        (lambda: m.fit_dataset(5, verbose=0), TypeError, "iterable of batches.*got int"),
        (lambda: m.fit_dataset(ds.repeat(), verbose=0), ValueError, "batches_per_epoch"),
        (lambda: m.fit_dataset([], verbose=0), ValueError, "yielded no batches"),
        (lambda: m.fit([(x, y, x, y)], verbose=0), ValueError, "y \\(the targets\\)"),
        (lambda: m.evaluate(ds.repeat()), ValueError, "endless.*steps"),
        (lambda: m.evaluate_dataset(ds.repeat()), ValueError, "batches"),
        (lambda: m.evaluate_dataset(ds, batches=-1), ValueError, "batches"),
        (lambda: m.predict(ds.repeat()), ValueError, "steps"),
    ]
    for call, exc, match in cases:
        with pytest.raises(exc, match=match):
            call()
    assert m.optimizer.iterations == 0
    for a, b in zip(w0, _weights(m), strict=True):
        np.testing.assert_array_equal(a, b)


def test_validation_evaluate_and_predict_on_datasets(numpy_backend):
    x, y = _xy()
    xv, yv = _xy(n=24, seed=1)
    val = data.zip({"xs": data.array(xv), "ys": data.array(yv)}).batch(5)
    m = _model()
    h = m.fit(_batches(x, y, 10), epochs=2, validation_data=val, verbose=0)
    ref = _model()
    h_ref = ref.fit(
        x, y, batch_size=10, epochs=2, shuffle=False, validation_data=(xv, yv), verbose=0
    )
    np.testing.assert_allclose(h.history["val_loss"], h_ref.history["val_loss"], rtol=1e-5)
    np.testing.assert_allclose(m.evaluate(val), m.evaluate(xv, yv, batch_size=7), rtol=1e-5)
    np.testing.assert_allclose(
        m.evaluate(val.repeat(), steps=2), m.evaluate(xv[:10], yv[:10]), rtol=1e-5
    )
    np.testing.assert_allclose(
        m.evaluate(xv, yv, batch_size=5, steps=2), m.evaluate(xv[:10], yv[:10]), rtol=1e-5
    )
    np.testing.assert_allclose(
        m.evaluate_dataset(val, batches=3), m.evaluate(xv[:15], yv[:15]), rtol=1e-5
    )
    # validation_steps over an endless validation set
    m2 = _model()
    h2 = m2.fit(
        _batches(x, y, 10), epochs=2, validation_data=val.repeat(), validation_steps=2, verbose=0
    )
    np.testing.assert_allclose(h2.history["loss"], h.history["loss"], rtol=1e-6)
    assert h2.history["val_loss"][-1] == pytest.approx(m2.evaluate(xv[:10], yv[:10])[0], rel=1e-5)
    # predict: inputs alone, (x, y) tuples or {"xs", "ys"} dicts; targets are ignored
    p = m.predict(xv).numpy()
    np.testing.assert_allclose(m.predict(data.array(xv).batch(5)).numpy(), p, rtol=1e-6)
    np.testing.assert_allclose(m.predict(val).numpy(), p, rtol=1e-6)
    np.testing.assert_allclose(m.predict(iter(_batches(xv, yv, 8))).numpy(), p, rtol=1e-6)
    np.testing.assert_allclose(m.predict(val.repeat(), steps=3).numpy(), p[:15], rtol=1e-6)
    np.testing.assert_allclose(m.predict(xv, batch_size=4, steps=2).numpy(), p[:8], rtol=1e-6)


def test_fit_stops_prefetch_threads_and_reraises_producer_errors(numpy_backend):
    x, y = _xy()
    before = len(_prefetch_threads())

    def flaky():
        for i, b in enumerate(_batches(x, y, 10)):
            if i == 2:
                raise OSError("disk went away at batch 2")
            yield b

    m = _model()
    with pytest.raises(OSError, match="disk went away"):
        m.fit(data.generator(flaky).prefetch(2), epochs=2, verbose=0)
    assert m.optimizer.iterations == 2
    assert len(_prefetch_threads()) == before
    ds = data.zip((data.array(x), data.array(y))).batch(10).repeat().prefetch(3)
    m.fit(ds, epochs=2, steps_per_epoch=3, validation_data=ds, validation_steps=2, verbose=0)
    assert len(_prefetch_threads()) == before  # the running iterator closed when fit ended


def test_progress_bar_counts_steps_known_or_not(numpy_backend, capsys):
    x, y = _xy()
    m = _model()
    m.fit(data.generator(lambda: iter(_batches(x, y, 10))), epochs=1, verbose=1)
    unknown = capsys.readouterr().err
    m.fit(data.array(_batches(x, y, 10)), epochs=1, verbose=1)
    known = capsys.readouterr().err
    assert "4batch" in unknown.replace(" ", "") and "4/4" not in unknown
    assert "4/4" in known


def test_docstring_examples_run():
    with tw.backend_scope("numpy"), warnings.catch_warnings():
        result = doctest.testmod(
            data, extraglobs={"tw": tw, "layers": layers}, optionflags=doctest.ELLIPSIS
        )
    assert result.attempted >= 6 and result.failed == 0


def test_fit_on_a_dataset_equals_fit_on_arrays_on_every_backend(backend):
    x, y = _xy(n=30)
    ref = _model()
    ref.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    m = _model()
    m.fit(data.zip((data.array(x), data.array(y))).batch(8).prefetch(2), epochs=2, verbose=0)
    _assert_same_weights(ref, m)
    np.testing.assert_allclose(
        m.predict(data.array(x).batch(8)).numpy(), ref.predict(x).numpy(), rtol=1e-5, atol=1e-6
    )


def test_readme_datasets_example_runs(numpy_backend, capsys):
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Datasets") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, "README.md (Datasets)", "exec"), {})
    assert "(100, 1)" in capsys.readouterr().out
