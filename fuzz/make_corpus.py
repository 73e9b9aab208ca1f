#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets, fuzz/corpus/<target>/, from
real files of the tree (checkpoints and graphs TensorFlow wrote, the job
files, the TFRecord test data) and from frames as psflow's tasks send them.

  python3 fuzz/make_corpus.py            # rewrites fuzz/corpus/

Multi-file inputs use fuzz_util.h's layout: each part but the last is a
4-byte little-endian length and its bytes."""
import gzip
import json
import os
import shutil
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import hostile_peer as wire  # noqa: E402  (psflow's frame layout, by hand)

OUT = os.path.join(ROOT, "fuzz", "corpus")
TESTDATA = os.path.join(ROOT, "tests", "testdata", "tf")


def parts(*chunks):
    out = b""
    for c in chunks[:-1]:
        out += struct.pack("<I", len(c)) + c
    return out + chunks[-1]


def read(*path):
    with open(os.path.join(*path), "rb") as f:
        return f.read()


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


DT_FLOAT, DT_INT64 = 1, 9


def tensor_frame(method, body=b"", tensors=(), request_id=1, task="worker:0"):
    """A request frame with raw tensors (dtype, dims, bytes), each padded to 64."""
    metas, payload = [], b""
    for dtype, dims, data in tensors:
        metas.append(wire.tensor_meta("", dtype, dims, len(payload), len(data)))
        payload += data + b"\0" * (-len(data) % 64)
    return wire.frame(wire.header(method, task=task, request_id=request_id, body=body, tensors=metas), payload)


def floats(n, v=0.5):
    return struct.pack(f"<{n}f", *([v] * n))


def int64s(*vs):
    return struct.pack(f"<{len(vs)}q", *vs)


def packed_bools(num, *bs):
    return wire.field(num, 2, bytes(int(b) for b in bs))


def ps_requests():
    f = wire.field
    init = f(1, 2, b"dense/kernel") + f(1, 2, b"emb")
    yield "initialize", tensor_frame("Initialize", init, [(DT_FLOAT, [4, 3], floats(12)), (DT_FLOAT, [10, 2], floats(20))])
    yield "pull", tensor_frame("Pull", f(1, 2, b"dense/kernel"))
    yield "pull_rows", tensor_frame("Pull", f(2, 2, b"emb") + packed_bools(3, False) + f(4, 0, 3),
                                    [(DT_INT64, [3], int64s(1, 7, 1))])
    yield "push_dense", tensor_frame("Push", f(1, 2, b"dense/kernel") + packed_bools(2, False) + f(3, 0, 0) + f(4, 0, 1),
                                     [(DT_FLOAT, [4, 3], floats(12, 0.1))])
    yield "push_rows", tensor_frame("Push", f(1, 2, b"emb") + packed_bools(2, True) + f(3, 0, 0),
                                    [(DT_FLOAT, [2, 2], floats(4, 0.1)), (DT_INT64, [2], int64s(3, 9))])
    yield "save", tensor_frame("Save", f(1, 2, b"model.ckpt-1") + f(2, 0, 0) + f(3, 0, 1))
    yield "restore", tensor_frame("Restore", f(1, 2, b"model.ckpt-1") + f(2, 0, 1))
    yield "status", tensor_frame("Status")
    yield "set_ready", tensor_frame("SetReady")
    yield "request_stop", tensor_frame("RequestStop")


def idx(dtype_code, dims, data):
    return b"\0\0" + bytes([dtype_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    # Frames: a Hello, requests, a response with an error.
    write("frame_fuzz", "hello", wire.frame(wire.header("_Hello", proof=b"p" * 32, request_id=0)))
    for name, fr in ps_requests():
        write("frame_fuzz", name, fr)
        write("ps_request_fuzz", name, fr)
    write("frame_fuzz", "error_answer", wire.frame(wire.header("Pull") + wire.field(3, 0, 1) + wire.field(4, 0, 5)
                                                   + wire.field(5, 2, b"variable w not found")))
    # Checkpoints TensorFlow wrote (one data shard each).
    for name, prefix in (("v1_saver", "v1_saver/model.ckpt-42"), ("tf2_object", "tf2_object/ckpt-1"),
                         ("dnn", "graphs/dnn/model.ckpt-1"), ("cnn", "graphs/cnn/model.ckpt-1")):
        write("bundle_fuzz", name, parts(read(TESTDATA, prefix + ".index"),
                                         read(TESTDATA, prefix + ".data-00000-of-00001")))
    # Regression: a footer whose index handle claims 1 TiB (LevelDB allocated it).
    index = bytearray(read(TESTDATA, "v1_saver/model.ckpt-42.index"))
    footer = index[-48:-8]
    fields, i = [], 0
    for _ in range(4):
        v, i = wire.read_varint(bytes(footer), i)
        fields.append(v)
    lying = b"".join(wire.varint(v) for v in fields[:3] + [1 << 40])
    index[-48:-8] = lying + b"\0" * (40 - len(lying))
    write("bundle_fuzz", "regress_huge_index_handle", parts(bytes(index), read(TESTDATA, "v1_saver/model.ckpt-42.data-00000-of-00001")))
    for name in ("v1_saver", "v1_sharded", "tf2_object"):
        write("checkpoint_state_fuzz", name, read(TESTDATA, name, "checkpoint"))
    # Job files, with and without --set overrides.
    for name in sorted(os.listdir(os.path.join(ROOT, "configs"))):
        if name.endswith(".yaml"):
            text = read(ROOT, "configs", name)
            write("job_config_fuzz", name, parts(text, b""))
            write("job_config_fuzz", name + ".set", parts(text, b"run.train_steps=5\nmodel.hidden_units=[8, 4]\n"))
    # Regression: a key that is a list (yaml-cpp threw out of the loader).
    write("job_config_fuzz", "regress_list_key", parts(b"cluster: {[ps, chief]: 1}\nmodel:\n  feature_columns:\n    {a: 1}: x\n", b""))
    cluster = {"ps": ["127.0.0.1:2222"], "chief": ["127.0.0.1:2223"]}
    for i, task in enumerate(({"type": "ps", "index": 0}, {"type": "chief", "index": 0},
                              {"type": "worker", "index": 1}, {"type": "evaluator", "index": 0})):
        write("tf_config_fuzz", f"tf_config_{i}", json.dumps({"cluster": cluster, "task": task}).encode())
    # Data files: IDX (raw and gzip), CSV, TFRecord.
    images = idx(0x08, [2, 3, 3], bytes(range(18)))
    labels = idx(0x08, [2], b"\x01\x07")
    write("idx_fuzz", "images", images)
    write("idx_fuzz", "labels", labels)
    write("idx_fuzz", "images.gz", gzip.compress(images, mtime=0))
    # Regressions: dimensions whose product overflows; 512 MiB declared in a short file.
    write("idx_fuzz", "regress_overflowing_dims", b"\0\0\x08\x04" + b"\xff" * 16)
    write("idx_fuzz", "regress_lying_size", idx(0x08, [0x2000, 0x10000], b"\0" * 10))
    write("csv_fuzz", "rows", b"x,label,tag\n0.5,1,a\n-2e3,0,\n1,7,b\n")
    write("csv_fuzz", "quoted", b"x,label,tag\n\"1.5\",2,\"x,y\"\n")
    write("tfrecord_fuzz", "varlen", read(TESTDATA, "varlen", "examples.tfrecord"))
    # Graphs TensorFlow wrote.
    for kind in ("dnn", "cnn"):
        write("graph_import_fuzz", f"{kind}.meta", read(TESTDATA, "graphs", kind, "model.ckpt-1.meta"))
        write("graph_import_fuzz", f"{kind}_frozen.pb", read(TESTDATA, "graphs", kind, "frozen.pb"))
    total = sum(len(fs) for _, _, fs in os.walk(OUT))
    print(f"{total} seed files under {os.path.relpath(OUT, ROOT)}")


if __name__ == "__main__":
    main()
