#!/usr/bin/env python3
"""Checks that real TensorFlow imports and runs the graphs psflow writes.

  tf_graph_interop.py --build-dir BUILD [--workdir DIR]

For the dnn, cnn and linear canned classifiers, psflow-train-local trains a
few steps and writes a checkpoint with its .meta (the wide & deep model of
configs/ctr_wide_deep.yaml: a 1 PS + chief job).  Then, on the same inputs:

- tf.compat.v1.train.import_meta_graph imports the .meta and returns a Saver
  that restores psflow's checkpoint; TensorFlow's logits equal psflow's
  (psflow_run_graph runs the same file) within 1e-5;
- TensorFlow runs the imported train op (the "train_op" collection) for one
  step and its updated variables equal psflow's after the same step;
- TensorFlow's Saver saves the restored variables and psflow's Saver reads
  them back (psflow_run_graph restores TensorFlow's checkpoint);
- the frozen graph psflow writes imports with tf.compat.v1.import_graph_def
  and gives psflow's logits;
- a dnn with dropout imports and trains in TensorFlow (its mask drops about
  the rate);
- the SavedModel psflow-train-local --export_dir writes: saved_model_cli
  show --all lists its signature, TensorFlow 1's loader (as TensorFlow
  Serving), saved_model_cli run and TensorFlow 2's tf.saved_model.load give
  psflow's predictions, and psflow loads it back (psflow_run_graph saved).

  tf_graph_interop.py --make-testdata tests/testdata/tf/graphs   writes the
  TensorFlow graphs the C++ tests run without TensorFlow.

Exits 77 (skipped) when tensorflow (or numpy, pyyaml) does not import.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile

from tf_env import np, tf  # noqa: E402  (exits 77 when tensorflow does not import)

try:
    import yaml
except Exception as e:  # pragma: no cover - depends on the machine
    print(f"SKIP: pyyaml does not import ({e})")
    sys.exit(77)

tf.compat.v1.disable_eager_execution()
FAILURES = []
DATA_DIR = "/usr/share/datasets/fashion-mnist"
BATCH = 16


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILURES.append(what)


def close(a, b, tol=1e-5):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return a.shape == b.shape and np.allclose(a, b, rtol=tol, atol=tol)


class Psflow:
    def __init__(self, build_dir, workdir):
        self.runner = os.path.join(build_dir, "tests", "psflow_run_graph")
        self.trainer = os.path.join(build_dir, "tools", "psflow-train-local")
        self.workdir = workdir
        self.n = 0

    def train(self, model_dir, model, steps, extra=()):
        subprocess.run([self.trainer, "--model", model, "--model_dir", model_dir, "--train_steps", str(steps),
                        "--save_checkpoints_steps", str(steps), "--data_dir", DATA_DIR] + list(extra),
                       check=True, capture_output=True)
        return tf.train.latest_checkpoint(model_dir)

    def _feeds(self, feeds):
        args = []
        for name, value in feeds.items():
            self.n += 1
            path = os.path.join(self.workdir, f"feed{self.n}.bin")
            value.tofile(path)
            dims = ",".join(str(d) for d in value.shape)
            args.append(f"feed={name}={path}:{value.dtype.name.replace('float32', 'float')}:{dims}")
        return args

    def run(self, mode, files, feeds, fetches, targets=()):
        self.n += 1
        out = os.path.join(self.workdir, f"out{self.n}")
        os.makedirs(out)
        cmd = [self.runner, mode] + list(files) + [out] + self._feeds(feeds)
        cmd += [f"target={t}" for t in targets] + [f"fetch={f}" for f in fetches]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"psflow_run_graph failed: {res.stderr[-2000:]}")
        values = []
        for i, line in enumerate(l for l in res.stdout.splitlines() if l.startswith("{")):
            desc = json.loads(line)
            dtype = {"float": np.float32, "double": np.float64, "int64": np.int64, "int32": np.int32}[desc["dtype"]]
            values.append(np.fromfile(os.path.join(out, f"{i}.bin"), dtype=dtype).reshape(desc["shape"]))
        return values

    def freeze(self, meta, prefix, output_node, pb):
        subprocess.run([self.runner, "freeze", meta, prefix, output_node, pb], check=True, capture_output=True)


def inputs(graph, seed, classes=10):
    """A batch for every placeholder of the graph: floats in [0, 1), ids in
    [0, 100), labels in [0, classes)."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for op in graph.get_operations():
        if op.type != "Placeholder":
            continue
        t = op.outputs[0]
        shape = [BATCH] + [int(d) for d in t.shape[1:]]
        if t.dtype.is_floating:
            feeds[t.name] = rng.random(shape, dtype=np.float32).astype(t.dtype.as_numpy_dtype)
        else:
            high = classes if op.name == "label" else 100
            feeds[t.name] = rng.integers(0, high, size=shape).astype(t.dtype.as_numpy_dtype)
    return feeds


