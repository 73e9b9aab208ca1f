#!/usr/bin/env python3
"""Wide & deep on a synthetic click log: psflow against TensorFlow, same run.

  .venv/bin/python bench/tf_ctr_peer.py --build-dir build [--steps 1500] [--examples 400000]

Writes a click log with psflow-gen-ctr (its printed teacher AUC is the
ceiling), then trains the model of configs/ctr_wide_deep.yaml on it twice on
this machine, one after the other, each with 2 PS tasks and 3 trainers
(a chief and 2 workers) for --steps global steps of batch_size examples:

  psflow      psflow-launch on the job file (checkpoints only at start and end);
              its evaluator scores the final checkpoint on the eval file;
  TensorFlow  tf.compat.v1 between-graph replication: tf.distribute.Server per
              task, replica_device_setter (greedy by bytes), the same feature
              columns through input_layer / linear_model under TensorFlow's
              canned scopes, FTRL for linear/ and Adagrad for dnn/ with the
              job's rates, MonitoredTrainingSession; the chief scores the
              final variables on the eval file.

Prints, for each, examples/s (global steps/s x batch after a warm-up tenth,
from the chief) and AUC, then the ratios psflow / TensorFlow and each AUC
against the teacher's ceiling.  A benchmark, not a test: figures only.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def expand_columns(specs):
    """The job file's feature_columns with list-valued keys expanded, as psflow does."""
    out = []
    for c in specs:
        field = next((f for f in ("key", "source_column", "categorical_column") if f in c), None)
        values = c[field] if field and isinstance(c[field], list) else [c.get(field)] if field else [None]
        for v in values:
            d = dict(c)
            if field:
                d[field] = v
            out.append(d)
    return out


def tf_columns(tf, specs):
    fc = tf.feature_column
    built = {}
    for c in expand_columns(specs):
        t = c["type"]
        if t == "numeric_column":
            col = fc.numeric_column(c["key"], shape=c.get("shape", [1]))
        elif t == "bucketized_column":
            col = fc.bucketized_column(built[c["source_column"]], [float(b) for b in c["boundaries"]])
        elif t == "categorical_column_with_identity":
            col = fc.categorical_column_with_identity(c["key"], c["num_buckets"])
        elif t == "categorical_column_with_hash_bucket":
            col = fc.categorical_column_with_hash_bucket(c["key"], c["hash_bucket_size"],
                                                         dtype=tf.int64 if c.get("dtype") == "int64" else tf.string)
        elif t == "crossed_column":
            keys = [k if k not in built or type(built[k]).__name__ == "HashedCategoricalColumn" else built[k]
                    for k in c["keys"]]
            col = fc.crossed_column(keys, c["hash_bucket_size"])
        elif t == "embedding_column":
            col = fc.embedding_column(built[c["categorical_column"]], c["dimension"], combiner=c.get("combiner", "mean"))
        elif t == "indicator_column":
            col = fc.indicator_column(built[c["categorical_column"]])
        else:
            raise SystemExit(f"tf_ctr_peer: column type {t} is not mapped here")
        built[c.get("name") or col.name] = col
    return built


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def exact_auc(scores, labels):
    order = np.argsort(scores, kind="mergesort")
    s, y = np.asarray(scores)[order], np.asarray(labels)[order]
    ranks = np.empty(len(s))
    i = 0
    while i < len(s):  # ties share their mean rank
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[i:j + 1] = (i + j) / 2 + 1
        i = j + 1
    pos = y.sum()
    neg = len(y) - pos
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


# ---------------------------------------------------------------------------
# TensorFlow: one task of the between-graph job (run as a subprocess).

def tf_server(args):
    """This task's tf.distribute.Server (graph mode): (server, cluster, index)
    for a worker; a PS task serves until it is killed and returns None."""
    import tensorflow as tf
    tf.compat.v1.disable_eager_execution()
    cluster = json.loads(args.cluster)
    kind, index = args.task.split(":")
    server = tf.distribute.Server(tf.train.ClusterSpec(cluster), job_name=kind, task_index=int(index))
    if kind == "ps":
        server.join()
        return None
    return server, cluster, int(index)


