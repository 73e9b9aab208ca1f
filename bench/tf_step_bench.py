#!/usr/bin/env python3
"""CPU training steps: psflow's step_bench beside TensorFlow, same machine, same run.

  .venv/bin/python bench/tf_step_bench.py --build-dir build [--steps 200] [--cnn-steps 20] [--threads 0]

Runs build/bench/step_bench (dnn and cnn), then the same two models in
TensorFlow CPU (tensorflow-cpu from .venv, test-only), one after the other so
that neither competes with the other for the cores:

  dnn  784-256-128-10, ReLU, sparse softmax cross-entropy, Adam 1e-3
  cnn  conv 5x5x32 SAME relu, max-pool 2, conv 5x5x64 SAME relu, max-pool 2,
       dense 1024 relu, dropout 0.4, dense 10; Adam 1e-3 (cnn_classifier)

both batch 128 of random inputs.  TensorFlow runs each step as one
tf.function (graph mode, its oneDNN CPU kernels, Grappler's fusions) with
ResourceApplyAdam, the kernel its Adam optimizer runs, and the intra-op
threads given (0: TensorFlow's default, one per core).  Prints each step's
time and examples/s and the ratio psflow / TensorFlow in examples/s (target
>= 1.2).  A benchmark, not a test: figures only.
"""
import argparse
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def psflow_steps(build_dir, model, steps, threads):
    exe = os.path.join(build_dir, "bench", "step_bench")
    out = subprocess.run([exe, "--model", model, "--steps", str(steps), "--threads", str(threads)],
                         check=True, capture_output=True, text=True).stdout
    sys.stdout.write(out)
    m = re.search(r"psflow training step\s+([0-9.]+) ms", out)
    if not m:
        raise SystemExit("step_bench printed no step time:\n" + out)
    return float(m.group(1)) / 1e3


def tf_step(model, batch, steps, threads):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf
    if threads > 0:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    rng = np.random.default_rng(3)

    def glorot(shape):
        fan_in = int(np.prod(shape[:-1]))
        fan_out = int(shape[-1]) * (int(np.prod(shape[:-2])) if len(shape) == 4 else 1)
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return tf.Variable(rng.uniform(-limit, limit, shape).astype(np.float32))

    params = []
    if model == "dnn":
        x = tf.constant(rng.uniform(0, 1, (batch, 784)).astype(np.float32))
        dims = [784, 256, 128, 10]
        for i in range(3):
            params += [glorot((dims[i], dims[i + 1])), tf.Variable(tf.zeros([dims[i + 1]]))]

        def forward(xb):
            h = xb
            for i in range(3):
                h = tf.nn.bias_add(tf.matmul(h, params[2 * i]), params[2 * i + 1])
                if i < 2:
                    h = tf.nn.relu(h)
            return h
    else:
        x = tf.constant(rng.uniform(0, 1, (batch, 28, 28, 1)).astype(np.float32))
        params = [glorot((5, 5, 1, 32)), tf.Variable(tf.zeros([32])),
                  glorot((5, 5, 32, 64)), tf.Variable(tf.zeros([64])),
                  glorot((7 * 7 * 64, 1024)), tf.Variable(tf.zeros([1024])),
                  glorot((1024, 10)), tf.Variable(tf.zeros([10]))]

        def forward(xb):
            h = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(xb, params[0], 1, "SAME"), params[1]))
            h = tf.nn.max_pool2d(h, 2, 2, "VALID")
            h = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(h, params[2], 1, "SAME"), params[3]))
            h = tf.nn.max_pool2d(h, 2, 2, "VALID")
            h = tf.reshape(h, [-1, 7 * 7 * 64])
            h = tf.nn.relu(tf.nn.bias_add(tf.matmul(h, params[4]), params[5]))
            h = tf.nn.dropout(h, rate=0.4)
            return tf.nn.bias_add(tf.matmul(h, params[6]), params[7])
    y = tf.constant(rng.integers(0, 10, batch).astype(np.int32))
    ms = [tf.Variable(tf.zeros_like(p)) for p in params]
    vs = [tf.Variable(tf.zeros_like(p)) for p in params]
    t = tf.Variable(0.0)
    lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-7

    @tf.function
    def step(xb, yb):
        with tf.GradientTape() as tape:
            logits = forward(xb)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=yb, logits=logits))
        grads = tape.gradient(loss, params)
        t.assign_add(1.0)
        b1p, b2p = tf.pow(b1, t), tf.pow(b2, t)
        for p, m, v, g in zip(params, ms, vs, grads):
            tf.raw_ops.ResourceApplyAdam(var=p.handle, m=m.handle, v=v.handle, beta1_power=b1p, beta2_power=b2p,
                                         lr=lr, beta1=b1, beta2=b2, epsilon=eps, grad=g)
        return loss

    for _ in range(max(3, steps // 10)):
        step(x, y)
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step(x, y)
    loss.numpy()
    return (time.perf_counter() - t0) / steps, tf.__version__


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--steps", type=int, default=200, help="dnn steps timed")
    ap.add_argument("--cnn-steps", type=int, default=20, help="cnn steps timed")
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads for both (0: one per core)")
    ap.add_argument("--models", default="dnn,cnn")
    a = ap.parse_args()
    batch = 128
    rows = []
    for model in a.models.split(","):
        steps = a.steps if model == "dnn" else a.cnn_steps
        ours = psflow_steps(a.build_dir, model, steps, a.threads)
        theirs, version = tf_step(model, batch, steps, a.threads)
        rows.append((model, ours, theirs, version))
    print()
    print(f"{'model':6} {'psflow ms':>10} {'ex/s':>9} {'TF ms':>9} {'ex/s':>9} {'psflow/TF':>10}   (TensorFlow {rows[0][3]}, "
          f"{os.cpu_count()} cores, batch {batch})")
    for model, ours, theirs, _ in rows:
        print(f"{model:6} {ours * 1e3:10.2f} {batch / ours:9.0f} {theirs * 1e3:9.2f} {batch / theirs:9.0f} "
              f"{theirs / ours:10.2f}   (target >= 1.2)")


if __name__ == "__main__":
    main()