def logits_name(graph):
    """The logits: what the head's probabilities (or logistic) are computed from."""
    for head in ("head/logistic", "head/probabilities"):
        try:
            return graph.get_operation_by_name(head).inputs[0].name
        except KeyError:
            pass
    raise KeyError("no head/logistic or head/probabilities in the graph")


def check_model(p, workdir, model, extra=(), tag=None):
    tag = tag or model
    model_dir = os.path.join(workdir, tag)
    prefix = p.train(model_dir, model, 20, extra)
    check_graphs(p, workdir, tag, prefix)


def check_graphs(p, workdir, tag, prefix, classes=10):
    meta = prefix + ".meta"
    graph = tf.Graph()
    with graph.as_default():
        try:
            saver = tf.compat.v1.train.import_meta_graph(meta)
        except Exception as e:  # noqa: BLE001 - report TensorFlow's message
            check(False, f"{tag}: TensorFlow imports {os.path.basename(meta)} ({str(e)[:400]})")
            return
        check(saver is not None, f"{tag}: import_meta_graph returns a Saver")
        feeds = inputs(graph, 1, classes)
        logits = logits_name(graph)
        trainable = sorted(v.name for v in tf.compat.v1.trainable_variables())
        check(len(trainable) >= 2, f"{tag}: the trainable_variables collection lists {len(trainable)} variables")
        train_ops = tf.compat.v1.get_collection("train_op")
        check(len(train_ops) == 1, f"{tag}: the train_op collection holds the train op")
        with tf.compat.v1.Session() as sess:
            saver.restore(sess, prefix)
            tf_logits = sess.run(logits, feeds)
            ps_logits = p.run("meta", [meta, prefix], feeds, [logits])[0]
            check(close(tf_logits, ps_logits), f"{tag}: TensorFlow's logits equal psflow's "
                  f"(max diff {np.max(np.abs(tf_logits - ps_logits)):.2e})")
            # One training step in each, from the same checkpoint.
            sess.run(train_ops[0], feeds)
            tf_after = sess.run(trainable + ["global_step:0"])
            ps_after = p.run("meta", [meta, prefix], feeds, [n.replace(":0", "/read:0") for n in trainable] +
                             ["global_step/read:0"], targets=[train_ops[0].name])
            worst = max(float(np.max(np.abs(np.asarray(a, np.float64) - b))) for a, b in zip(tf_after, ps_after))
            check(all(close(a, b) for a, b in zip(tf_after, ps_after)),
                  f"{tag}: one train step in TensorFlow updates the variables as psflow's does (max diff {worst:.2e})")
            # TensorFlow's Saver writes, psflow's reads.
            tf_prefix = os.path.join(workdir, f"{tag}_tf", "model.ckpt")
            saver.save(sess, tf_prefix, global_step=21, write_meta_graph=False)
            tf_logits = sess.run(logits, feeds)
            again = p.run("meta", [meta, tf_prefix + "-21"], feeds, [logits])[0]
            check(close(tf_logits, again), f"{tag}: psflow restores TensorFlow's save of the imported graph")
    # The frozen graph of the logits.
    pb = os.path.join(workdir, f"{tag}_frozen.pb")
    logits_node = logits.split(":")[0]
    p.freeze(meta, prefix, logits_node, pb)
    gdef = tf.compat.v1.GraphDef()
    with open(pb, "rb") as f:
        gdef.ParseFromString(f.read())
    frozen = tf.Graph()
    with frozen.as_default():
        try:
            tf.compat.v1.import_graph_def(gdef, name="")
        except Exception as e:  # noqa: BLE001
            check(False, f"{tag}: TensorFlow imports the frozen graph ({str(e)[:400]})")
            return
        with tf.compat.v1.Session() as sess:
            x = {k: v for k, v in feeds.items() if k != "label:0"}
            tf_logits = sess.run(logits, x)
    ps_logits = p.run("pb", [pb], x, [logits])[0]
    check(close(tf_logits, ps_logits), f"{tag}: the frozen graph gives psflow's logits in TensorFlow")
    check(not any(n.op == "VariableV2" for n in gdef.node), f"{tag}: the frozen graph holds no variables")


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for so in socks:
        so.bind(("127.0.0.1", 0))
    ports = [so.getsockname()[1] for so in socks]
    for so in socks:
        so.close()
    return ports


