#!/usr/bin/env python3
"""Checks that psflow and real TensorFlow read each other's checkpoints.

  tf_interop.py --build-dir BUILD [--workdir DIR]     run both directions
  tf_interop.py --make-testdata OUT_DIR               write TF checkpoints for tests/testdata/tf

(a) psflow writes (tests/interop/write_checkpoints.cc); TensorFlow reads with
    tf.train.latest_checkpoint, list_variables, load_checkpoint, inspect_checkpoint,
    and a compat.v1 Saver restores into a differently partitioned variable.
(b) TensorFlow writes (compat.v1 Saver sharded and not, a partitioned variable,
    tf.train.Checkpoint); `psflow-inspect --json --all_tensors` must read every
    tensor exactly as TensorFlow does.
(c) TensorFlow writes tf.train.Examples with VarLen features; psflow's input
    pipeline (tests/interop/parse_examples.cc) must batch them into the
    SparseTensors tf.io.parse_example gives.
--make-testdata also records TensorFlow's optimizers applying IndexedSlices
(repeated rows included) for the parameter servers' sparse applies
(sparse_apply/applies.json), and its string hashing and crosses
(feature_hash/hashes.json), and embedding_column's lookup with each combiner
and its gradient (embedding_column/combiners.json).
Values follow tests/interop/interop_values.h.  Exits 77 (skipped) when
tensorflow does not import.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

from tf_env import np, tf  # noqa: E402  (exits 77 when tensorflow does not import)

DTYPES = ["float", "double", "half", "bfloat16", "int32", "int64", "bool", "string"]
TF_DTYPES = {"float": tf.float32, "double": tf.float64, "half": tf.float16, "bfloat16": tf.bfloat16,
             "int32": tf.int32, "int64": tf.int64, "bool": tf.bool, "string": tf.string}
ENUM = {"float": "DT_FLOAT", "double": "DT_DOUBLE", "half": "DT_HALF", "bfloat16": "DT_BFLOAT16",
        "int32": "DT_INT32", "int64": "DT_INT64", "bool": "DT_BOOL", "string": "DT_STRING"}
FAILURES = []


def values(dtype, shape, seed):
    """The formula of interop_values.h as a numpy array of the TF dtype."""
    n = int(np.prod(shape)) if len(shape) else 1
    i = np.arange(n, dtype=np.int64)
    if dtype in ("float", "double", "half", "bfloat16"):
        v = ((i % 64) * 0.25 - seed).astype(TF_DTYPES[dtype].as_numpy_dtype)
    elif dtype == "int32":
        v = (i * 3 - seed).astype(np.int32)
    elif dtype == "int64":
        v = i * 3 - seed + (1 << 40)
    elif dtype == "bool":
        v = (i + seed) % 3 == 0
    else:
        v = np.array([b"s%d_%d" % (seed, k) + (b"\x00\xff" if k % 4 == 0 else b"") for k in range(n)],
                     dtype=object)
    return v.reshape(shape)


def check(cond, what):
    if cond:
        print(f"  ok   {what}")
    else:
        print(f"  FAIL {what}")
        FAILURES.append(what)


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype == object or b.dtype == object:
        return [bytes(x) for x in a.ravel()] == [bytes(x) for x in b.ravel()]
    return np.array_equal(a.astype(np.float64) if a.dtype.kind == "V" or "bfloat16" in str(a.dtype) else a,
                          b.astype(np.float64) if b.dtype.kind == "V" or "bfloat16" in str(b.dtype) else b)


# --------------------------------------------------------------------------
# (a) psflow writes, TensorFlow reads

def single_expected():
    out = {"global_step": np.array(1, dtype=np.int64)}
    for seed, dt in enumerate(DTYPES, start=1):
        out[f"{dt}/scalar"] = values(dt, (), seed)
        out[f"{dt}/empty"] = values(dt, (0, 3), seed)
        out[f"{dt}/matrix"] = values(dt, (5, 7), seed)
    return out


def sharded_expected():
    out = {"global_step": np.array(2, dtype=np.int64), "embedding": values("float", (10, 4), 9)}
    for k in range(3):
        out[f"dense{k}/kernel"] = values("float", (6, 3), k)
        out[f"dense{k}/kernel/Adam"] = values("float", (6, 3), 10 + k)
    return out


def tf_reads_psflow(build_dir, workdir):
    print("(a) TensorFlow reads checkpoints written by psflow")
    out = os.path.join(workdir, "psflow_written")
    subprocess.run([os.path.join(build_dir, "tests", "psflow_interop_writer"), out], check=True)
    for sub, step, expected in (("single", 1, single_expected()), ("sharded", 2, sharded_expected())):
        d = os.path.join(out, sub)
        prefix = tf.train.latest_checkpoint(d)
        check(prefix == os.path.join(d, f"model.ckpt-{step}"), f"{sub}: tf.train.latest_checkpoint -> {prefix}")
        listed = dict(tf.train.list_variables(d))
        check(set(listed) == set(expected), f"{sub}: list_variables names ({len(listed)} variables)")
        reader = tf.train.load_checkpoint(prefix)
        for name, want in sorted(expected.items()):
            got = reader.get_tensor(name)
            ok = list(listed.get(name, [None])) == list(want.shape) and same(got, want)
            check(ok, f"{sub}: {name} {list(want.shape)} values equal")
        if sub == "sharded":
            files = sorted(f for f in os.listdir(d) if ".data-" in f)
            check(files == [f"model.ckpt-2.data-0000{k}-of-00003" for k in range(3)], f"sharded: data files {files}")
        # TensorFlow's own inspect_checkpoint walks every tensor without error.
        from tensorflow.python.tools import inspect_checkpoint
        import io, contextlib
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            inspect_checkpoint.print_tensors_in_checkpoint_file(prefix, tensor_name="", all_tensors=True)
        check("global_step" in buf.getvalue(), f"{sub}: inspect_checkpoint prints every tensor")

    # A dynamic embedding table saved by two PS tasks: DeepRec's tensors,
    # each one tensor whose rows line up (TensorFlow stitches the tasks'
    # slices), every id's row, freq and version as the PS tasks held them.
    d = os.path.join(out, "dynamic")
    expected = json.load(open(os.path.join(d, "expected.json")))
    prefix = tf.train.latest_checkpoint(d)
    check(prefix == expected["prefix"], f"dynamic: tf.train.latest_checkpoint -> {prefix}")
    listed = dict(tf.train.list_variables(d))
    rows = expected["rows"]
    n = len(rows)
    for key, shape in (("emb/weights-keys", [n]), ("emb/weights-values", [n, 4]), ("emb/weights-values/Adagrad", [n, 4]),
                       ("emb/weights-freqs", [n]), ("emb/weights-versions", [n])):
        check(list(listed.get(key, [])) == shape, f"dynamic: list_variables {key} {shape} (got {listed.get(key)})")
    reader = tf.train.load_checkpoint(prefix)
    keys = reader.get_tensor("emb/weights-keys")
    vals = reader.get_tensor("emb/weights-values")
    freqs = reader.get_tensor("emb/weights-freqs")
    versions = reader.get_tensor("emb/weights-versions")
    accum = reader.get_tensor("emb/weights-values/Adagrad")
    check(keys.dtype == np.int64 and freqs.dtype == np.int64 and versions.dtype == np.int64 and vals.dtype == np.float32,
          "dynamic: keys, freqs, versions int64; values float32")
    at = {int(k): i for i, k in enumerate(keys)}
    check(sorted(at) == sorted(int(r["id"]) for r in rows), f"dynamic: the {n} ids, each once")
    tasks = [r["task"] for r in rows if int(r["id"]) in at]
    check(len(set(tasks)) == 2, "dynamic: rows from both PS tasks")
    ok = all(np.allclose(vals[at[int(r["id"])]], r["value"], rtol=1e-6, atol=1e-7) and
             freqs[at[int(r["id"])]] == r["freq"] and versions[at[int(r["id"])]] == r["version"] for r in rows)
    check(ok, "dynamic: every id's row, freq and version as the PS tasks held them")
    check(bool(np.all(accum >= 0.1) and np.any(accum > 0.1)), "dynamic: Adagrad accumulators grew from 0.1")

    # A compat.v1 Saver restores the 3-way row partitioned embedding into a
    # 2-way partitioned variable, plus plain variables.
    prefix = os.path.join(out, "sharded", "model.ckpt-2")
    g = tf.Graph()
    with g.as_default():
        emb = tf.compat.v1.get_variable("embedding", shape=[10, 4], dtype=tf.float32,
                                        partitioner=tf.compat.v1.fixed_size_partitioner(2))
        k1 = tf.compat.v1.get_variable("dense1/kernel", shape=[6, 3], dtype=tf.float32)
        gs = tf.compat.v1.get_variable("global_step", shape=[], dtype=tf.int64)
        saver = tf.compat.v1.train.Saver(var_list={"embedding": emb, "dense1/kernel": k1, "global_step": gs})
        with tf.compat.v1.Session(graph=g) as sess:
            saver.restore(sess, prefix)
            e, k, s = sess.run([tf.concat(list(emb), axis=0), k1, gs])
    check(same(e, values("float", (10, 4), 9)), "compat.v1 Saver restores the partitioned embedding 2-way")
    check(same(k, values("float", (6, 3), 1)) and s == 2, "compat.v1 Saver restores plain variables")


# --------------------------------------------------------------------------
# (b) TensorFlow writes, psflow reads

def write_tf_checkpoints(out):
    """Writes TF checkpoints; returns {subdir: prefix}. Small enough to commit."""
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    prefixes = {}

    # 1. compat.v1 Saver, not sharded: every dtype.
    d = os.path.join(out, "v1_saver")
    os.makedirs(d)
    g = tf.Graph()
    with g.as_default():
        for seed, dt in enumerate(DTYPES, start=1):
            for kind, shape in (("scalar", ()), ("matrix", (5, 7))):
                tf.compat.v1.Variable(values(dt, shape, seed), dtype=TF_DTYPES[dt], name=f"{dt}/{kind}")
        tf.compat.v1.Variable(values("float", (0, 3), 1), name="float/empty")
        gs = tf.compat.v1.train.get_or_create_global_step()
        assign = gs.assign(42)
        saver = tf.compat.v1.train.Saver(sharded=False, save_relative_paths=True)
        with tf.compat.v1.Session(graph=g) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            sess.run(assign)
            prefixes["v1_saver"] = saver.save(sess, os.path.join(d, "model.ckpt"), global_step=42,
                                              write_meta_graph=False)

    # 2. compat.v1 Saver, sharded over 3 devices, with a partitioned variable.
    d = os.path.join(out, "v1_sharded")
    os.makedirs(d)
    g = tf.Graph()
    with g.as_default():
        for k in range(3):
            with tf.device(f"/cpu:{k}"):
                tf.compat.v1.Variable(values("float", (6, 3), k), name=f"dense{k}/kernel")
        with tf.device("/cpu:1"):
            tf.compat.v1.get_variable("embedding", initializer=tf.constant(values("float", (10, 4), 9)),
                                      partitioner=tf.compat.v1.fixed_size_partitioner(3))
        gs = tf.compat.v1.train.get_or_create_global_step()
        assign = gs.assign(7)
        saver = tf.compat.v1.train.Saver(sharded=True, save_relative_paths=True)
        config = tf.compat.v1.ConfigProto(device_count={"CPU": 3})
        with tf.compat.v1.Session(graph=g, config=config) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            sess.run(assign)
            prefixes["v1_sharded"] = saver.save(sess, os.path.join(d, "model.ckpt"), global_step=7,
                                                write_meta_graph=False)

    # 3. TF2 object-based tf.train.Checkpoint.
    d = os.path.join(out, "tf2_object")
    module = tf.Module()
    module.kernel = tf.Variable(values("float", (6, 3), 0))
    module.bias = tf.Variable(values("float", (3,), 1))
    ckpt = tf.train.Checkpoint(model=module, step=tf.Variable(np.int64(5)))
    prefixes["tf2_object"] = tf.train.CheckpointManager(ckpt, d, max_to_keep=2).save()
    return prefixes


def psflow_reads_tf(build_dir, workdir):
    print("(b) psflow reads checkpoints written by TensorFlow")
    prefixes = write_tf_checkpoints(os.path.join(workdir, "tf_written"))
    inspect = os.path.join(build_dir, "tools", "psflow-inspect")
    for sub, prefix in sorted(prefixes.items()):
        # A directory argument means its latest checkpoint, from TF's state file.
        res = subprocess.run([inspect, os.path.dirname(prefix), "--json", "--all_tensors"],
                             capture_output=True, text=True)
        check(res.returncode == 0, f"{sub}: psflow-inspect exit 0 ({res.stderr.strip()[:200]})")
        if res.returncode != 0:
            continue
        got = json.loads(res.stdout)
        check(got["prefix"] == prefix, f"{sub}: latest checkpoint {got['prefix']}")
        reader = tf.train.load_checkpoint(prefix)
        dtypes = reader.get_variable_to_dtype_map()
        shapes = reader.get_variable_to_shape_map()
        check(set(got["tensors"]) == set(shapes), f"{sub}: same {len(shapes)} tensor names as TensorFlow")
        for name in sorted(shapes):
            t = got["tensors"].get(name)
            if t is None:
                continue
            want = reader.get_tensor(name)
            dt = dtypes[name]
            ok = t["dtype"] == {v: ENUM[k] for k, v in TF_DTYPES.items()}[dt]
            ok = ok and t["shape"] == list(shapes[name])
            flat = np.asarray(want).ravel()
            if dt == tf.string:
                ok = ok and t["values"] == [bytes(x).hex() for x in flat]
            elif dt == tf.bool:
                ok = ok and t["values"] == [bool(x) for x in flat]
            else:
                ok = ok and np.array_equal(np.asarray(t["values"], dtype=np.float64),
                                           flat.astype(np.float64))
            check(ok, f"{sub}: {name} {t['dtype']} {t['shape']} equal to TensorFlow's values")


VARLEN = {"ids": tf.int64, "tags": tf.string, "w": tf.float32}
VARLEN_ARGS = ["ids:int64:varlen", "tags:string:varlen", "w:float:varlen"]


def write_varlen_examples(out):
    """Five tf.train.Examples with VarLen features (empty lists, missing
    features, 2^40, bytes that are not UTF-8), and tf.io.parse_example's
    SparseTensors of them in batches of 2, as parsed.json: one object per
    batch, key -> {"shape", "values"} (flat; bytes as latin-1 strings)."""
    os.makedirs(out, exist_ok=True)
    rows = [
        {"ids": [3, 1 << 40, 7], "tags": [b"a", b"\x00\xff"], "w": [0.5]},
        {"ids": [], "tags": [b"only"], "w": [1.0, 2.0, -3.5]},
        {"ids": [42], "w": []},  # tags missing
        {"tags": [b"x", b"y", b"z"], "w": [0.25]},  # ids missing
        {"ids": [-5, 6], "tags": [], "w": [9.0]},
    ]
    path = os.path.join(out, "examples.tfrecord")
    with tf.io.TFRecordWriter(path) as w:
        for r in rows:
            feats = {}
            for k, v in r.items():
                if VARLEN[k] == tf.int64:
                    feats[k] = tf.train.Feature(int64_list=tf.train.Int64List(value=v))
                elif VARLEN[k] == tf.string:
                    feats[k] = tf.train.Feature(bytes_list=tf.train.BytesList(value=v))
                else:
                    feats[k] = tf.train.Feature(float_list=tf.train.FloatList(value=v))
            w.write(tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString())
    spec = {k: tf.io.VarLenFeature(d) for k, d in VARLEN.items()}
    batches = []
    for serialized in tf.data.TFRecordDataset(path).batch(2):
        parsed = tf.io.parse_example(serialized, spec)
        b = {}
        for k, st in parsed.items():
            vals = st.values.numpy().tolist()
            if VARLEN[k] == tf.string:
                vals = [v.decode("latin-1") for v in vals]
            b[f"{k}/indices"] = {"shape": list(st.indices.shape), "values": st.indices.numpy().flatten().tolist()}
            b[f"{k}/values"] = {"shape": list(st.values.shape), "values": vals}
            b[f"{k}/dense_shape"] = {"shape": [2], "values": st.dense_shape.numpy().tolist()}
        batches.append(b)
    with open(os.path.join(out, "parsed.json"), "w") as f:
        json.dump(batches, f, indent=1, sort_keys=True)
    return path, batches


# Each compat.v1 optimizer as psflow's PS runs it: (psflow name, factory, hyper).
SPARSE_OPTIMIZERS = [
    ("sgd", lambda: tf.compat.v1.train.GradientDescentOptimizer(0.1), {"lr": 0.1}),
    ("momentum", lambda: tf.compat.v1.train.MomentumOptimizer(0.1, momentum=0.9), {"lr": 0.1, "momentum": 0.9}),
    ("adagrad", lambda: tf.compat.v1.train.AdagradOptimizer(0.1, initial_accumulator_value=0.1),
     {"lr": 0.1, "initial_accumulator_value": 0.1}),
    ("adam", lambda: tf.compat.v1.train.AdamOptimizer(0.01, beta1=0.9, beta2=0.999, epsilon=1e-8),
     {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}),
    ("rmsprop", lambda: tf.compat.v1.train.RMSPropOptimizer(0.01, decay=0.9, momentum=0.9, epsilon=1e-10),
     {"lr": 0.01, "rho": 0.9, "momentum": 0.9, "epsilon": 1e-10}),
    ("ftrl", lambda: tf.compat.v1.train.FtrlOptimizer(0.1, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                                                      l1_regularization_strength=0.01,
                                                      l2_regularization_strength=0.02),
     {"lr": 0.1, "lr_power": -0.5, "initial_accumulator_value": 0.1, "l1": 0.01, "l2": 0.02}),
]
# Three pushes of IndexedSlices into a [6, 3] variable; rows repeat, and
# rows 1 and 4 (and in the last step most rows) are not touched.
SPARSE_STEPS = [[5, 0, 5, 2], [2, 2, 2, 3], [0, 5]]


def write_sparse_applies(out):
    """applies.json: per optimizer its hyper-parameters, the initial value,
    the pushes (indices, values) and, after each, the variable and its slots
    (checkpoint names) as TensorFlow's apply_gradients leaves them."""
    os.makedirs(out, exist_ok=True)
    init = (np.arange(18, dtype=np.float32).reshape(6, 3) * 0.1 - 0.8).astype(np.float32)
    rng = np.random.RandomState(7)
    steps = [{"indices": idx, "values": rng.uniform(-1, 1, size=(len(idx), 3)).astype(np.float32)}
             for idx in SPARSE_STEPS]
    result = {}
    for name, make, hyper in SPARSE_OPTIMIZERS:
        g = tf.Graph()
        with g.as_default():
            var = tf.compat.v1.get_variable("emb", initializer=init)
            values = tf.compat.v1.placeholder(tf.float32, [None, 3])
            indices = tf.compat.v1.placeholder(tf.int64, [None])
            opt = make()
            train = opt.apply_gradients([(tf.IndexedSlices(values, indices, tf.constant([6, 3], tf.int64)), var)])
            slots = {opt.get_slot(var, n).op.name: opt.get_slot(var, n) for n in opt.get_slot_names()}
            with tf.compat.v1.Session() as sess:
                sess.run(tf.compat.v1.global_variables_initializer())
                after = []
                for st in steps:
                    sess.run(train, {values: st["values"], indices: np.array(st["indices"], np.int64)})
                    state = {"emb": sess.run(var).flatten().tolist()}
                    for k, v in slots.items():
                        state[k] = sess.run(v).flatten().tolist()
                    after.append(state)
        result[name] = {"hyper": hyper, "init": init.flatten().tolist(),
                        "steps": [{"indices": st["indices"], "values": st["values"].flatten().tolist()} for st in steps],
                        "after": after}
    path = os.path.join(out, "applies.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
    return path


HASH_LENGTHS = [0, 1, 2, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 200]
HASH_BUCKETS = [1, 10, 1000, 1 << 40, (1 << 63) - 1]


def write_feature_hashes(out):
    """hashes.json: strings of every FarmHash length class (bytes as latin-1
    text) and tf.strings.to_hash_bucket_fast of them per bucket count; int64
    ids through categorical_column_with_hash_bucket; and crossed_column /
    tf.sparse.cross_hashed of a string and an int64 feature; bucketized_column
    of float values on and between its boundaries."""
    from tensorflow.python.feature_column import feature_column_v2 as fc
    os.makedirs(out, exist_ok=True)
    strings = [bytes((7 * i + n) % 256 for i in range(n)) for n in HASH_LENGTHS] + [b"cat", b"dog", "caf\u00e9".encode()]
    result = {"strings": [x.decode("latin-1") for x in strings], "buckets": {}}
    for nb in HASH_BUCKETS:
        result["buckets"][str(nb)] = tf.strings.to_hash_bucket_fast(tf.constant(strings), nb).numpy().tolist()
    ids = [0, 1, -1, 22, 333, 1 << 40, -(1 << 62)]
    result["int_ids"] = ids
    result["int_hash"] = {}
    for nb in (100, 10 ** 6):
        col = fc.categorical_column_with_hash_bucket("id", nb, dtype=tf.int64)
        st = col.get_sparse_tensors(fc.FeatureTransformationCache({"id": tf.constant([[i] for i in ids], tf.int64)}), None)
        result["int_hash"][str(nb)] = st.id_tensor.values.numpy().tolist()
    words = [b"a", b"b", b"cat", b"", b"caf\xc3\xa9"]
    nums = [3, 4, -7, 1 << 40, 0]
    result["cross"] = {"a": [w.decode("latin-1") for w in words], "id": nums, "buckets": {}}
    for nb in (1000, 1 << 40):
        cc = fc.crossed_column(["a", "id"], nb)
        feats = {"a": tf.constant([[w] for w in words]), "id": tf.constant([[n] for n in nums], tf.int64)}
        st = cc.get_sparse_tensors(fc.FeatureTransformationCache(feats), None)
        result["cross"]["buckets"][str(nb)] = st.id_tensor.values.numpy().tolist()
    bounds = [-5.0, 0.0, 0.5, 3.0, 100.0]
    xs = [-7.0, -5.0, -0.0, 0.25, 0.5, 2.999, 3.0, 99.0, 100.0, 1e9]
    bc = fc.bucketized_column(fc.numeric_column("x"), bounds)
    st = bc.get_sparse_tensors(fc.FeatureTransformationCache({"x": tf.constant([[x] for x in xs])}), None)
    result["bucketize"] = {"boundaries": bounds, "x": xs, "buckets": st.id_tensor.values.numpy().tolist()}
    path = os.path.join(out, "hashes.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
    return path


def write_embedding_combiners(out):
    """combiners.json: a [10, 3] table, a batch of VarLen ids (a repeated id,
    an example without ids), and per combiner tf.nn.safe_embedding_lookup_sparse
    (what embedding_column computes) and the gradient of sum(output * w) for
    the table, made dense."""
    os.makedirs(out, exist_ok=True)
    table = (np.arange(30, dtype=np.float32).reshape(10, 3) * 0.1 - 1.0).astype(np.float32)
    rows = [[3, 3, 7], [], [0], [9, 2]]
    indices = [[b, k] for b, r in enumerate(rows) for k in range(len(r))]
    values = [v for r in rows for v in r]
    w = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)
    result = {"table": table.flatten().tolist(), "indices": indices, "values": values, "dense_shape": [4, 3],
              "w": w.flatten().tolist(), "combiners": {}}
    for comb in ("sum", "mean", "sqrtn"):
        params = tf.Variable(table)
        sp = tf.SparseTensor(tf.constant(indices, tf.int64), tf.constant(values, tf.int64), [4, 3])
        with tf.GradientTape() as tape:
            y = tf.nn.safe_embedding_lookup_sparse(params, sp, combiner=comb)
            loss = tf.reduce_sum(y * w)
        grad = tf.convert_to_tensor(tape.gradient(loss, params))
        result["combiners"][comb] = {"output": y.numpy().flatten().tolist(), "grad": grad.numpy().flatten().tolist()}
    path = os.path.join(out, "combiners.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
    return path


# The feature columns of feature_columns/model.json, in the job file's
# syntax (tf.feature_column's argument names).
FC_COLUMNS = [
    {"type": "numeric_column", "key": "I1"},
    {"type": "numeric_column", "key": "I2", "shape": [2]},
    {"type": "bucketized_column", "source_column": "I1", "boundaries": [-1.0, 0.0, 2.5]},
    {"type": "categorical_column_with_identity", "key": "C1", "num_buckets": 10},
    {"type": "categorical_column_with_hash_bucket", "key": "C2", "hash_bucket_size": 20},
    {"type": "categorical_column_with_vocabulary_list", "key": "C3", "dtype": "int64",
     "vocabulary_list": [5, 7, 9], "num_oov_buckets": 2},
    {"type": "categorical_column_with_vocabulary_list", "key": "C4", "vocabulary_list": ["x", "y", "z"]},
    {"type": "crossed_column", "keys": ["C2", "C1"], "hash_bucket_size": 50},
    {"type": "crossed_column", "keys": ["I1_bucketized", "C4"], "hash_bucket_size": 30},
    {"type": "embedding_column", "categorical_column": "C1", "dimension": 3},
    {"type": "embedding_column", "categorical_column": "C2", "dimension": 2, "combiner": "sqrtn"},
    {"type": "embedding_column", "categorical_column": "C3", "dimension": 2, "combiner": "sum"},
    {"type": "indicator_column", "categorical_column": "C4"},
    {"type": "indicator_column", "categorical_column": "I1_bucketized"},
]
FC_LINEAR = ["I2", "I1_bucketized", "C1", "C2", "C3", "C4", "C1_X_C2", "C4_X_I1_bucketized"]
FC_DNN = ["I1", "I2", "C1_embedding", "C2_embedding", "C3_embedding", "C4_indicator", "I1_bucketized_indicator"]


def write_feature_columns(out):
    """model.json: a batch of dense and VarLen features, the columns above,
    and what TensorFlow's compat.v1 input_layer (in dnn/input_from_feature_columns,
    as the canned DNN builds it) and linear_model (in linear/) compute from them
    with every variable set to known values: each variable's name, shape and
    values, each categorical column's ids, and both outputs."""
    os.makedirs(out, exist_ok=True)
    fcs = tf.feature_column
    built = {}
    for c in FC_COLUMNS:
        t = c["type"]
        if t == "numeric_column":
            col = fcs.numeric_column(c["key"], shape=c.get("shape", [1]))
        elif t == "bucketized_column":
            col = fcs.bucketized_column(built[c["source_column"]], c["boundaries"])
        elif t == "categorical_column_with_identity":
            col = fcs.categorical_column_with_identity(c["key"], c["num_buckets"])
        elif t == "categorical_column_with_hash_bucket":
            col = fcs.categorical_column_with_hash_bucket(c["key"], c["hash_bucket_size"])
        elif t == "categorical_column_with_vocabulary_list":
            ints = c.get("dtype") == "int64"
            col = fcs.categorical_column_with_vocabulary_list(c["key"], c["vocabulary_list"],
                                                              dtype=tf.int64 if ints else tf.string,
                                                              num_oov_buckets=c.get("num_oov_buckets", 0))
        elif t == "crossed_column":
            # A key naming a column crosses its ids, but a hash bucket
            # column's key its raw values (TensorFlow refuses hashed columns).
            keys = [k if k not in built or type(built[k]).__name__ == "HashedCategoricalColumn" else built[k]
                    for k in c["keys"]]
            col = fcs.crossed_column(keys, c["hash_bucket_size"])
        elif t == "embedding_column":
            col = fcs.embedding_column(built[c["categorical_column"]], c["dimension"], combiner=c.get("combiner", "mean"))
        else:
            col = fcs.indicator_column(built[c["categorical_column"]])
        built[col.name] = col
    dense = {
        "I1": {"dtype": "float", "shape": [4, 1], "values": [-2.0, 0.0, 1.5, 3.0]},
        "I2": {"dtype": "float", "shape": [4, 2], "values": [0.5, -1.0, 2.0, 0.0, -0.25, 1.0, 3.0, -2.0]},
        "C1": {"dtype": "int64", "shape": [4, 1], "values": [3, -1, 9, 0]},
    }
    sparse = {
        "C2": {"dtype": "string", "indices": [[0, 0], [0, 1], [2, 0], [3, 0], [3, 1], [3, 2]],
               "values": ["cat", "dog", "cat", "", "emu", "dog"], "dense_shape": [4, 3]},
        "C3": {"dtype": "int64", "indices": [[0, 0], [1, 0], [1, 1], [3, 0]], "values": [7, 5, 42, 9], "dense_shape": [4, 2]},
        "C4": {"dtype": "string", "indices": [[0, 0], [1, 0], [2, 0], [2, 1]], "values": ["y", "w", "x", "z"],
               "dense_shape": [4, 2]},
    }
    result = {"columns": FC_COLUMNS, "linear": FC_LINEAR, "dnn": FC_DNN, "dense": dense, "sparse": sparse,
              "variables": {}, "ids": {}}
    g = tf.Graph()
    with g.as_default():
        feats = {}
        for k, d in dense.items():
            feats[k] = tf.constant(np.array(d["values"], dtype=np.float32 if d["dtype"] == "float" else np.int64)
                                   .reshape(d["shape"]))
        for k, sp in sparse.items():
            vals = [v.encode() for v in sp["values"]] if sp["dtype"] == "string" else sp["values"]
            feats[k] = tf.SparseTensor(tf.constant(sp["indices"], tf.int64),
                                       tf.constant(vals, tf.string if sp["dtype"] == "string" else tf.int64),
                                       sp["dense_shape"])
        with tf.compat.v1.variable_scope("dnn"):
            with tf.compat.v1.variable_scope("input_from_feature_columns"):
                x = tf.compat.v1.feature_column.input_layer(feats, [built[n] for n in FC_DNN])
        with tf.compat.v1.variable_scope("linear"):
            logits = tf.compat.v1.feature_column.linear_model(feats, [built[n] for n in FC_LINEAR], units=1)
        from tensorflow.python.feature_column import feature_column_v2 as fc2
        ids = {}
        for name, col in built.items():
            if isinstance(col, fc2.CategoricalColumn):
                st = col.get_sparse_tensors(fc2.FeatureTransformationCache(feats), None).id_tensor
                ids[name] = st
        assigns = []
        for i, v in enumerate(sorted(tf.compat.v1.global_variables(), key=lambda v: v.op.name)):
            shape = v.shape.as_list()
            n = int(np.prod(shape))
            vals = (np.sin(np.arange(n, dtype=np.float64) * 0.37 + i) * 0.5).astype(np.float32)
            result["variables"][v.op.name] = {"shape": shape, "values": vals.tolist()}
            assigns.append(v.assign(vals.reshape(shape)))
        with tf.compat.v1.Session() as sess:
            sess.run([tf.compat.v1.global_variables_initializer(), tf.compat.v1.tables_initializer()])
            sess.run(assigns)
            xv, lv, idv = sess.run([x, logits, ids])
    result["input_layer"] = {"shape": list(xv.shape), "values": xv.flatten().tolist()}
    result["linear_model"] = {"shape": list(lv.shape), "values": lv.flatten().tolist()}
    for name, st in idv.items():
        result["ids"][name] = {"indices": st.indices.tolist(), "values": st.values.tolist()}
    path = os.path.join(out, "model.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
    return path

def psflow_parses_examples(build_dir, workdir):
    print("(c) psflow parses VarLen tf.train.Example features as tf.io.parse_example does")
    path, want = write_varlen_examples(os.path.join(workdir, "varlen"))
    tool = os.path.join(build_dir, "tests", "psflow_parse_examples")
    res = subprocess.run([tool, path, "2"] + VARLEN_ARGS, capture_output=True, text=True)
    check(res.returncode == 0, f"psflow_parse_examples exit 0 ({res.stderr.strip()[:200]})")
    if res.returncode != 0:
        return
    got = [json.loads(line) for line in res.stdout.splitlines()]
    check(len(got) == len(want), f"{len(got)} batches, TensorFlow {len(want)}")
    for i, (g, w) in enumerate(zip(got, want)):
        check(sorted(g) == sorted(w), f"batch {i}: keys {sorted(g)}")
        for k in sorted(w):
            if k not in g:
                continue
            same_values = (np.allclose(g[k]["values"], w[k]["values"]) if k.startswith("w/values")
                           else g[k]["values"] == w[k]["values"])
            check(g[k]["shape"] == w[k]["shape"] and same_values,
                  f"batch {i} {k}: {g[k]['shape']} {g[k]['values']} (TensorFlow {w[k]['shape']} {w[k]['values']})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir")
    ap.add_argument("--workdir")
    ap.add_argument("--make-testdata", metavar="OUT_DIR")
    args = ap.parse_args()
    if args.make_testdata:
        for sub, prefix in write_tf_checkpoints(args.make_testdata).items():
            print(sub, os.path.relpath(prefix, args.make_testdata))
        path, _ = write_varlen_examples(os.path.join(args.make_testdata, "varlen"))
        print("varlen", os.path.relpath(path, args.make_testdata))
        path = write_sparse_applies(os.path.join(args.make_testdata, "sparse_apply"))
        print("sparse_apply", os.path.relpath(path, args.make_testdata))
        path = write_feature_hashes(os.path.join(args.make_testdata, "feature_hash"))
        print("feature_hash", os.path.relpath(path, args.make_testdata))
        path = write_embedding_combiners(os.path.join(args.make_testdata, "embedding_column"))
        print("embedding_column", os.path.relpath(path, args.make_testdata))
        path = write_feature_columns(os.path.join(args.make_testdata, "feature_columns"))
        print("feature_columns", os.path.relpath(path, args.make_testdata))
        return 0
    if not args.build_dir:
        ap.error("--build-dir is required")
    print(f"tensorflow {tf.__version__}")
    with tempfile.TemporaryDirectory(prefix="psflow_tf_interop_") as tmp:
        workdir = args.workdir or tmp
        tf_reads_psflow(os.path.abspath(args.build_dir), workdir)
        psflow_reads_tf(os.path.abspath(args.build_dir), workdir)
        psflow_parses_examples(os.path.abspath(args.build_dir), workdir)
    if FAILURES:
        print(f"{len(FAILURES)} interop checks failed")
        return 1
    print("all interop checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
