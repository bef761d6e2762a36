"""kazoo with SASL GSSAPI (Kerberos, through puresasl and pykerberos), one JSON line per
step; run by tests/tests/kerberos.rs against Apache ZooKeeper and against our server in
the same throwaway realm, and the lines compared. The client's ticket is in the
credential cache KRB5CCNAME names (the test runs kinit first).

  sasl_gssapi.py --hosts 127.0.0.1:PORT --principal alice@ZK.TEST --node /k
"""

import argparse

from kazoo.client import KazooClient
from kazoo.security import ACL, Id

from sasl_steps import SEEN, emit, outcome


def client(hosts, principal=None):
    opts = None
    if principal is not None:
        opts = {"mechanism": "GSSAPI", "service": "zookeeper", "principal": principal}
    return KazooClient(hosts=hosts, sasl_options=opts, timeout=10,
                       connection_retry={"max_tries": 0}, command_retry={"max_tries": 0})


def start(name, zk):
    try:
        zk.start(timeout=15)
        emit(step="connect " + name, ok=zk.connected)
        return True
    except Exception as e:
        failed = [m for m in SEEN.messages if "AUTH_FAILED" in m]
        emit(step="connect " + name, err=type(e).__name__, auth_failed=bool(failed))
        return False


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--hosts", required=True)
    p.add_argument("--principal", required=True)
    p.add_argument("--node", default="/k")
    a = p.parse_args()
    node = a.node

    zk = client(a.hosts, a.principal)
    if start(a.principal, zk):
        # The `auth` scheme stands for the session's authenticated ids: the ACL Apache
        # stores shows the sasl id the principal was mapped to.
        emit(step="create with auth ACL",
             **outcome(zk.create, node, b"kdata", acl=[ACL(31, Id("auth", ""))]))
        emit(step="getAcl", **outcome(lambda: zk.get_acls(node)[0]))
        emit(step="get", **outcome(lambda: zk.get(node)[0]))
        zk.stop()
        zk.close()

    anon = client(a.hosts)
    if start("anonymous", anon):
        emit(step="anonymous get", **outcome(lambda: anon.get(node)[0]))
        emit(step="anonymous getAcl", **outcome(lambda: anon.get_acls(node)[0]))
        anon.stop()
        anon.close()


if __name__ == "__main__":
    main()
