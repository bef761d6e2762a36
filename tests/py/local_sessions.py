"""kazoo against an ensemble started with localSessionsEnabled=true: what a local session can do,
what upgrades it, and what the servers count (mntr's zk_local_sessions / zk_global_sessions).

  run --server H --other O --prefix P
      one kazoo session on server H alone (new sessions there are local), then:
      reads and persistent writes through it, the zxid of H before and after the session
      began (a local session is no transaction), mntr's session counts on H, a reconnect of
      the same session through server O alone (a local session is known on H only), then
      an ephemeral create (upgrading: the session becomes global; upgrading disabled:
      EphemeralOnLocalSession; a multi with an ephemeral first), and the counts again.

One JSON line per step on stdout: {"step": name, ...}.
"""

import argparse
import json
import socket
import sys
import threading
import time

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException, ZookeeperError


def emit(**kv):
    sys.stdout.write(json.dumps(kv, sort_keys=True) + "\n")
    sys.stdout.flush()


def four(host, word):
    h, p = host.rsplit(":", 1)
    with socket.create_connection((h, int(p)), timeout=10) as s:
        s.sendall(word.encode())
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    return out.decode()


def mntr(host):
    kv = {}
    for line in four(host, "mntr").splitlines():
        parts = line.split("\t")
        if len(parts) == 2:
            kv[parts[0]] = parts[1]
    return kv


def sessions(host):
    m = mntr(host)
    return {"local": int(m.get("zk_local_sessions", "-1")), "global": int(m.get("zk_global_sessions", "-1"))}


def zxid(host):
    for line in four(host, "srvr").splitlines():
        if line.startswith("Zxid:"):
            return int(line.split()[1], 16)
    return -1


def error_name(e):
    if isinstance(e, ZookeeperError):
        return "%s(%s)" % (type(e).__name__, getattr(e, "code", None) or "")
    return type(e).__name__


def resume(host, client_id, timeout=8.0):
    """The session `client_id` through `host` alone: 'resumed', 'expired' or the error."""
    states = []
    zk = KazooClient(hosts=host, client_id=client_id, timeout=timeout,
                     connection_retry={"max_tries": 3, "delay": 0.1, "max_delay": 0.5})
    zk.add_listener(lambda s: states.append(s))
    try:
        zk.start(timeout=20)
        sid = zk.client_id[0]
        out = "resumed" if sid == client_id[0] and KazooState.LOST not in states else "expired"
    except Exception as e:  # noqa: BLE001 - the outcome is what we report
        out = "expired" if KazooState.LOST in states else error_name(e)
    finally:
        try:
            zk.stop()
            zk.close()
        except Exception:  # noqa: BLE001
            pass
    return out


def wait_sessions(host, want, seconds=10.0):
    """mntr's counts on `host` once they equal `want` (or the last seen)."""
    deadline = time.time() + seconds
    got = sessions(host)
    while got != want and time.time() < deadline:
        time.sleep(0.1)
        got = sessions(host)
    return got


def run(server, other, prefix):
    base = sessions(server)
    emit(step="before", sessions=base)
    z0 = zxid(server)
    zk = KazooClient(hosts=server, timeout=10.0)
    zk.start(timeout=30)
    sid, passwd = zk.client_id
    # A local session: no createSession transaction went through the quorum.
    emit(step="connected", zxid_unchanged=zxid(server) == z0,
         sessions=wait_sessions(server, {"local": base["local"] + 1, "global": base["global"]}))

    zk.ensure_path(prefix)
    zk.create(prefix + "/p", b"v1")
    zk.set(prefix + "/p", b"v2")
    data, _ = zk.get(prefix + "/p")
    seq = zk.create(prefix + "/s-", b"", sequence=True)
    tx = zk.transaction()
    tx.create(prefix + "/m", b"m")
    tx.set_data(prefix + "/p", b"v3")
    multi = [type(r).__name__ if isinstance(r, Exception) else "ok" for r in tx.commit()]
    zk.delete(prefix + "/m")
    emit(step="writes", data=data.decode(), seq=seq.startswith(prefix + "/s-"), multi=multi,
         children=sorted(c for c in zk.get_children(prefix) if not c.startswith("s-")))

    # The same session through another server: known on `server` only.
    other_zk = KazooClient(hosts=other, timeout=10.0)
    other_zk.start(timeout=30)
    other_zk.sync(prefix)
    seen, _ = other_zk.get(prefix + "/p")
    emit(step="replicated", data=seen.decode())
    emit(step="resume_elsewhere_local", outcome=resume(other, (sid, passwd)))
    # The session lives on where it was made, still local.
    alive = zk.exists(prefix + "/p") is not None
    emit(step="after_resume", alive=alive, session_unchanged=zk.client_id[0] == sid,
         sessions=sessions(server))

    # A multi with an ephemeral in it: upgraded first, or refused in its results.
    tx = zk.transaction()
    tx.create(prefix + "/mp", b"")
    tx.create(prefix + "/me", b"", ephemeral=True)
    try:
        multi_e = [type(r).__name__ if isinstance(r, Exception) else "ok" for r in tx.commit()]
    except KazooException as e:
        multi_e = error_name(e)
    other_zk.sync(prefix)
    emit(step="multi_ephemeral", outcome=multi_e, created=other_zk.exists(prefix + "/me") is not None,
         persistent=other_zk.exists(prefix + "/mp") is not None, sessions=sessions(server))

    # An ephemeral: upgraded to a global session, or EphemeralOnLocalSession.
    try:
        zk.create(prefix + "/e", b"e", ephemeral=True)
        eph = "ok"
    except KazooException as e:
        eph = error_name(e)
    other_zk.sync(prefix)
    st = other_zk.exists(prefix + "/e")
    owner = None if st is None else ("this session" if st.ephemeralOwner == sid else "another")
    emit(step="ephemeral", outcome=eph, seen_elsewhere=owner,
         sessions=wait_sessions(server, {"local": base["local"], "global": base["global"] + 1}, 5.0))
    # A second ephemeral of the same session: no second upgrade.
    try:
        zk.create(prefix + "/e2", b"e", ephemeral=True)
        eph2 = "ok"
    except KazooException as e:
        eph2 = error_name(e)
    emit(step="ephemeral_again", outcome=eph2, sessions=sessions(server))

    z1 = zxid(server)
    zk.stop()
    zk.close()
    # The close of a global session is a transaction; of a local one, not.
    time.sleep(0.5)
    emit(step="closed", zxid_unchanged=zxid(server) == z1,
         sessions=wait_sessions(server, base, 10.0))
    other_zk.sync(prefix)
    emit(step="after_close", ephemeral=other_zk.exists(prefix + "/e") is not None)
    other_zk.stop()
    other_zk.close()


def resume_after_upgrade(server, other, prefix):
    """An upgraded session moves to another server like any global session."""
    zk = KazooClient(hosts=server, timeout=10.0)
    zk.start(timeout=30)
    sid, passwd = zk.client_id
    zk.ensure_path(prefix)
    zk.create(prefix + "/u", b"", ephemeral=True)
    time.sleep(0.3)
    emit(step="upgraded_resume_elsewhere", outcome=resume(other, (sid, passwd)))
    try:
        zk.stop()
        zk.close()
    except Exception:  # noqa: BLE001
        pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["run", "upgraded"])
    p.add_argument("--server", required=True)
    p.add_argument("--other", required=True)
    p.add_argument("--prefix", required=True)
    a = p.parse_args()
    if a.mode == "run":
        run(a.server, a.other, a.prefix)
    else:
        resume_after_upgrade(a.server, a.other, a.prefix)


if __name__ == "__main__":
    main()
