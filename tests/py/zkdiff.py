"""Shared helpers of the differential kazoo scripts.

Each script runs a fixed sequence of operations against the server named by --hosts and prints
one JSON line per operation: its result (Stat fields, data, children, ACLs) or its error
(kazoo exception class and ZooKeeper code), plus the watch events received, in order. The Rust
test runs the same script against Apache ZooKeeper and against our server and compares the
lines after normalising zxids, session ids and times (tests/src/diff.rs).

Lines the normaliser needs:
  {"op": "session", "name": N, "id": SESSION_ID}   names a session id
  {"op": "base", "zxid": Z}                        the zxid all others are made relative to

kazoo 2.11 has no call for containers, TTL nodes, getEphemerals, getAllChildrenNumber, multiRead
or whoAmI; those are sent as extra request records through kazoo's own connection (below).
"""

import argparse
import json
import struct
import sys
import threading
import time
from collections import namedtuple

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, ZookeeperError
from kazoo.protocol.serialization import (
    Create2,
    ZnodeStat,
    int_struct,
    long_struct,
    multiheader_struct,
    read_buffer,
    read_string,
    stat_struct,
    write_buffer,
    write_string,
)
from kazoo.protocol.states import ZnodeStat as _ZS  # noqa: F401

EVENT_TIMEOUT = 5.0


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--hosts", required=True)
    return p.parse_args()


def emit(**kv):
    sys.stdout.write(json.dumps(kv, sort_keys=True) + "\n")
    sys.stdout.flush()


def stat_dict(st):
    return dict(st._asdict()) if st is not None else None


def data_value(b):
    if b is None:
        return None
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return {"hex": b.hex()}


def acl_list(acls):
    return sorted(
        ({"perms": a.perms, "scheme": a.id.scheme, "id": a.id.id} for a in acls),
        key=lambda a: (a["scheme"], a["id"], a["perms"]),
    )


def err_dict(e):
    d = {"err": type(e).__name__}
    code = getattr(e, "code", None)
    if isinstance(code, int):
        d["code"] = code
    return d


def convert(r):
    """Turns a kazoo result into JSON-able values, keeping every field."""
    if isinstance(r, ZnodeStat):
        return stat_dict(r)
    if isinstance(r, (bytes, bytearray)):
        return data_value(bytes(r))
    if isinstance(r, Exception):
        return err_dict(r)
    if isinstance(r, tuple) and len(r) == 2 and isinstance(r[1], ZnodeStat):
        first = r[0]
        if first is None:  # getData of null data
            return {"data": None, "stat": stat_dict(r[1])}
        if isinstance(first, (bytes, bytearray)):
            return {"data": data_value(bytes(first)), "stat": stat_dict(r[1])}
        if isinstance(first, list):
            if first and hasattr(first[0], "perms"):
                return {"acls": acl_list(first), "stat": stat_dict(r[1])}
            return {"children": sorted(first), "stat": stat_dict(r[1])}
        if isinstance(first, str):
            return {"path": first, "stat": stat_dict(r[1])}
    if isinstance(r, list):
        if r and all(isinstance(x, str) for x in r):
            return sorted(r)
        return [convert(x) for x in r]
    if isinstance(r, dict):
        return {k: convert(v) for k, v in r.items()}
    return r


def step(name, fn, *args, **kw):
    """Runs one operation and prints its result or error."""
    try:
        r = fn(*args, **kw)
    except (KazooException, ZookeeperError) as e:
        emit(step=name, **err_dict(e))
        return None
    emit(step=name, ok=convert(r))
    return r


class Session:
    """One kazoo client; watch callbacks append to an ordered event list."""

    def __init__(self, name, hosts, auth=None):
        self.name = name
        self.zk = KazooClient(hosts=hosts, timeout=10.0)
        self.zk.start(timeout=30)
        if auth:
            self.zk.add_auth("digest", auth)
        self.events = []
        self.cond = threading.Condition()
        emit(op="session", name=name, id=self.zk.client_id[0])

    def watcher(self, tag):
        def cb(ev):
            with self.cond:
                self.events.append(
                    {"tag": tag, "type": ev.type, "state": ev.state, "path": ev.path}
                )
                self.cond.notify_all()

        return cb

    def wait_events(self, n, timeout=EVENT_TIMEOUT):
        """Waits (bounded) until n events arrived; returns and clears them."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.events) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            got, self.events = self.events, []
        return got

    def emit_events(self, label, n, timeout=EVENT_TIMEOUT, ordered=True):
        """Prints the next n events; ordered=False sorts them, for events whose relative
        order ZooKeeper leaves open (the deletes of one closeSession walk a hash set)."""
        got = self.wait_events(n, timeout)
        if not ordered:
            got = sorted(got, key=lambda e: (e["path"] or "", e["type"] or ""))
        emit(step=label, events=got)

    def stop(self):
        self.zk.stop()
        self.zk.close()


def call(zk, request, timeout=10):
    """Sends a request record through kazoo's connection and waits for its reply."""
    ar = zk.handler.async_result()
    zk._call(request, ar)
    return ar.get(timeout=timeout)


