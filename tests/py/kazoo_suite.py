"""Runs kazoo's own test suite (the kazoo.tests modules on kazoo.testing's harness)
against Apache ZooKeeper or against our zk-server.

    kazoo_suite.py --server apache|ours [pytest arguments ...]

kazoo's harness (kazoo/testing/common.py, ManagedZooKeeper.run) writes a zoo.cfg, a
JAAS file and JKS stores per server and starts `java ... QuorumPeerMain zoo.cfg` with
its -D flags. With --server ours that command becomes our binary on the same zoo.cfg,
the -D flags handed over in SERVER_JVMFLAGS as zkServer.sh hands them over; nothing
else of the harness changes. The environment gives:

    ZOOKEEPER_CLASSPATH    Apache's classpath (--server apache)
    ZK_SERVER_BIN          our zk-server binary (--server ours)
    ZOOKEEPER_VERSION      the server's version as kazoo's tests expect it (3.8.0)
    ZOOKEEPER_PORT_OFFSET  the first of the ports the harness uses (offset .. offset+30)

The exit status is pytest's.
"""

import os
import subprocess
import sys
import types

import pytest
from kazoo.testing import common


def our_popen(args, **kwargs):
    """`java -cp CP -D... QuorumPeerMain zoo.cfg` as our server on the same zoo.cfg."""
    if not args or args[0] != "java":
        return subprocess.Popen(args, **kwargs)
    cfg = args[-1]
    flags = [a for a in args if a.startswith("-D")]
    env = dict(os.environ)
    env["SERVER_JVMFLAGS"] = " ".join(flags)
    env.setdefault("RUST_LOG", "info")
    log = open(os.path.join(os.path.dirname(cfg), "zookeeper.log"), "ab")
    return subprocess.Popen(
        [os.environ["ZK_SERVER_BIN"], cfg],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


LOOPBACK = [
    "clientPortAddress=127.0.0.1",
    "secureClientPortAddress=127.0.0.1",
    "admin.serverAddress=127.0.0.1",
]


def loopback_only(run):
    """The harness's servers listen on all interfaces; the tests need 127.0.0.1 only."""

    def patched(self):
        self.configuration_entries = list(self.configuration_entries) + LOOPBACK
        return run(self)

    return patched


def main():
    argv = sys.argv[1:]
    if len(argv) < 2 or argv[0] != "--server" or argv[1] not in ("apache", "ours"):
        sys.exit(__doc__)
    server, rest = argv[1], argv[2:]
    os.environ.setdefault("ZOOKEEPER_VERSION", "3.8.0")
    common.ManagedZooKeeper.run = loopback_only(common.ManagedZooKeeper.run)
    if server == "ours":
        # Only common.py's view of subprocess changes (the tests' own kinit etc. keep
        # the real one).
        shim = types.ModuleType("subprocess")
        shim.__dict__.update(subprocess.__dict__)
        shim.Popen = our_popen
        common.subprocess = shim
        # The harness builds a java command line first; its classpath is dropped.
        os.environ.setdefault("ZOOKEEPER_CLASSPATH", "unused-by-our-server")
    else:
        assert os.environ.get("ZOOKEEPER_CLASSPATH"), "ZOOKEEPER_CLASSPATH is not set"
    sys.exit(pytest.main(["-p", "no:cacheprovider", "--pyargs"] + rest))


if __name__ == "__main__":
    main()
