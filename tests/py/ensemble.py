"""kazoo against an ensemble: writes through each server, reads from each, and a writer that
keeps writing through server failures.

Modes (one JSON line per result on stdout):

  rw --hosts h1,h2,...     through each server alone: create /e2e/via-<i> = "w<i>"; then from
                           each server alone: sync and read every /e2e/via-<i>.
  writer --hosts CS --seconds S --prefix P
                           with the whole connect string: create P/n<k> for k = 0, 1, ... for S
                           seconds; each write prints {"ack": k, "t": ...} once acknowledged, or
                           {"indeterminate": k, "error": ...} when the outcome is unknown
                           (connection lost, timeout), or {"failed": k, ...} when refused;
                           t0 is when the attempt started.
  try-write --hosts CS --path P
                           one create of P with a short timeout: {"ok": true} or
                           {"ok": false, "error": ...} (no connection counts as refused).
  ro --hosts h --path P    a read-only session (kazoo read_only=True): {"connected": ...,
                           "data": <P's data>, "write": <error name of a create, or "ok">}.
  read --hosts h --prefix P
                           from server h alone: sync, then {"children": [...]} of P.
  hold --hosts CS --path P --stop F --seconds S
                           one session creates the ephemeral P ({"held": session id}) and keeps
                           it until file F exists (at most S seconds), printing {"state": ...}
                           on each change of connection state (LOST: the session expired);
                           then {"done": true, "ephemeral": <P still there, owned by this
                           session>, "expired": <LOST seen or SessionExpiredError raised>}.
"""

import argparse
import json
import os
import sys
import time

from kazoo.client import KazooClient
from kazoo.exceptions import (
    ConnectionLoss,
    NodeExistsError,
    OperationTimeoutError,
    SessionExpiredError,
    ZookeeperError,
)
from kazoo.handlers.threading import KazooTimeoutError


def emit(**kv):
    sys.stdout.write(json.dumps(kv, sort_keys=True) + "\n")
    sys.stdout.flush()


def client(hosts, timeout=10.0):
    zk = KazooClient(hosts=hosts, timeout=timeout, connection_retry={"max_tries": -1, "delay": 0.05, "max_delay": 0.2})
    zk.start(timeout=30)
    return zk


def rw(hosts):
    hs = hosts.split(",")
    for i, h in enumerate(hs, 1):
        zk = client(h)
        zk.ensure_path("/e2e")
        zk.create(f"/e2e/via-{i}", f"w{i}".encode())
        emit(op="create", via=i)
        zk.stop()
        zk.close()
    for j, h in enumerate(hs, 1):
        zk = client(h)
        zk.sync("/e2e")
        for i in range(1, len(hs) + 1):
            data, st = zk.get(f"/e2e/via-{i}")
            emit(op="read", at=j, path=f"/e2e/via-{i}", data=data.decode(), czxid=st.czxid)
        zk.stop()
        zk.close()


def writer(hosts, seconds, prefix):
    zk = client(hosts, timeout=4.0)
    zk.retry(zk.ensure_path, prefix)
    end = time.time() + seconds
    k = 0
    while time.time() < end:
        path = f"{prefix}/n{k}"
        t0 = time.time()
        try:
            zk.create(path, str(k).encode())
            emit(ack=k, t0=t0, t=time.time())
        except NodeExistsError:
            # An earlier indeterminate attempt of this same k did land.
            emit(ack=k, t0=t0, t=time.time(), retried=True)
        except (ConnectionLoss, OperationTimeoutError, KazooTimeoutError, SessionExpiredError) as e:
            emit(indeterminate=k, error=type(e).__name__, t=time.time())
            time.sleep(0.02)
            continue
        except ZookeeperError as e:
            emit(failed=k, error=type(e).__name__, t=time.time())
            time.sleep(0.02)
            continue
        k += 1
    zk.stop()
    zk.close()


def read(hosts, prefix):
    zk = client(hosts)
    zk.sync(prefix)
    emit(children=sorted(zk.get_children(prefix)))
    zk.stop()
    zk.close()


def try_write(hosts, path):
    zk = KazooClient(hosts=hosts, timeout=4.0, connection_retry={"max_tries": 3, "delay": 0.1})
    try:
        zk.start(timeout=4)
    except Exception as e:  # no server would take a session
        emit(ok=False, error="connect: " + type(e).__name__)
        return
    try:
        zk.create(path, b"x", makepath=True)
        emit(ok=True)
    except Exception as e:
        emit(ok=False, error=type(e).__name__)
    finally:
        zk.stop()
        zk.close()


def read_only(hosts, path):
    zk = KazooClient(hosts=hosts, timeout=4.0, read_only=True,
                     connection_retry={"max_tries": 3, "delay": 0.1})
    try:
        zk.start(timeout=6)
    except Exception as e:
        emit(connected=False, error=type(e).__name__)
        return
    out = {"connected": True}
    try:
        data, _ = zk.get(path)
        out["data"] = data.decode()
    except Exception as e:
        out["data_error"] = type(e).__name__
    try:
        zk.create(path + "-new", b"x")
        out["write"] = "ok"
    except Exception as e:
        out["write"] = type(e).__name__
    emit(**out)
    zk.stop()
    zk.close()


def hold(hosts, path, stop, seconds):
    zk = client(hosts, timeout=10.0)
    seen = []
    def listener(st):
        seen.append(str(st))
        emit(state=str(st), t=time.time())

    zk.add_listener(listener)
    zk.create(path, b"held", ephemeral=True, makepath=True)
    sid = zk.client_id[0]
    emit(held=sid)
    end = time.time() + seconds
    while time.time() < end and not os.path.exists(stop):
        time.sleep(0.1)
    expired = "LOST" in seen
    ephemeral = False
    try:
        # Retried through connection losses; a session expiry raises.
        st = zk.retry(zk.exists, path)
        ephemeral = st is not None and st.ephemeralOwner == sid
    except SessionExpiredError:
        expired = True
    emit(done=True, ephemeral=ephemeral, expired=expired or "LOST" in seen, session=sid)
    # Closing the session is LOST to kazoo too: not an expiry.
    zk.remove_listener(listener)
    zk.stop()
    zk.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["rw", "writer", "read", "try-write", "ro", "hold"])
    p.add_argument("--hosts", required=True)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--prefix", default="/fo")
    p.add_argument("--path", default="/x")
    p.add_argument("--stop", default="")
    a = p.parse_args()
    if a.mode == "rw":
        rw(a.hosts)
    elif a.mode == "writer":
        writer(a.hosts, a.seconds, a.prefix)
    elif a.mode == "ro":
        read_only(a.hosts, a.path)
    elif a.mode == "try-write":
        try_write(a.hosts, a.path)
    elif a.mode == "hold":
        hold(a.hosts, a.path, a.stop, a.seconds)
    else:
        read(a.hosts, a.prefix)


if __name__ == "__main__":
    main()