def acl_bytes(acls):
    b = bytearray(int_struct.pack(len(acls)))
    for a in acls:
        b.extend(int_struct.pack(a.perms) + write_string(a.id.scheme) + write_string(a.id.id))
    return b


class CreateContainer(Create2):
    """create2 with opcode 19 (createContainer) and CreateMode.CONTAINER (flags 4)."""

    type = 19


class CreateTTL(namedtuple("CreateTTL", "path data acl flags ttl")):
    """CreateTTLRequest: path, data, acl, flags, ttl (opcode 21); reply as create2."""

    type = 21

    def serialize(self):
        b = bytearray()
        b.extend(write_string(self.path))
        b.extend(write_buffer(self.data))  # None: null data
        b.extend(acl_bytes(self.acl))
        b.extend(int_struct.pack(self.flags))
        b.extend(long_struct.pack(self.ttl))
        return b

    @classmethod
    def deserialize(cls, bytes_, offset):
        return Create2.deserialize(bytes_, offset)


def _read_strings(bytes_, offset):
    count = int_struct.unpack_from(bytes_, offset)[0]
    offset += int_struct.size
    out = []
    for _ in range(max(count, 0)):
        s, offset = read_string(bytes_, offset)
        out.append(s)
    return out, offset


class GetEphemerals(namedtuple("GetEphemerals", "prefix")):
    type = 103

    def serialize(self):
        return bytearray(write_string(self.prefix))

    @classmethod
    def deserialize(cls, bytes_, offset):
        return sorted(_read_strings(bytes_, offset)[0])


class GetAllChildrenNumber(namedtuple("GetAllChildrenNumber", "path")):
    type = 104

    def serialize(self):
        return bytearray(write_string(self.path))

    @classmethod
    def deserialize(cls, bytes_, offset):
        return int_struct.unpack_from(bytes_, offset)[0]


class WhoAmI(namedtuple("WhoAmI", "unused")):
    """whoAmI (opcode 107), empty body. The record has a field only because kazoo skips
    completing requests that are falsy, and an empty namedtuple is."""

    type = 107

    def serialize(self):
        return bytearray()

    @classmethod
    def deserialize(cls, bytes_, offset):
        count = int_struct.unpack_from(bytes_, offset)[0]
        offset += int_struct.size
        out = []
        for _ in range(max(count, 0)):
            scheme, offset = read_string(bytes_, offset)
            user, offset = read_string(bytes_, offset)
            out.append({"scheme": scheme, "user": user})
        return sorted(out, key=lambda x: (x["scheme"], x["user"]))


class MultiRead(namedtuple("MultiRead", "ops")):
    """multiRead (opcode 22): ops are ("get", path) or ("children", path)."""

    type = 22

    def serialize(self):
        b = bytearray()
        for kind, path in self.ops:
            t = 4 if kind == "get" else 8
            b.extend(multiheader_struct.pack(t, False, -1))
            b.extend(write_string(path))
            b.extend(b"\x00")  # watch = false
        b.extend(multiheader_struct.pack(-1, True, -1))
        return b

    @classmethod
    def deserialize(cls, bytes_, offset):
        out = []
        while True:
            t, done, err = multiheader_struct.unpack_from(bytes_, offset)
            offset += multiheader_struct.size
            if done:
                break
            if t == 4:
                data, offset = read_buffer(bytes_, offset)
                st = ZnodeStat._make(stat_struct.unpack_from(bytes_, offset))
                offset += stat_struct.size
                out.append({"type": t, "data": data_value(data), "stat": stat_dict(st)})
            elif t == 8:
                children, offset = _read_strings(bytes_, offset)
                out.append({"type": t, "children": sorted(children)})
            elif t == -1:
                code = int_struct.unpack_from(bytes_, offset)[0]
                offset += int_struct.size
                out.append({"type": t, "header_err": err, "code": code})
            else:
                out.append({"type": t, "unknown": True})
                break
        return out