def check_wide_deep(p, workdir, build_dir, source_dir):
    """configs/ctr_wide_deep.yaml (feature columns, crosses, embeddings,
    FTRL and Adagrad) trained a few steps by a real 1 PS + chief job."""
    data = os.path.join(workdir, "ctr_data")
    subprocess.run([os.path.join(build_dir, "tools", "psflow-gen-ctr"), "--out", data, "--examples", "4000",
                    "--eval_examples", "500", "--shards", "1", "--vocab", "100"], check=True, capture_output=True)
    with open(os.path.join(source_dir, "configs", "ctr_wide_deep.yaml")) as f:
        job = yaml.safe_load(f)
    ports = free_ports(2)
    job["cluster"] = {"ps": [f"127.0.0.1:{ports[0]}"], "chief": [f"127.0.0.1:{ports[1]}"]}
    job["data"]["train"]["files"] = [os.path.join(data, "train-00000-of-00001.tfrecord")]
    job["data"]["eval"]["files"] = [os.path.join(data, "eval-00000-of-00001.tfrecord")]
    model_dir = os.path.join(workdir, "wide_deep")
    job["run"].update({"model_dir": model_dir, "train_steps": 40, "save_checkpoints_secs": 600, "token": "wd-secret"})
    job_file = os.path.join(workdir, "wide_deep.yaml")
    with open(job_file, "w") as f:
        yaml.safe_dump(job, f)
    res = subprocess.run([os.path.join(build_dir, "launch", "psflow-launch"), job_file, "--quiet"],
                         capture_output=True, text=True, timeout=300)
    check(res.returncode == 0, "wide_deep: the job trains" + ("" if res.returncode == 0 else f" ({res.stdout[-800:]})"))
    if res.returncode != 0:
        return
    check_graphs(p, workdir, "wide_deep", tf.train.latest_checkpoint(model_dir), classes=2)
    # The chief recorded the job in model_dir, without its token.
    with open(os.path.join(model_dir, "job.yaml")) as f:
        recorded = f.read()
    check("wd-secret" not in recorded and yaml.safe_load(recorded)["run"]["model_dir"] == model_dir,
          "wide_deep: the chief records the job in model_dir/job.yaml, without the token")
    # psflow-export: the job's SavedModel from its model_dir alone (and from the job file), served by TensorFlow.
    export_bin = os.path.join(build_dir, "tools", "psflow-export")
    base = os.path.join(workdir, "wide_deep_exports")
    res = subprocess.run([export_bin, model_dir, base], capture_output=True, text=True)
    line = [l for l in res.stdout.splitlines() if l.startswith("SavedModel of")]
    check(res.returncode == 0 and len(line) == 1, "wide_deep: psflow-export MODEL_DIR OUT writes the SavedModel" +
          ("" if res.returncode == 0 else f" ({res.stderr[-400:]})"))
    res_job = subprocess.run([export_bin, job_file, base + "_from_job"], capture_output=True, text=True)
    check(res_job.returncode == 0, "wide_deep: psflow-export JOB.yaml OUT writes it too" +
          ("" if res_job.returncode == 0 else f" ({res_job.stderr[-400:]})"))
    if not line:
        return
    export = line[0].split(" in ", 1)[1].strip()
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session() as sess:
        meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], export)
        sig = meta.signature_def["serving_default"]
        check(len(sig.inputs) == 39, f"wide_deep: the signature takes the 39 features ({len(sig.inputs)} inputs)")
        rng = np.random.default_rng(5)
        feeds = {}
        for key, info in sig.inputs.items():
            shape = [BATCH] + [d.size for d in info.tensor_shape.dim[1:]]
            dtype = tf.dtypes.as_dtype(info.dtype).as_numpy_dtype
            feeds[key] = (rng.random(shape) if key.startswith("I") else rng.integers(0, 100, shape)).astype(dtype)
        want = sess.run(sig.outputs["logits"].name, {sig.inputs[k].name: v for k, v in feeds.items()})
    got = p.run("saved", [export], feeds, ["logits"])[0]
    check(close(want, got), "wide_deep: TensorFlow serves psflow-export's SavedModel with psflow's logits")