def tf_task(args):
    import tensorflow as tf
    tf1 = tf.compat.v1
    started = tf_server(args)
    if started is None:
        return
    server, cluster, index = started
    job = yaml.safe_load(open(args.config))
    m, d = job["model"], job["data"]
    cols = tf_columns(tf, m["feature_columns"])
    spec = {}
    for name, f in d["train"]["features"].items():
        dt = {"float": tf.float32, "int64": tf.int64, "string": tf.string}[f.get("dtype", "float")]
        spec[name] = tf.io.FixedLenFeature(f.get("shape", []), dt)
    batch = int(d["batch_size"])
    trainers = len(cluster["worker"])
    files = json.loads(args.train_files)

    def parse(serialized):
        feats = tf.io.parse_example(serialized, spec)
        label = feats.pop("label")
        return feats, label

    def dense(x, units, name, activation=None):
        # tf.compat.v1.layers.dense's variables (Keras 3 dropped the layer itself).
        with tf1.variable_scope(name):
            kernel = tf1.get_variable("kernel", [int(x.shape[-1]), units], initializer=tf1.glorot_uniform_initializer())
            bias = tf1.get_variable("bias", [units], initializer=tf1.zeros_initializer())
        y = tf.matmul(x, kernel) + bias
        return activation(y) if activation else y

    def model(feats, training):
        with tf1.variable_scope("dnn"):
            with tf1.variable_scope("input_from_feature_columns"):
                net = tf1.feature_column.input_layer(feats, [cols[n] for n in m["dnn_feature_columns"]])
            for k, units in enumerate(m.get("hidden_units", [])):
                net = dense(net, units, f"hiddenlayer_{k}", tf.nn.relu)
            dnn_logits = dense(net, 1, "logits")
        with tf1.variable_scope("linear"):
            linear_logits = tf1.feature_column.linear_model(feats, [cols[n] for n in m["linear_feature_columns"]], units=1)
        return dnn_logits + linear_logits

    # Greedy by bytes, as psflow places variables (TensorFlow 1's contrib
    # GreedyLoadBalancingStrategy is gone from TensorFlow 2's compat.v1).
    loads = [0] * len(cluster["ps"])

    def ps_strategy(op):
        shape = tf.TensorShape(op.get_attr("shape")) if "shape" in op.node_def.attr else tf.TensorShape([])
        size = max(1, shape.num_elements() or 1) * 4
        k = loads.index(min(loads))
        loads[k] += size
        return k
    with tf1.device(tf1.train.replica_device_setter(worker_device=f"/job:worker/task:{index}",
                                                   cluster=tf.train.ClusterSpec(cluster), ps_strategy=ps_strategy)):
        ds = tf.data.TFRecordDataset(files).shard(trainers, index).shuffle(10000, seed=index).repeat()
        ds = ds.batch(batch).map(parse).prefetch(2)
        feats, label = tf1.data.make_one_shot_iterator(ds).get_next()
        global_step = tf1.train.get_or_create_global_step()
        with tf1.variable_scope("", reuse=tf1.AUTO_REUSE):
            logits = model(feats, True)
        loss = tf1.losses.sigmoid_cross_entropy(tf.reshape(tf.cast(label, tf.float32), [-1, 1]), logits)
        lin_opt = m.get("linear_optimizer", {})
        dnn_opt = m.get("dnn_optimizer", {})
        linear_vars = tf1.get_collection(tf1.GraphKeys.TRAINABLE_VARIABLES, scope="linear")
        dnn_vars = tf1.get_collection(tf1.GraphKeys.TRAINABLE_VARIABLES, scope="dnn")
        grads = tf.gradients(loss, linear_vars + dnn_vars)
        ftrl = tf1.train.FtrlOptimizer(lin_opt.get("learning_rate", 0.05))
        adagrad = tf1.train.AdagradOptimizer(dnn_opt.get("learning_rate", 0.05))
        ops = [ftrl.apply_gradients(list(zip(grads[:len(linear_vars)], linear_vars))),
               adagrad.apply_gradients(list(zip(grads[len(linear_vars):], dnn_vars)))]
        with tf.control_dependencies(ops):
            train_op = tf1.assign_add(global_step, 1)
        if index == 0:
            eval_ds = tf.data.TFRecordDataset(json.loads(args.eval_files)).batch(1024).map(parse)
            eval_feats, eval_label = tf1.data.make_one_shot_iterator(eval_ds).get_next()
            with tf1.variable_scope("", reuse=True):
                eval_prob = tf.sigmoid(model(eval_feats, False))
    steps = args.steps
    warm = max(1, steps // 10)
    hooks = [tf1.train.StopAtStepHook(last_step=steps)]
    mark = None
    # Each worker's session talks to the PS tasks and itself only (the usual
    # between-graph setting: a worker must not wait on, or hang after, the others).
    config = tf1.ConfigProto(device_filters=["/job:ps", f"/job:worker/task:{index}"])
    with tf1.train.MonitoredTrainingSession(master=server.target, is_chief=index == 0, hooks=hooks, config=config,
                                            save_checkpoint_secs=None, save_summaries_steps=None,
                                            log_step_count_steps=None) as sess:
        while not sess.should_stop():
            gs = sess.run([train_op])[0]
            if mark is None and gs >= warm:
                mark = (time.time(), gs)
            last = (time.time(), gs)
        if index == 0:
            rate = (last[1] - mark[1]) / (last[0] - mark[0]) if mark and last[0] > mark[0] else float("nan")
            scores, labels = [], []
            raw = sess._tf_sess() if hasattr(sess, "_tf_sess") else sess
            while True:
                try:
                    p, y = raw.run([eval_prob, eval_label])
                except tf.errors.OutOfRangeError:
                    break
                scores.extend(p.reshape(-1).tolist())
                labels.extend(y.reshape(-1).tolist())
            print(json.dumps({"examples_per_sec": rate * batch, "global_steps_per_sec": rate,
                              "auc": exact_auc(scores, labels), "eval_examples": len(labels)}), flush=True)


def run_tf_tasks(common, cluster, workdir, who):
    """Starts one process per task of `cluster` (`common` + --task kind:i),
    waits for the workers, stops the PS tasks, and returns the chief's
    (worker 0's) last JSON line.  Logs go to workdir/tf_logs."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    logs = os.path.join(workdir, "tf_logs")
    os.makedirs(logs, exist_ok=True)
    ps = [subprocess.Popen(common + ["--task", f"ps:{i}"], env=env, stdout=subprocess.DEVNULL,
                           stderr=open(os.path.join(logs, f"ps-{i}.log"), "w")) for i in range(len(cluster["ps"]))]
    workers = [subprocess.Popen(common + ["--task", f"worker:{i}"], env=env, text=True,
                                stdout=subprocess.PIPE if i == 0 else subprocess.DEVNULL,
                                stderr=open(os.path.join(logs, f"worker-{i}.log"), "w"))
               for i in range(len(cluster["worker"]))]
    out, _ = workers[0].communicate()
    for w in workers[1:]:
        w.wait(timeout=600)
    for p in ps:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
    lines = [l for l in out.splitlines() if l.startswith("{")]
    if workers[0].returncode != 0 or not lines:
        err = open(os.path.join(logs, "worker-0.log")).read()
        raise SystemExit(f"{who}: the TensorFlow chief failed:\n{err[-3000:]}")
    return json.loads(lines[-1])


def run_tf(args, train_files, eval_files, workdir):
    ports = free_ports(5)
    cluster = {"ps": [f"127.0.0.1:{p}" for p in ports[:2]], "worker": [f"127.0.0.1:{p}" for p in ports[2:]]}
    common = [sys.executable, os.path.abspath(__file__), "--config", args.config, "--steps", str(args.steps),
              "--cluster", json.dumps(cluster), "--train-files", json.dumps(train_files),
              "--eval-files", json.dumps(eval_files)]
    start = time.time()
    r = run_tf_tasks(common, cluster, workdir, "tf_ctr_peer")
    r["wall_secs"] = time.time() - start
    return r


def run_psflow(args, train_files, eval_files, workdir):
    model_dir = os.path.join(workdir, "psflow_model")
    shutil.rmtree(model_dir, ignore_errors=True)  # a fresh job, not a resumed one
    cmd = [os.path.join(args.build_dir, "launch", "psflow-launch"), args.config,
           "--set", f"run.model_dir={model_dir}", "--set", f"run.train_steps={args.steps}",
           "--set", "run.save_checkpoints_secs=100000", "--set", "run.log_step_count_steps=50",
           "--set", "eval.start_delay_secs=100000", "--set", "eval.throttle_secs=100000",
           "--set", f"data.train.files={json.dumps(train_files)}", "--set", f"data.eval.files={json.dumps(eval_files)}"]
    start = time.time()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - start
    if res.returncode != 0:
        raise SystemExit(f"tf_ctr_peer: psflow-launch failed ({res.returncode}):\n{res.stderr[-3000:]}")
    batch = yaml.safe_load(open(args.config))["data"]["batch_size"]
    # The chief's logged global_step/sec after the warm-up tenth.
    pts = []
    for line in open(os.path.join(model_dir, "logs", "chief-0.log")):
        mm = re.search(r"step = (\d+) \(global_step/sec: ([0-9.]+)", line)
        if mm and int(mm.group(1)) >= args.steps // 10:
            pts.append(float(mm.group(2)))
    rate = float(np.median(pts)) if pts else float("nan")
    metrics = [json.loads(l) for l in open(os.path.join(model_dir, "eval", "metrics.jsonl"))]
    final = max(metrics, key=lambda x: x.get("global_step", 0))
    return {"examples_per_sec": rate * batch, "global_steps_per_sec": rate, "auc": final.get("auc"),
            "eval_step": final.get("global_step"), "wall_secs": wall}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--config", default=os.path.join(ROOT, "configs", "ctr_wide_deep.yaml"))
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--examples", type=int, default=400000)
    ap.add_argument("--vocab", type=int, default=50000)
    ap.add_argument("--workdir")
    ap.add_argument("--only", choices=["psflow", "tensorflow"])
    # One TensorFlow task (internal).
    ap.add_argument("--task")
    ap.add_argument("--cluster")
    ap.add_argument("--train-files")
    ap.add_argument("--eval-files")
    args = ap.parse_args()
    if args.task:
        return tf_task(args)
    workdir = args.workdir or tempfile.mkdtemp(prefix="psflow_ctr_bench_")
    data = os.path.join(workdir, "data")
    gen = subprocess.run([os.path.join(args.build_dir, "tools", "psflow-gen-ctr"), "--out", data, "--examples",
                          str(args.examples), "--eval_examples", "10000", "--shards", "4", "--vocab", str(args.vocab)],
                         capture_output=True, text=True, check=True)
    ceiling = re.search(r"eval[^\n]*?AUC[^0-9]*([0-9.]+)", gen.stdout + gen.stderr)
    print(gen.stdout.strip())
    train_files = sorted(os.path.join(data, f) for f in os.listdir(data) if f.startswith("train-"))
    eval_files = sorted(os.path.join(data, f) for f in os.listdir(data) if f.startswith("eval-"))
    results = {}
    if args.only != "tensorflow":
        results["psflow"] = run_psflow(args, train_files, eval_files, workdir)
        print("psflow     ", json.dumps(results["psflow"]), flush=True)
    if args.only != "psflow":
        results["tensorflow"] = run_tf(args, train_files, eval_files, workdir)
        print("tensorflow ", json.dumps(results["tensorflow"]), flush=True)
    if len(results) == 2:
        p, t = results["psflow"], results["tensorflow"]
        print(f"examples/s: psflow {p['examples_per_sec']:.0f}, TensorFlow {t['examples_per_sec']:.0f}, "
              f"ratio {p['examples_per_sec'] / t['examples_per_sec']:.2f} (target >= 2)")
        print(f"AUC after {args.steps} steps: psflow {p['auc']:.4f}, TensorFlow {t['auc']:.4f}, "
              f"difference {p['auc'] - t['auc']:+.4f} (target within 0.005)")
    if ceiling:
        for k, r in results.items():
            print(f"{k}: AUC {r['auc']:.4f}, {float(ceiling.group(1)) - r['auc']:.4f} below the teacher's ceiling "
                  f"{float(ceiling.group(1)):.4f}")


if __name__ == "__main__":
    sys.exit(main())
