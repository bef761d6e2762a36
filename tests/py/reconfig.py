"""kazoo's reconfig API against an ensemble, run by tests/tests/ensemble_reconfig.rs.

reconfig: client.reconfig(joining, leaving, new_members, from_config) through --hosts, and
          print {"ok": true, "data": text, "version": v, "mzxid": z} or {"ok": false,
          "error": kazoo's exception class}. With --watch-hosts, a second client there
          watches /zookeeper/config first, and "event" is the event it saw (or null).
config:   get_config() (getConfig, op 22 on /zookeeper/config) through --hosts:
          {"data": text, "mzxid": z}.
"""

import argparse
import json
import sys
import threading

from kazoo.client import KazooClient


def emit(**kw):
    sys.stdout.write(json.dumps(kw, sort_keys=True) + "\n")
    sys.stdout.flush()


def connect(hosts, auth):
    zk = KazooClient(hosts=hosts, timeout=10.0)
    zk.start(timeout=30)
    if auth:
        scheme, cred = auth.split(":", 1)
        zk.add_auth(scheme, cred)
    return zk


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["reconfig", "config"])
    p.add_argument("--hosts", required=True)
    p.add_argument("--joining")
    p.add_argument("--leaving")
    p.add_argument("--members")
    p.add_argument("--from-config", type=int, default=-1)
    p.add_argument("--auth")
    p.add_argument("--watch-hosts")
    a = p.parse_args()
    zk = connect(a.hosts, a.auth)
    try:
        if a.mode == "config":
            data, stat = zk.get("/zookeeper/config")
            emit(data=data.decode(), mzxid=stat.mzxid, version=stat.version)
            return
        watcher, seen = None, threading.Event()
        events = []
        if a.watch_hosts:
            watcher = connect(a.watch_hosts, None)

            def on_event(ev):
                events.append(ev.type)
                seen.set()

            watcher.get("/zookeeper/config", watch=on_event)
        try:
            data, stat = zk.reconfig(
                joining=a.joining,
                leaving=a.leaving,
                new_members=a.members,
                from_config=a.from_config,
            )
            if watcher:
                seen.wait(10)
                watcher.stop()
                watcher.close()
                emit(ok=True, data=data.decode(), version=stat.version, mzxid=stat.mzxid,
                     event=events[0] if events else None)
            else:
                emit(ok=True, data=data.decode(), version=stat.version, mzxid=stat.mzxid)
        except Exception as e:  # the class name is what the test compares
            emit(ok=False, error=type(e).__name__)
    finally:
        zk.stop()
        zk.close()


if __name__ == "__main__":
    main()
