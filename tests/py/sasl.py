"""kazoo with SASL DIGEST-MD5 (through puresasl), one JSON line per step; run by
tests/tests/sasl.rs against Apache ZooKeeper and against our server, with the same JAAS file
(users alice/alicepw and bob/bobpw), and the lines compared.

Modes:
  acl       alice creates a node with a sasl ACL; bob, an unauthenticated client and a
            wrong password are refused; whoami of each.
  enforce   the server requires SASL: an unauthenticated client is refused with
            SessionClosedRequireSaslError, alice is served.
  super     zookeeper.superUser=bob and zookeeper.letAnySaslUserDoX=any-sasl-user.
"""

import argparse
import sys
import time

from kazoo.client import KazooClient
from kazoo.security import make_acl

from sasl_steps import SEEN, emit, outcome


def client(hosts, user=None, password=None, timeout=10):
    opts = None
    if user is not None:
        opts = {"mechanism": "DIGEST-MD5", "username": user, "password": password}
    zk = KazooClient(hosts=hosts, sasl_options=opts, timeout=timeout,
                     connection_retry={"max_tries": 0}, command_retry={"max_tries": 0})
    return zk


def start(name, zk, timeout=10):
    """Starts zk; emits how that went."""
    try:
        zk.start(timeout=timeout)
        emit(step="connect " + name, ok=True)
        return True
    except Exception as e:
        emit(step="connect " + name, err=type(e).__name__)
        try:
            zk.stop()
            zk.close()
        except Exception:
            pass
        return False


def refused(name, hosts, user, password):
    """A client whose SASL exchange fails: kazoo's start() reports it connected or timed
    out depending on when the failure lands, so what is compared is what kazoo logs."""
    SEEN.messages.clear()
    zk = client(hosts, user, password, timeout=5)
    zk.start_async()
    deadline = time.time() + 15

    # AuthFailed (-115) makes kazoo say "AUTH_FAILED closing"; SessionClosedRequireAuth
    # (-124) is no error it handles, and its connection thread ends on it.
    signs = ("AUTH_FAILED closing", "Unhandled exception in connection loop")

    def seen():
        for m in SEEN.messages:
            for sign in signs:
                if m.startswith(sign):
                    return sign
        return None

    while seen() is None and time.time() < deadline:
        time.sleep(0.02)
    emit(step="connect " + name, kazoo=seen())
    try:
        zk.stop()
        zk.close()
    except Exception:
        pass


def mode_acl(hosts):
    alice = client(hosts, "alice", "alicepw")
    if not start("alice", alice):
        sys.exit(1)
    acl = [make_acl("sasl", "alice", all=True)]
    emit(step="alice create /s", **outcome(alice.create, "/s", b"secret", acl=acl))
    emit(step="alice get /s", **outcome(lambda: alice.get("/s")[0]))
    emit(step="alice getAcl /s", **outcome(lambda: alice.get_acls("/s")[0]))
    emit(step="alice create auth acl", **outcome(
        alice.create, "/s2", b"", acl=[make_acl("auth", "", all=True)]))
    emit(step="alice getAcl /s2", **outcome(lambda: alice.get_acls("/s2")[0]))
    emit(step="alice create invalid sasl id", **outcome(
        alice.create, "/s3", b"", acl=[make_acl("sasl", "a@b@c", all=True)]))
    emit(step="alice read-only for bob", **outcome(
        alice.create, "/s4", b"four",
        acl=[make_acl("sasl", "bob", read=True), make_acl("sasl", "alice", all=True)]))

    bob = client(hosts, "bob", "bobpw")
    if start("bob", bob):
        emit(step="bob get /s", **outcome(lambda: bob.get("/s")[0]))
        emit(step="bob set /s", **outcome(bob.set, "/s", b"x"))
        emit(step="bob get /s4", **outcome(lambda: bob.get("/s4")[0]))
        emit(step="bob set /s4", **outcome(bob.set, "/s4", b"x"))
        emit(step="bob create /b", **outcome(bob.create, "/b", b""))
        emit(step="bob delete /b", **outcome(bob.delete, "/b"))
        bob.stop()
        bob.close()

    anon = client(hosts)
    if start("anonymous", anon):
        emit(step="anonymous get /s", **outcome(lambda: anon.get("/s")[0]))
        anon.stop()
        anon.close()

    refused("alice with a wrong password", hosts, "alice", "not-her-password")
    refused("unknown user", hosts, "mallory", "pw")

    # alice is still served after the failures on other connections.
    emit(step="alice get /s again", **outcome(lambda: alice.get("/s")[0]))
    for p in ("/s", "/s2", "/s4"):
        emit(step="alice delete " + p, **outcome(alice.delete, p))
    alice.stop()
    alice.close()


def mode_enforce(hosts):
    anon = client(hosts)
    # kazoo connects (the handshake is allowed); its first request is refused.
    if start("anonymous", anon):
        emit(step="anonymous get_children /", **outcome(anon.get_children, "/"))
        # The server closed that connection: the client's next request would race its
        # reconnection, so a second anonymous client tries a write.
        try:
            anon.stop()
            anon.close()
        except Exception:
            pass
    anon = client(hosts)
    if start("anonymous again", anon):
        emit(step="anonymous create /e", **outcome(anon.create, "/e", b""))
        try:
            anon.stop()
            anon.close()
        except Exception:
            pass
    alice = client(hosts, "alice", "alicepw")
    if start("alice", alice):
        emit(step="alice create /e", **outcome(alice.create, "/e", b"x"))
        emit(step="alice get /e", **outcome(lambda: alice.get("/e")[0]))
        emit(step="alice delete /e", **outcome(alice.delete, "/e"))
        alice.stop()
        alice.close()
    refused("alice with a wrong password", hosts, "alice", "nope")


def mode_super(hosts):
    """Run with zookeeper.superUser=bob and zookeeper.letAnySaslUserDoX=any-sasl-user."""
    alice = client(hosts, "alice", "alicepw")
    if not start("alice", alice):
        sys.exit(1)
    emit(step="alice create /mine", **outcome(
        alice.create, "/mine", b"m", acl=[make_acl("sasl", "alice", all=True)]))
    emit(step="alice create /shared", **outcome(
        alice.create, "/shared", b"sh",
        acl=[make_acl("sasl", "any-sasl-user", read=True), make_acl("sasl", "bob", all=True)]))
    emit(step="alice set /shared", **outcome(lambda: alice.set("/shared", b"a").version))
    bob = client(hosts, "bob", "bobpw")
    if start("bob (super)", bob):
        emit(step="bob get /mine", **outcome(lambda: bob.get("/mine")[0]))
        emit(step="bob set /mine", **outcome(lambda: bob.set("/mine", b"b").version))
        emit(step="bob setAcl /mine", **outcome(
            lambda: bob.set_acls("/mine", [make_acl("sasl", "bob", all=True)]).version))
        bob.stop()
        bob.close()
    emit(step="alice get /mine now", **outcome(lambda: alice.get("/mine")[0]))
    emit(step="alice get /shared", **outcome(lambda: alice.get("/shared")[0]))
    anon = client(hosts)
    if start("anonymous", anon):
        emit(step="anonymous get /shared", **outcome(lambda: anon.get("/shared")[0]))
        anon.stop()
        anon.close()
    alice.stop()
    alice.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["acl", "enforce", "super"])
    p.add_argument("--hosts", required=True)
    a = p.parse_args()
    {"acl": mode_acl, "enforce": mode_enforce, "super": mode_super}[a.mode](a.hosts)


if __name__ == "__main__":
    main()
