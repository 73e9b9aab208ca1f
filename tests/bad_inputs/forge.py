#!/usr/bin/env python3
"""Forges what the catalogue of bad inputs needs and no tool writes: a
checkpoint whose .index says it was written by a newer format.

  forge.py newer_bundle PREFIX.index MIN_CONSUMER

The .index is a LevelDB-format table: the header entry (key "") sits in the
first data block; its BundleHeaderProto.version gets min_consumer =
MIN_CONSUMER and the block's masked CRC32C is recomputed, so the file is
valid in every other way and only the version refuses it.
"""
import struct
import sys


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def masked(crc):
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return v, i


def newer_bundle(path, min_consumer):
    data = bytearray(open(path, "rb").read())
    footer = data[-48:]
    _, i = varint(footer, 0)  # metaindex offset
    _, i = varint(footer, i)  # metaindex size
    index_off, i = varint(footer, i)
    index_size, i = varint(footer, i)
    index = data[index_off:index_off + index_size]
    shared, j = varint(index, 0)
    nonshared, j = varint(index, j)
    vlen, j = varint(index, j)
    handle = index[j + nonshared:j + nonshared + vlen]
    off, k = varint(handle, 0)
    size, _ = varint(handle, k)
    block = data[off:off + size]
    old = b"\x1a\x02\x08\x01"  # version { producer: 1 }
    at = block.find(old)
    if at < 0 or data[off + size] != 0:
        raise SystemExit(f"{path}: no uncompressed header block with version {{producer: 1}}")
    new = b"\x1a\x02\x10" + bytes([min_consumer])  # version { min_consumer: N }
    data[off + at:off + at + 4] = new
    crc = masked(crc32c(bytes(data[off:off + size + 1])))
    data[off + size + 1:off + size + 5] = struct.pack("<I", crc)
    open(path, "wb").write(data)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "newer_bundle":
        raise SystemExit(__doc__)
    newer_bundle(sys.argv[2], int(sys.argv[3]))
