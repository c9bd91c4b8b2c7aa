#!/usr/bin/env python3
"""Writes fuzz/corpus/TARGET/* seeds: valid messages of every kind
(docs/protocol.md), a few broken ones, metadata files and journal text.
Run from the repository root; the output is committed, so the fuzzers start
from every operation's shape. A minimal msgpack encoder keeps it free of
dependencies."""
import hashlib
import os
import struct


def pack(v):
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        if 0 <= v < 2**32:
            return b"\xce" + struct.pack(">I", v)
        return b"\xcf" + struct.pack(">Q", v)
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        if len(v) < 32:
            return bytes([0xA0 | len(v)]) + v
        return b"\xd9" + bytes([len(v)]) + v if len(v) < 256 else b"\xda" + struct.pack(">H", len(v)) + v
    if isinstance(v, list):
        return bytes([0x90 | len(v)]) + b"".join(pack(x) for x in v)
    if isinstance(v, dict):
        return bytes([0x80 | len(v)]) + b"".join(pack(k) + pack(x) for k, x in v.items())
    raise TypeError(v)


SHA = hashlib.sha256(b"hello depot\n").hexdigest()
FILE = {"id": "rbWeBrTIp1Js", "name": "hello.txt", "size": 12, "sha256": SHA,
        "mime": "text/plain", "created": 1700000000000, "refs": 1}
TOKEN = "4e10eef2e376c47519d5abfb2e12223b"

requests = {
    "ping": [{"op": "ping", "rid": 1}],
    "upload": [{"op": "upload", "rid": 2, "name": "hello.txt", "size": 12, "sha256": SHA, "mime": "text/plain"},
               {"op": "upload", "rid": 3, "name": "x"}],
    "chunk": [({"op": "chunk", "rid": 4, "upload": TOKEN, "seq": 0, "last": True}, b"hello depot\n")],
    "status": [{"op": "upload_status", "rid": 5, "upload": TOKEN}],
    "abort": [{"op": "abort", "rid": 6, "upload": TOKEN}],
    "download": [{"op": "download", "rid": 7, "file": "rbWeBrTIp1Js", "offset": 0, "length": 65536},
                 {"op": "download", "rid": 12, "file": "rbWeBrTIp1Js", "length": 65536, "meta": True}],
    "stat": [{"op": "stat", "rid": 8, "file": "rbWeBrTIp1Js"}],
    "delete": [{"op": "delete", "rid": 9, "file": "rbWeBrTIp1Js"}],
    "list": [{"op": "list", "rid": 10, "after": "rbWeBrTIp1Js", "limit": 100}, {"op": "list"}],
    "bad": [{"op": "ping", "v": 2}, {"op": "nope", "rid": 11}, [1, 2, 3]],
}
replies = [
    ("ping", {"rid": 1, "ok": True, "version": 1, "server": "depotd/0.1.0", "chunk_max": 1048576}),
    ("upload", {"rid": 2, "ok": True, "upload": TOKEN, "chunk_max": 1048576, "window": 16}),
    ("chunk", {"rid": 4, "ok": True, "upload": TOKEN, "seq": 0, "received": 12}),
    ("chunk", {"rid": 4, "ok": True, "upload": TOKEN, "seq": 0, "received": 12, "file": FILE, "dedup": False}),
    ("upload_status", {"rid": 5, "ok": True, "upload": TOKEN, "next": 1, "received": 12, "file": FILE}),
    ("abort", {"rid": 6, "ok": True}),
    ("stat", {"rid": 8, "ok": True, "file": FILE}),
    ("download", ({"rid": 7, "ok": True, "file": "rbWeBrTIp1Js", "offset": 0, "size": 12, "eof": True}, b"hello depot\n")),
    ("list", {"rid": 10, "ok": True, "files": [FILE, FILE], "next": "rbWeBrTIp1Js"}),
    ("list", {"rid": 10, "ok": True, "files": [], "next": None}),
    ("delete", {"rid": 9, "ok": True, "refs": 0}),
    ("stat", {"rid": 8, "ok": False, "error": "not_found", "message": "no file rbWeBrTIp1Js"}),
    ("chunk", {"rid": 4, "ok": False, "error": "out_of_order", "message": "ahead", "next": 3}),
    ("download", ({"rid": 12, "ok": True, "file": "rbWeBrTIp1Js", "offset": 0, "size": 12, "eof": True,
                   "meta": FILE}, b"hello depot\n")),
]
OPS = ["ping", "upload", "chunk", "upload_status", "abort", "stat", "download", "list", "delete", "no_such_op"]


def write(target, name, data):
    d = os.path.join("fuzz", "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def frames(m):
    if isinstance(m, tuple):
        return pack(m[0]) + b"\n--\n" + m[1]
    return pack(m)


for kind, msgs in requests.items():
    for i, m in enumerate(msgs):
        write("request_decoder", f"{kind}-{i}", frames(m))
for i, (op, m) in enumerate(replies):
    write("reply_decoder", f"{op}-{i}", bytes([OPS.index(op)]) + frames(m))
meta = {"v": 1, "name": "hello.txt", "size": 12, "sha256": SHA, "mime": "text/plain",
        "created": 1700000000000, "gen": "7f3a"}
write("meta_parser", "meta-0", pack(meta))
write("meta_parser", "meta-truncated", pack(meta)[:40])
write("journal_parser", "journal-0", b"B 1 rbWeBrTIp1Js rbWeBrTIp1Js.r.7f3a.x\nE 1\nB 2 XrjTm2wUB8Qg -\n")
write("journal_parser", "journal-torn", b"B 1 rbWeBrTIp1Js r\nB 2 XrjTm2wU")
# CURVE certificates: as pyzmq writes them (unquoted metadata), as depot
# keygen writes them, and a public one. Fixed keys (a real pair) so that
# the corpus stays the same from run to run.
PUB = "l4GLw)2&#is.L?$B6(QghaX*uId.HrQ][Q7chL}<"
SEC = "}SLbgQYu%6x3PL!:?9r087%0%YK]=$4ipu9<khZV"
write("certificate_parser", "pyzmq-secret",
      ("#   ****  Generated on 2026-11-29 by pyzmq  ****\n"
       "#   ZeroMQ CURVE **Secret** Certificate\n\n"
       "metadata\n    role = read\ncurve\n"
       f'    public-key = "{PUB}"\n    secret-key = "{SEC}"\n').encode())
write("certificate_parser", "depot-public",
      ("#   ZeroMQ CURVE Public Certificate\n\nmetadata\n"
       f'    name = "alice"\n    role = \'write\'\ncurve\n    public-key = "{PUB}"\n').encode())
write("certificate_parser", "nested",
      ("context\n    iothreads = 1\n    verbose = 1 # comment\n        deeper = 'x'\n"
       f'curve\n    public-key = "{PUB}"\r\n').encode())