def check_dropout(p, workdir):
    model_dir = os.path.join(workdir, "dnn_dropout")
    prefix = p.train(model_dir, "dnn_classifier", 10, ["--dropout", "0.3"])
    graph = tf.Graph()
    with graph.as_default():
        try:
            saver = tf.compat.v1.train.import_meta_graph(prefix + ".meta")
        except Exception as e:  # noqa: BLE001
            check(False, f"dropout: TensorFlow imports the .meta ({str(e)[:400]})")
            return
        masks = [op for op in graph.get_operations() if op.name.endswith("dropout/mask")]
        check(len(masks) >= 1, "dropout: the mask node keeps its name")
        feeds = inputs(graph, 2)
        with tf.compat.v1.Session() as sess:
            saver.restore(sess, prefix)
            mask = sess.run(masks[0].outputs[0], feeds)
            zeros = float(np.mean(mask == 0))
            check(abs(zeros - 0.3) < 0.05, f"dropout: TensorFlow's run of the mask drops {zeros:.3f} (rate 0.3)")
            check(np.allclose(mask[mask != 0], 1 / 0.7), "dropout: kept units are scaled by 1/keep")
            loss = tf.compat.v1.get_collection("losses")[0]
            _, l = sess.run([tf.compat.v1.get_collection("train_op")[0], loss], feeds)
            check(np.isfinite(l), f"dropout: TensorFlow trains the imported graph (loss {l:.3f})")


TF2_LOAD = r'''
import sys, numpy as np, tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
fn = model.signatures["serving_default"]
out = fn(x=tf.constant(np.load(sys.argv[2])))
np.savez(sys.argv[3], **{k: v.numpy() for k, v in out.items()})
'''


def check_saved_model(p, workdir):
    """psflow-train-local --export_dir writes a SavedModel; TensorFlow's
    tools load and run it; psflow loads it back and gives the same outputs."""
    model_dir = os.path.join(workdir, "dnn_saved")
    base = os.path.join(workdir, "exports")
    res = subprocess.run([p.trainer, "--model", "dnn_classifier", "--hidden_units", "32,16", "--model_dir", model_dir,
                          "--train_steps", "20", "--data_dir", DATA_DIR, "--export_dir", base],
                         check=True, capture_output=True, text=True)
    line = [l for l in res.stdout.splitlines() if l.startswith("SavedModel of")]
    check(len(line) == 1, "saved_model: psflow-train-local names the export")
    if not line:
        return
    export = line[0].split(" in ", 1)[1].strip()
    check(os.path.exists(os.path.join(export, "variables", "variables.index")), "saved_model: variables/ is written")
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    show = subprocess.run([cli, "show", "--dir", export, "--all"], capture_output=True, text=True)
    check(show.returncode == 0 and "serving_default" in show.stdout and "tensorflow/serving/predict" in show.stdout,
          "saved_model: saved_model_cli show --all lists the serving_default signature")
    for key in ("x", "logits", "probabilities", "class_ids", "classes"):
        check(f"['{key}']" in show.stdout, f"saved_model: the signature lists {key}")
    xs = np.random.default_rng(3).random([BATCH, 784], dtype=np.float32)
    xs_path = os.path.join(workdir, "saved_x.npy")
    np.save(xs_path, xs)
    # TensorFlow 1's loader, as TensorFlow Serving loads.
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session() as sess:
        meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], export)
        sig = meta.signature_def["serving_default"]
        names = ["logits", "probabilities", "class_ids", "classes"]
        tf_out = dict(zip(names, sess.run([sig.outputs[k].name for k in names], {sig.inputs["x"].name: xs})))
    ps = dict(zip(names[:3], p.run("saved", [export], {"x": xs}, names[:3])))
    check(close(tf_out["logits"], ps["logits"]), "saved_model: TensorFlow's loader gives psflow's logits")
    check(close(tf_out["probabilities"], ps["probabilities"]), "saved_model: ... and probabilities")
    check(np.array_equal(tf_out["class_ids"], ps["class_ids"]), "saved_model: ... and class ids")
    check([c.decode() for c in np.ravel(tf_out["classes"])] == [str(i) for i in np.ravel(ps["class_ids"])],
          "saved_model: classes are the class ids as strings")
    # saved_model_cli run, and TensorFlow 2's tf.saved_model.load in its own process (eager).
    out_dir = os.path.join(workdir, "cli_out")
    run = subprocess.run([cli, "run", "--dir", export, "--tag_set", "serve", "--signature_def", "serving_default",
                          "--inputs", f"x={xs_path}", "--outdir", out_dir], capture_output=True, text=True)
    ok = run.returncode == 0 and os.path.exists(os.path.join(out_dir, "logits.npy"))
    check(ok and close(np.load(os.path.join(out_dir, "logits.npy")), ps["logits"]),
          "saved_model: saved_model_cli run gives psflow's logits" + ("" if ok else f" ({run.stderr[-400:]})"))
    npz = os.path.join(workdir, "tf2.npz")
    load = subprocess.run([sys.executable, "-c", TF2_LOAD, export, xs_path, npz], capture_output=True, text=True)
    ok = load.returncode == 0
    check(ok and close(np.load(npz)["logits"], ps["logits"]),
          "saved_model: tf.saved_model.load's serving_default gives psflow's logits" + ("" if ok else f" ({load.stderr[-600:]})"))


