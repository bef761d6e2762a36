"""kazoo over TLS (use_ssl=True, the CA, a client certificate and key), for tests/tests/tls.rs.

    tls.py --hosts H --ca CA.pem [--cert C.pem --key K.pem] STEP...

Steps, run in order on one session, each printing one JSON line:
  create:/path:DN    create /path = "v" with the ACL x509:DN (all permissions)
  createopen:/path   create /path = "v" open to anyone
  get:/path          read /path
  set:/path:DATA     write /path
  getacl:/path       the ACL of /path
A session that cannot be established prints {"connected": false, "error": ...} and stops.
"""

import argparse
import json
import sys

from kazoo.client import KazooClient
from kazoo.exceptions import ZookeeperError
from kazoo.security import ACL, Id, OPEN_ACL_UNSAFE, Permissions


def emit(**kv):
    sys.stdout.write(json.dumps(kv, sort_keys=True) + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("steps", nargs="*")
    a = ap.parse_args()
    zk = KazooClient(
        hosts=a.hosts,
        use_ssl=True,
        verify_certs=True,
        ca=a.ca,
        certfile=a.cert,
        keyfile=a.key,
        timeout=10,
        connection_retry={"max_tries": 2, "delay": 0.2},
    )
    try:
        zk.start(timeout=15)
    except Exception as e:  # noqa: BLE001 - any failure to connect is the answer
        emit(connected=False, error=type(e).__name__)
        return
    emit(connected=True)
    for step in a.steps:
        parts = step.split(":", 2)
        op, path = parts[0], parts[1]
        try:
            if op == "create":
                acl = [ACL(Permissions.ALL, Id("x509", parts[2]))]
                zk.create(path, b"v", acl=acl)
                emit(step=op, path=path, ok=True)
            elif op == "createopen":
                zk.create(path, b"v", acl=OPEN_ACL_UNSAFE)
                emit(step=op, path=path, ok=True)
            elif op == "get":
                data, _ = zk.get(path)
                emit(step=op, path=path, ok=True, data=data.decode())
            elif op == "set":
                zk.set(path, parts[2].encode())
                emit(step=op, path=path, ok=True)
            elif op == "getacl":
                acl, _ = zk.get_acls(path)
                emit(step=op, path=path, ok=True,
                     acl=[[x.perms, x.id.scheme, x.id.id] for x in acl])
            else:
                raise SystemExit("unknown step " + op)
        except ZookeeperError as e:
            emit(step=op, path=path, ok=False, error=type(e).__name__)
    zk.stop()
    zk.close()


if __name__ == "__main__":
    main()
