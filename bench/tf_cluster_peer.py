#!/usr/bin/env python3
"""The main job's training rate as a cluster: psflow against TensorFlow's PS cluster, same machine, same run.

  .venv/bin/python bench/tf_cluster_peer.py --build-dir build [--steps 3000] [--ps 1] [--workers 1] [--set K=V]

dnn_classifier [256, 128], Adam 1e-3, batch 128 on Fashion-MNIST (the IDX
files of `apt-get install dataset-fashion-mnist`), trained asynchronously by
--ps PS tasks and a chief plus --workers workers, all on this machine, one
job after the other:

  psflow      psflow-launch configs/fashion_mnist.yaml with the cluster cut
              to that shape, no evaluator, checkpoints only at start and end;
              the rate is the chief's logged global_step/sec after the first
              tenth of the steps (the median of its lines);
  TensorFlow  tf.compat.v1 between-graph replication: tf.distribute.Server
              per task, replica_device_setter, dense layers and Adam as
              tf.compat.v1.train.AdamOptimizer, MonitoredTrainingSession;
              the chief's global steps/s after the first tenth.

Prints examples/s (global steps/s x batch) of each and the ratio psflow /
TensorFlow.  Default shape: 1 PS + 2 trainers.  A benchmark, not a test.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from tf_ctr_peer import free_ports, run_tf_tasks, tf_server  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    import gzip
    import numpy as np
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def tf_task(args):
    started = tf_server(args)
    if started is None:
        return  # a PS task, killed when the job is done
    server, cluster, index = started
    import numpy as np
    import tensorflow as tf
    tf1 = tf.compat.v1
    x = read_idx(os.path.join(args.data, "train-images-idx3-ubyte.gz")).reshape(-1, 784).astype(np.float32) / 255.0
    y = read_idx(os.path.join(args.data, "train-labels-idx1-ubyte.gz")).astype(np.int32)
    trainers = len(cluster["worker"])

    def dense(h, units, name, activation=None):
        with tf1.variable_scope(name):
            kernel = tf1.get_variable("kernel", [int(h.shape[-1]), units], initializer=tf1.glorot_uniform_initializer())
            bias = tf1.get_variable("bias", [units], initializer=tf1.zeros_initializer())
        out = tf.nn.bias_add(tf.matmul(h, kernel), bias)
        return activation(out) if activation else out

    with tf1.device(tf1.train.replica_device_setter(worker_device=f"/job:worker/task:{index}",
                                                   cluster=tf.train.ClusterSpec(cluster))):
        ds = tf.data.Dataset.from_tensor_slices((x, y)).shard(trainers, index).shuffle(10000, seed=index).repeat()
        feats, labels = tf1.data.make_one_shot_iterator(ds.batch(128).prefetch(2)).get_next()
        global_step = tf1.train.get_or_create_global_step()
        with tf1.variable_scope("dnn"):
            h = dense(feats, 256, "hiddenlayer_0", tf.nn.relu)
            h = dense(h, 128, "hiddenlayer_1", tf.nn.relu)
            logits = dense(h, 10, "logits")
        loss = tf1.losses.sparse_softmax_cross_entropy(labels, logits)
        train_op = tf1.train.AdamOptimizer(1e-3).minimize(loss, global_step=global_step)
    steps, warm, mark, last = args.steps, max(1, args.steps // 10), None, None
    config = tf1.ConfigProto(device_filters=["/job:ps", f"/job:worker/task:{index}"])
    with tf1.train.MonitoredTrainingSession(master=server.target, is_chief=index == 0, config=config,
                                            hooks=[tf1.train.StopAtStepHook(last_step=steps)],
                                            save_checkpoint_secs=None, save_summaries_steps=None,
                                            log_step_count_steps=None) as sess:
        while not sess.should_stop():
            _, gs = sess.run([train_op, global_step])
            if mark is None and gs >= warm:
                mark = (time.time(), gs)
            last = (time.time(), gs)
    if index == 0:
        rate = (last[1] - mark[1]) / (last[0] - mark[0]) if mark and last and last[0] > mark[0] else float("nan")
        print(json.dumps({"global_steps_per_sec": rate}), flush=True)


def run_tf(args, workdir):
    ports = free_ports(args.ps + args.workers + 1)
    cluster = {"ps": [f"127.0.0.1:{p}" for p in ports[:args.ps]],
               "worker": [f"127.0.0.1:{p}" for p in ports[args.ps:]]}
    common = [sys.executable, os.path.abspath(__file__), "--steps", str(args.steps), "--data", args.data,
              "--cluster", json.dumps(cluster)]
    return run_tf_tasks(common, cluster, workdir, "tf_cluster_peer")["global_steps_per_sec"]


def run_psflow(args, workdir):
    import numpy as np
    model_dir = os.path.join(workdir, "psflow_model")
    shutil.rmtree(model_dir, ignore_errors=True)
    ports = free_ports(args.ps + args.workers + 1)
    addr = [f"127.0.0.1:{p}" for p in ports]
    cmd = [os.path.join(args.build_dir, "launch", "psflow-launch"), os.path.join(ROOT, "configs", "fashion_mnist.yaml"),
           "--set", f"cluster.ps={json.dumps(addr[:args.ps])}", "--set", f"cluster.chief={json.dumps(addr[args.ps:args.ps + 1])}",
           "--set", f"cluster.worker={json.dumps(addr[args.ps + 1:])}", "--set", "cluster.evaluator=[]",
           "--set", f"run.model_dir={model_dir}", "--set", f"run.train_steps={args.steps}",
           "--set", "run.save_checkpoints_secs=100000", "--set", "run.log_step_count_steps=100",
           "--set", f"data.train.images={args.data}/train-images-idx3-ubyte.gz",
           "--set", f"data.train.labels={args.data}/train-labels-idx1-ubyte.gz"]
    for s in args.set or []:
        cmd += ["--set", s]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"tf_cluster_peer: psflow-launch failed ({res.returncode}):\n{res.stderr[-3000:]}")
    pts = []
    for line in open(os.path.join(model_dir, "logs", "chief-0.log")):
        m = re.search(r"step = (\d+) \(global_step/sec: ([0-9.]+)", line)
        if m and int(m.group(1)) >= args.steps // 10:
            pts.append(float(m.group(2)))
    return float(np.median(pts)) if pts else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--steps", type=int, default=3000, help="global steps of each job")
    ap.add_argument("--ps", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1, help="workers beside the chief")
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--workdir")
    ap.add_argument("--only", choices=["psflow", "tensorflow"], help="run one side alone")
    ap.add_argument("--set", action="append", help="KEY=VALUE for the psflow job (repeatable), e.g. run.intra_op_threads=1")
    ap.add_argument("--task")      # one TensorFlow task (internal)
    ap.add_argument("--cluster")
    args = ap.parse_args()
    if args.task:
        return tf_task(args)
    workdir = args.workdir or tempfile.mkdtemp(prefix="psflow_cluster_bench_")
    ours = run_psflow(args, workdir) if args.only != "tensorflow" else None
    theirs = run_tf(args, workdir) if args.only != "psflow" else None
    print(f"tf_cluster_peer: dnn_classifier [256, 128], Adam, batch 128, {args.ps} PS + {args.workers + 1} trainers "
          f"(async), {args.steps} global steps, {os.cpu_count()} cores")
    if ours is not None:
        print(f"  psflow      {ours * 128:9.0f} examples/s  ({ours:.1f} global steps/s)")
    if theirs is not None:
        import tensorflow as tf
        print(f"  TensorFlow  {theirs * 128:9.0f} examples/s  ({theirs:.1f} global steps/s, TensorFlow {tf.__version__})")
    if ours is not None and theirs is not None:
        print(f"  ratio psflow / TensorFlow {ours / theirs:.2f}")
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