def tf_model(kind, x, use_resource, image=28, dnn_units=(32, 16), filters=(8, 16), hidden=32):
    """A compat.v1 model built from TensorFlow's ops, as tutorials write them;
    resource variables (TensorFlow 2's default) or ref variables (TensorFlow 1's)."""
    init = tf.compat.v1.glorot_uniform_initializer(seed=1)

    def dense(h, units, name, relu=True):
        with tf.compat.v1.variable_scope(name):
            w = tf.compat.v1.get_variable("kernel", [int(h.shape[1]), units], initializer=init,
                                          use_resource=use_resource)
            b = tf.compat.v1.get_variable("bias", [units], initializer=tf.compat.v1.zeros_initializer(),
                                          use_resource=use_resource)
            y = tf.nn.bias_add(tf.matmul(h, w), b)
            return tf.nn.relu(y) if relu else y

    def conv(h, filters, name):
        with tf.compat.v1.variable_scope(name):
            f = tf.compat.v1.get_variable("kernel", [5, 5, int(h.shape[3]), filters], initializer=init,
                                          use_resource=use_resource)
            b = tf.compat.v1.get_variable("bias", [filters], initializer=tf.compat.v1.zeros_initializer(),
                                          use_resource=use_resource)
            y = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(h, f, strides=[1, 1, 1, 1], padding="SAME"), b))
            return tf.nn.max_pool2d(y, ksize=2, strides=2, padding="SAME")

    if kind == "linear":
        h = x
    elif kind == "dnn":
        h = dense(dense(x, dnn_units[0], "hidden0"), dnn_units[1], "hidden1")
    else:
        h = conv(conv(tf.reshape(x, [-1, image, image, 1]), filters[0], "conv0"), filters[1], "conv1")
        h = dense(tf.reshape(h, [-1, (image // 4) * (image // 4) * filters[1]]), hidden, "hidden0")
    logits = tf.identity(dense(h, 10, "logits", relu=False) + 0.0, name="output")
    tf.nn.softmax(logits, name="probabilities")
    tf.argmax(logits, 1, name="classes")
    return logits


def tf_wide_deep(use_resource, vocab=50, dim=4, hidden=8):
    """A compat.v1 wide & deep model as TensorFlow's ops write it: one sparse
    categorical feature (a SparseTensor of ids) feeds a summed wide weight per
    id and a mean embedding that joins the dense features in the deep tower;
    logistic output."""
    init = tf.compat.v1.glorot_uniform_initializer(seed=2)
    cat = tf.compat.v1.sparse_placeholder(tf.int64, name="cat")
    numeric = tf.compat.v1.placeholder(tf.float32, [None, 3], name="numeric")

    def var(name, shape, initializer=init):
        return tf.compat.v1.get_variable(name, shape, initializer=initializer, use_resource=use_resource)

    with tf.compat.v1.variable_scope("wide"):
        wide = tf.nn.embedding_lookup_sparse(var("weights", [vocab, 1]), cat, None, combiner="sum")
        wide = tf.nn.bias_add(wide, var("bias", [1], tf.compat.v1.zeros_initializer()))
    with tf.compat.v1.variable_scope("deep"):
        emb = tf.nn.embedding_lookup_sparse(var("embeddings", [vocab, dim]), cat, None, combiner="mean")
        h = tf.concat([emb, numeric], 1)
        h = tf.nn.relu(tf.matmul(h, var("hidden/kernel", [dim + 3, hidden])) + var("hidden/bias", [hidden]))
        deep = tf.matmul(h, var("logits/kernel", [hidden, 1]))
    logits = tf.identity(wide + deep, name="output")
    prob = tf.sigmoid(logits, name="probabilities")
    tf.cast(tf.greater(prob, 0.5), tf.int64, name="classes")
    return cat, numeric


def wide_deep_batch(rng, rows, vocab=50):
    """Every row has 1 to 3 distinct ids (embedding_lookup_sparse gives as
    many rows as the last row with an id)."""
    indices, values = [], []
    for r in range(rows):
        ids = rng.choice(vocab, size=int(rng.integers(1, 4)), replace=False)
        for j, v in enumerate(ids):
            indices.append([r, j])
            values.append(v)
    return (np.array(indices, np.int64), np.array(values, np.int64), np.array([rows, 3], np.int64),
            rng.random([rows, 3], dtype=np.float32))


def check_tf_written_wide_deep(p, workdir):
    """TensorFlow's wide & deep (sparse ids, embedding_lookup_sparse) in
    psflow: the .meta with its checkpoint and the frozen graph give
    TensorFlow's outputs."""
    fetches = ["output:0", "probabilities:0", "classes:0"]
    indices, values, shape, numeric_value = wide_deep_batch(np.random.default_rng(5), BATCH)
    for use_resource in (True, False):
        tag = f"tf_wide_deep_{'resource' if use_resource else 'ref'}_variables"
        prefix = os.path.join(workdir, tag, "model.ckpt")
        pb = os.path.join(workdir, f"{tag}_frozen.pb")
        graph = tf.Graph()
        with graph.as_default():
            cat, numeric = tf_wide_deep(use_resource)
            saver = tf.compat.v1.train.Saver()
            with tf.compat.v1.Session() as sess:
                sess.run(tf.compat.v1.global_variables_initializer())
                saver.save(sess, prefix, global_step=3)
                want = sess.run(fetches, {cat: tf.compat.v1.SparseTensorValue(indices, values, shape),
                                          numeric: numeric_value})
                frozen = tf.compat.v1.graph_util.convert_variables_to_constants(
                    sess, graph.as_graph_def(), ["output", "probabilities", "classes"])
        with open(pb, "wb") as f:
            f.write(frozen.SerializeToString())
        feeds = {"cat/indices:0": indices, "cat/values:0": values, "cat/shape:0": shape, "numeric:0": numeric_value}
        for mode, files in (("meta", [prefix + "-3.meta", prefix + "-3"]), ("pb", [pb])):
            if mode == "pb":  # freezing drops the unused dense_shape placeholder
                feeds.pop("cat/shape:0")
            try:
                got = p.run(mode, files, feeds, fetches)
                check(all(close(a, b) for a, b in zip(want, got)),
                      f"{tag}: psflow runs TensorFlow's {mode} with TensorFlow's outputs")
            except RuntimeError as e:
                check(False, f"{tag}: psflow imports TensorFlow's {mode} ({str(e)[-400:]})")
        # Back again: psflow freezes what it imported (StridedSlice, Unique,
        # SparseSegmentMean, ... in TensorFlow's forms) and TensorFlow runs it.
        back = os.path.join(workdir, f"{tag}_psflow_frozen.pb")
        try:
            p.freeze(prefix + "-3.meta", prefix + "-3", "output", back)
            graph_def = tf.compat.v1.GraphDef()
            with open(back, "rb") as f:
                graph_def.ParseFromString(f.read())
            with tf.Graph().as_default() as g, tf.compat.v1.Session() as sess:
                tf.compat.v1.import_graph_def(graph_def, name="")
                got = sess.run("output:0", {"cat/indices:0": indices, "cat/values:0": values,
                                            "numeric:0": numeric_value})
            check(close(want[0], got), f"{tag}: TensorFlow runs psflow's frozen graph of it with the same outputs")
        except (subprocess.CalledProcessError, ValueError, tf.errors.OpError) as e:
            check(False, f"{tag}: TensorFlow runs psflow's frozen graph of it ({str(e)[-400:]})")


def check_tf_written(p, workdir):
    """TensorFlow writes a .meta with its checkpoint and a frozen graph;
    psflow runs both and gives TensorFlow's outputs."""
    fetches = ["output:0", "probabilities:0", "classes:0"]
    for kind, use_resource in (("dnn", True), ("cnn", True), ("linear", True), ("dnn", False), ("cnn", False)):
        tag = f"tf_{kind}_{'resource' if use_resource else 'ref'}_variables"
        prefix = os.path.join(workdir, tag, "model.ckpt")
        pb = os.path.join(workdir, f"{tag}_frozen.pb")
        xs = np.random.default_rng(4).random([BATCH, 784], dtype=np.float32)
        graph = tf.Graph()
        with graph.as_default():
            x = tf.compat.v1.placeholder(tf.float32, [None, 784], name="x")
            tf_model(kind, x, use_resource)
            saver = tf.compat.v1.train.Saver()
            with tf.compat.v1.Session() as sess:
                sess.run(tf.compat.v1.global_variables_initializer())
                saver.save(sess, prefix, global_step=7)
                want = sess.run(fetches, {x: xs})
                frozen = tf.compat.v1.graph_util.convert_variables_to_constants(
                    sess, graph.as_graph_def(), ["output", "probabilities", "classes"])
        with open(pb, "wb") as f:
            f.write(frozen.SerializeToString())
        try:
            got = p.run("meta", [prefix + "-7.meta", prefix + "-7"], {"x:0": xs}, fetches)
            check(all(close(a, b) for a, b in zip(want, got)),
                  f"{tag}: psflow runs TensorFlow's .meta with TensorFlow's outputs")
        except RuntimeError as e:
            check(False, f"{tag}: psflow imports TensorFlow's .meta ({str(e)[-400:]})")
        if use_resource:
            # TensorFlow's SavedModel of the same model, loaded by psflow.
            export = os.path.join(workdir, f"{tag}_saved_model")
            with graph.as_default(), tf.compat.v1.Session() as sess:
                saver.restore(sess, prefix + "-7")
                tf.compat.v1.saved_model.simple_save(
                    sess, export, inputs={"x": graph.get_tensor_by_name("x:0")},
                    outputs={k.split(":")[0]: graph.get_tensor_by_name(k) for k in fetches})
            try:
                got = p.run("saved", [export], {"x": xs}, ["output", "probabilities", "classes"])
                check(all(close(a, b) for a, b in zip(want, got)),
                      f"{tag}: psflow loads TensorFlow's SavedModel and its signature gives TensorFlow's outputs")
            except RuntimeError as e:
                check(False, f"{tag}: psflow loads TensorFlow's SavedModel ({str(e)[-400:]})")
        try:
            got = p.run("pb", [pb], {"x:0": xs}, fetches)
            check(all(close(a, b) for a, b in zip(want, got)),
                  f"{tag}: psflow runs TensorFlow's frozen graph with TensorFlow's outputs")
        except RuntimeError as e:
            check(False, f"{tag}: psflow imports TensorFlow's frozen graph ({str(e)[-400:]})")
    check_tf_written_wide_deep(p, workdir)
    # A partitioned variable is refused by name (psflow does not import those yet).
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 4], name="x")
        w = tf.compat.v1.get_variable("part_w", [6, 4], partitioner=tf.compat.v1.fixed_size_partitioner(2))
        tf.matmul(x, tf.transpose(w.as_tensor()), name="y")
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            prefix = saver.save(sess, os.path.join(workdir, "partitioned", "model.ckpt"))
    res = subprocess.run([p.runner, "meta", prefix + ".meta", prefix, workdir, "fetch=y:0"], capture_output=True, text=True)
    check(res.returncode != 0 and "one partition of part_w" in res.stderr,
          "a partitioned TensorFlow variable is refused by name" + (f" ({res.stderr.strip()[-300:]})" if res.stderr else ""))
    # An op psflow lacks is named with its node.
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 4], name="x")
        tf.nn.leaky_relu(x, name="leaky")
    pb = os.path.join(workdir, "tf_unknown.pb")
    with open(pb, "wb") as f:
        f.write(graph.as_graph_def().SerializeToString())
    res = subprocess.run([p.runner, "pb", pb, workdir, "fetch=leaky:0"], capture_output=True, text=True)
    check(res.returncode != 0 and "leaky" in res.stderr and "LeakyRelu" in res.stderr,
          f"an op psflow lacks is named with its node ({res.stderr.strip().splitlines()[-1][:300] if res.stderr else ''})")


