#!/usr/bin/env python3
"""A hostile or broken peer of a psflow task, for tests: it speaks psflow's
wire format (common/rpc/frame.h) by hand and sends what a careless client or
an attacker would.

  hostile_peer.py HOST:PORT [--token T] [--tls DIR] ATTACK [ARGS]

--tls DIR: speak TLS with DIR/ca.pem, cert.pem and key.pem
(scripts/make_certs.sh), as a task with run.tls does.

Attacks (each exits 0 when the server answered as it should, 1 otherwise,
and prints what it saw):
  string2e40           a Push whose header claims a string tensor of 2^40
                       elements in a 64-byte payload
  init_overflow        Initialize a float tensor of shape [2^62] with 0 bytes,
                       then Push to it: both must be refused with an error
  hold N SECS          N connections that each send the 20 bytes of a frame
                       announcing a 16 MiB header and a 4 GiB payload, and
                       then nothing for SECS seconds (after a valid Hello when
                       a token is given, so that they are authenticated)

Every connection first reads the server's _Challenge (a nonce); a valid
Hello proves the token with HMAC-SHA256 over it (common/rpc/auth.h).
  truncated            a frame cut short in its header, then a close
  status               a valid Status call: exits 0 when answered
  huge_length          a frame announcing a 2 GiB header: must be closed
  wrong_version        a frame of wire version 2 (the token in clear): must
                       be closed
  unknown_method       a call of a method no PS has: must be answered with an
                       error naming it
  plaintext            a Hello sent in clear to a task that has run.tls:
                       must be closed
  stale_incarnation    worker:7 calls Status, then a new incarnation of it
                       does, then the old one again: the last must be refused
"""
import hashlib
import hmac
import socket
import ssl
import struct
import sys
import time

DT_FLOAT, DT_INT64, DT_STRING = 1, 9, 7
WIRE_VERSION = 3  # kFrameVersion


def varint(v):
    out = b""
    while v >= 0x80:
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7
    return out + bytes([v])


def field(num, wire, payload):
    tag = varint(num << 3 | wire)
    if wire == 0:
        return tag + varint(payload)
    return tag + varint(len(payload)) + payload


def tensor_meta(name, dtype, dims, offset, size):
    shape = b"".join(field(2, 2, field(1, 0, d)) for d in dims)  # TensorShapeProto.dim { size }
    return (field(1, 2, name.encode()) + field(2, 0, dtype) + field(3, 2, shape) + field(4, 0, offset)
            + field(5, 0, size))


def header(method, proof=b"", task="intruder:0", request_id=1, body=b"", tensors=(), incarnation=0):
    h = field(1, 0, request_id) + field(2, 2, method.encode()) + field(7, 2, task.encode())
    if incarnation:
        h += field(6, 0, incarnation)
    if body:
        h += field(9, 2, body)
    for t in tensors:
        h += field(10, 2, t)
    if proof:
        h += field(13, 2, proof)
    return h


def hello(token, nonce, task="intruder:0", incarnation=0):
    """The _Hello that proves `token` over this connection's nonce."""
    proof = b""
    if token:
        msg = b"psflow-hello-v3\0" + nonce + task.encode() + b"\0" + str(incarnation).encode()
        proof = hmac.new(token.encode(), msg, hashlib.sha256).digest()
    return frame(header("_Hello", proof=proof, task=task, request_id=0, incarnation=incarnation))


def frame(hdr, payload=b"", header_len=None, payload_len=None):
    hl = len(hdr) if header_len is None else header_len
    pl = len(payload) if payload_len is None else payload_len
    return b"PSFL" + struct.pack("<HHIQ", WIRE_VERSION, 0, hl, pl) + hdr + payload


TLS = None  # an ssl.SSLContext with --tls


def connect(addr):
    """A connection and the nonce of the server's opening _Challenge."""
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    if TLS is not None:
        s = TLS.wrap_socket(s, server_hostname=host)
    r = read_frame(s)
    if r is None or r[2] != "_Challenge":
        raise SystemExit(f"{addr} did not open with a _Challenge frame: {r}")
    return s, r[3]


