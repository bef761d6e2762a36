"""kazoo against a server in read-only mode whose ensemble runs with localSessionsEnabled=true
(and readonlymode.enabled=true): what a read-only client's session can do there, and what
becomes of it when the server has a quorum again.

  seed --server H --path P
      creates P with data "x" (with the quorum up).
  partitioned --server H --path P
      on H (read-only, its peers down): a client that did not ask for read-only (refused), a
      kazoo read_only=True session: connected, H's isro, the session's reads of P, a write
      and an ephemeral create (refused), mntr's session counts on H; then waits for the file
      named by --healed to exist (the test restarts the peers meanwhile) and reports whether
      the same client object can write through H, and whether it kept its session id.

One JSON line per step on stdout: {"step": name, ...}.
"""

import argparse
import json
import os
import socket
import sys
import time

from kazoo.client import KazooClient


def emit(**kv):
    sys.stdout.write(json.dumps(kv, sort_keys=True) + "\n")
    sys.stdout.flush()


def four(host, word):
    h, p = host.rsplit(":", 1)
    try:
        with socket.create_connection((h, int(p)), timeout=10) as s:
            s.sendall(word.encode())
            out = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                out += b
        return out.decode()
    except OSError as e:
        return type(e).__name__


def attempt(f):
    try:
        f()
        return "ok"
    except Exception as e:  # noqa: BLE001 - the outcome is what we report
        return type(e).__name__


def partitioned(server, path, healed, seconds):
    emit(step="isro", isro=four(server, "isro"))
    # Without read-only, no session is made on a read-only server.
    rw = KazooClient(hosts=server, timeout=4.0,
                     connection_retry={"max_tries": 2, "delay": 0.1, "max_delay": 0.2})
    emit(step="rw_client", outcome=attempt(lambda: rw.start(timeout=5)))
    try:
        rw.stop()
        rw.close()
    except Exception:  # noqa: BLE001
        pass

    zk = KazooClient(hosts=server, timeout=10.0, read_only=True,
                     connection_retry={"max_tries": -1, "delay": 0.2, "max_delay": 1.0})
    zk.start(timeout=20)
    sid = zk.client_id[0]
    data, _ = zk.get(path)
    emit(step="ro_session", data=data.decode(), children=sorted(zk.get_children("/")),
         write=attempt(lambda: zk.create(path + "-w", b"x")),
         ephemeral=attempt(lambda: zk.create(path + "-e", b"x", ephemeral=True)),
         set=attempt(lambda: zk.set(path, b"y")))

    # The peers come back: the server leaves read-only mode.
    deadline = time.time() + seconds
    while not os.path.exists(healed) and time.time() < deadline:
        time.sleep(0.1)
    outcome = "never"
    while time.time() < deadline:
        outcome = attempt(lambda: zk.create(path + "-after", b"x"))
        if outcome in ("ok", "NodeExistsError"):
            outcome = "ok"
            break
        time.sleep(0.3)
    emit(step="after_quorum", write=outcome, same_session=zk.client_id[0] == sid,
         data=zk.get(path)[0].decode() if outcome == "ok" else None)
    zk.stop()
    zk.close()


def seed(server, path):
    zk = KazooClient(hosts=server, timeout=10.0)
    zk.start(timeout=30)
    zk.create(path, b"x")
    zk.stop()
    zk.close()
    emit(step="seeded")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["seed", "partitioned"])
    p.add_argument("--server", required=True)
    p.add_argument("--path", required=True)
    p.add_argument("--healed")
    p.add_argument("--seconds", type=float, default=60.0)
    a = p.parse_args()
    if a.mode == "seed":
        seed(a.server, a.path)
    else:
        partitioned(a.server, a.path, a.healed, a.seconds)


if __name__ == "__main__":
    main()