def write_graph_testdata(out):
    """tests/testdata/tf/graphs: small compat.v1 dnn (resource variables) and
    cnn (ref variables) models as TensorFlow writes them (a .meta with its
    checkpoint, a frozen graph, and for the dnn a SavedModel) and
    expected.json, their outputs on fixed inputs, which the C++ tests compare
    psflow's runs with (tests/tf_testdata_test.cc)."""
    expected = {}
    for kind, use_resource in (("dnn", True), ("cnn", False)):
        d = os.path.join(out, kind)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        xs = (np.arange(3 * 64, dtype=np.float32).reshape(3, 64) % 17) / 17.0 - 0.3
        graph = tf.Graph()
        with graph.as_default():
            tf.compat.v1.set_random_seed(3)
            x = tf.compat.v1.placeholder(tf.float32, [None, 64], name="x")
            tf_model(kind, x, use_resource, image=8, dnn_units=(8, 4), filters=(2, 3), hidden=6)
            saver = tf.compat.v1.train.Saver()
            fetches = ["output:0", "probabilities:0", "classes:0"]
            with tf.compat.v1.Session() as sess:
                sess.run(tf.compat.v1.global_variables_initializer())
                saver.save(sess, os.path.join(d, "model.ckpt"), global_step=1, write_state=False)
                want = sess.run(fetches, {x: xs})
                frozen = tf.compat.v1.graph_util.convert_variables_to_constants(
                    sess, graph.as_graph_def(), ["output", "probabilities", "classes"])
                if kind == "dnn":
                    tf.compat.v1.saved_model.simple_save(
                        sess, os.path.join(d, "saved_model"), inputs={"x": x},
                        outputs={k.split(":")[0]: graph.get_tensor_by_name(k) for k in fetches})
        with open(os.path.join(d, "frozen.pb"), "wb") as f:
            f.write(frozen.SerializeToString())
        expected[kind] = {"x": {"shape": list(xs.shape), "values": xs.ravel().tolist()},
                          "outputs": {k: {"shape": list(np.shape(v)), "values": np.ravel(v).tolist()}
                                      for k, v in zip(fetches, want)}}
    path = os.path.join(out, "expected.json")
    with open(path, "w") as f:
        json.dump(expected, f)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir")
    ap.add_argument("--workdir")
    ap.add_argument("--make-testdata", metavar="OUT_DIR", help="write tests/testdata/tf/graphs")
    args = ap.parse_args()
    if args.make_testdata:
        print(write_graph_testdata(args.make_testdata))
        return 0
    if not args.build_dir:
        ap.error("--build-dir is required")
    if not os.path.exists(os.path.join(DATA_DIR, "train-images-idx3-ubyte.gz")):
        print(f"SKIP: {DATA_DIR} is missing (apt-get install dataset-fashion-mnist)")
        return 77
    workdir = args.workdir or tempfile.mkdtemp(prefix="psflow_tf_graph_")
    os.makedirs(workdir, exist_ok=True)
    p = Psflow(args.build_dir, workdir)
    try:
        check_model(p, workdir, "dnn_classifier", ["--hidden_units", "32,16"])
        check_model(p, workdir, "cnn_classifier", ["--batch_size", "16"])
        check_model(p, workdir, "linear_classifier")
        # Every optimizer's apply in TensorFlow's form (Adam above).
        for optimizer in ("sgd", "momentum", "adagrad", "rmsprop", "ftrl"):
            check_model(p, workdir, "dnn_classifier", ["--hidden_units", "8", "--optimizer", optimizer],
                        tag=f"dnn_{optimizer}")
        check_dropout(p, workdir)
        check_wide_deep(p, workdir, args.build_dir, os.path.join(os.path.dirname(__file__), "..", ".."))
        check_saved_model(p, workdir)
        check_tf_written(p, workdir)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    if FAILURES:
        print(f"{len(FAILURES)} failure(s)")
        return 1
    print("all TensorFlow graph checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