def read_frame(s):
    """The next frame's (status_code, status_message, method, nonce), or None
    when closed."""
    def exactly(n):
        buf = b""
        while len(buf) < n:
            try:
                chunk = s.recv(n - len(buf))
            except (ConnectionResetError, socket.timeout):
                return None
            if not chunk:
                return None
            buf += chunk
        return buf
    fixed = exactly(20)
    if fixed is None:
        return None
    hl, pl = struct.unpack("<IQ", fixed[8:20])
    hdr = exactly(hl)
    if hdr is None or (pl and exactly(pl) is None):
        return None
    code, msg, method, nonce, i = 0, "", "", b"", 0
    while i < len(hdr):  # enough protobuf decoding for fields 2, 4, 5 and 12
        key, i = read_varint(hdr, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = read_varint(hdr, i)
            if num == 4:
                code = v
        elif wire == 2:
            n, i = read_varint(hdr, i)
            if num == 5:
                msg = hdr[i:i + n].decode(errors="replace")
            elif num == 2:
                method = hdr[i:i + n].decode(errors="replace")
            elif num == 12:
                nonce = hdr[i:i + n]
            i += n
        else:
            break
    return code, msg, method, nonce


def read_varint(b, i):
    r, shift = 0, 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << shift
        if not c & 0x80:
            return r, i
        shift += 7


def closed_by_server(s):
    """Whether the server closes `s` within 10 s (what it sends first, a TLS
    alert say, is read and dropped)."""
    s.settimeout(10)
    try:
        for _ in range(64):
            if s.recv(4096) == b"":
                return True
        return False
    except (ConnectionResetError, ssl.SSLError):
        return True
    except socket.timeout:
        return False


def report_closed(s):
    """Exit status 0 when the server closes `s` (printed either way)."""
    ok = closed_by_server(s)
    print("closed by the server" if ok else "not closed")
    return 0 if ok else 1


def main(argv):
    global TLS
    addr, args, token = argv[1], argv[2:], ""
    if args[:1] == ["--token"]:
        token, args = args[1], args[2:]
    if args[:1] == ["--tls"]:
        d = args[1]
        args = args[2:]
        TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        TLS.load_verify_locations(d + "/ca.pem")
        TLS.load_cert_chain(d + "/cert.pem", d + "/key.pem")
    attack = args[0]
    if attack == "plaintext":
        host, port = addr.rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=10)
        s.sendall(hello(token, b"\0" * 32))
        return report_closed(s)
    if attack == "string2e40":
        meta = tensor_meta("g", DT_STRING, [1 << 40], 0, 64)
        body = field(1, 2, b"w")  # PushRequest.names
        s, nonce = connect(addr)
        if token:
            s.sendall(hello(token, nonce))
        s.sendall(frame(header("Push", body=body, tensors=[meta]), b"\0" * 64))
        return report_closed(s)
    if attack == "init_overflow":
        s, nonce = connect(addr)
        s.sendall(hello(token, nonce))
        init = field(1, 2, b"huge")  # InitializeRequest.names
        s.sendall(frame(header("Initialize", request_id=1, body=init,
                               tensors=[tensor_meta("huge", DT_FLOAT, [1 << 62], 0, 0)])))
        r1 = read_frame(s)
        push = field(1, 2, b"huge") + field(3, 0, 0)
        s2, nonce2 = connect(addr)
        s2.sendall(hello(token, nonce2))
        s2.sendall(frame(header("Push", request_id=2, body=push,
                                tensors=[tensor_meta("huge", DT_FLOAT, [1 << 62], 0, 0)])))
        r2 = read_frame(s2)
        print("Initialize:", r1 if r1 else "connection closed", "| Push:", r2 if r2 else "connection closed")
        # Refused either way: an error answer, or the connection closed as a bad frame.
        return 0 if (r1 is None or r1[0] != 0) and (r2 is None or r2[0] != 0) else 1
    if attack == "hold":
        n, secs = int(args[1]), float(args[2])
        conns = []
        for _ in range(n):
            s, nonce = connect(addr)
            if token:
                s.sendall(hello(token, nonce))
            s.sendall(b"PSFL" + struct.pack("<HHIQ", WIRE_VERSION, 0, 16 << 20, 4 << 30))
            conns.append(s)
        print(f"holding {n} connections for {secs} s", flush=True)
        time.sleep(secs)
        return 0
    if attack == "truncated":
        s, nonce = connect(addr)
        if token:
            s.sendall(hello(token, nonce))
        h = header("Status", request_id=5)
        s.sendall(frame(h)[:20 + len(h) // 2])
        s.close()
        return 0
    if attack == "status":
        s, nonce = connect(addr)
        s.sendall(hello(token, nonce))
        s.sendall(frame(header("Status", request_id=9)))
        r = read_frame(s)
        print("Status:", r if r is not None else "connection closed")
        return 0 if r is not None and r[0] == 0 else 1
    if attack in ("huge_length", "wrong_version"):
        s, nonce = connect(addr)
        s.sendall(hello(token, nonce))
        if attack == "huge_length":
            s.sendall(b"PSFL" + struct.pack("<HHIQ", WIRE_VERSION, 0, 0x7FFFFFFF, 0))
        else:
            h = header("Status", request_id=3)
            s.sendall(b"PSFL" + struct.pack("<HHIQ", 2, 0, len(h), 0) + h)
        return report_closed(s)
    if attack == "unknown_method":
        s, nonce = connect(addr)
        s.sendall(hello(token, nonce))
        s.sendall(frame(header("Frobnicate", request_id=4)))
        r = read_frame(s)
        print("Frobnicate:", r)
        return 0 if r is not None and r[0] != 0 and "Frobnicate" in r[1] else 1
    if attack == "stale_incarnation":
        # worker:7 restarts (a new incarnation id); its old process, still
        # alive, must be refused.
        def status_as(incarnation):
            s, nonce = connect(addr)
            s.sendall(hello(token, nonce, task="worker:7", incarnation=incarnation))
            s.sendall(frame(header("Status", task="worker:7", request_id=6, incarnation=incarnation)))
            return s, read_frame(s)
        old, r1 = status_as(1001)
        _, r2 = status_as(1002)
        old.sendall(frame(header("Status", task="worker:7", request_id=7, incarnation=1001)))
        r3 = read_frame(old)
        print("old:", r1, "| new:", r2, "| old again:", r3)
        return 0 if r1 and r1[0] == 0 and r2 and r2[0] == 0 and r3 and r3[0] != 0 else 1
    print("unknown attack", attack, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
