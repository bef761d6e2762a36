"""Differential script: node operations, results and error codes, Stats, multi, ACLs.

Prints one JSON line per operation (see zkdiff.py); run by tests/tests/kazoo_diff.rs against
Apache ZooKeeper and against our server.
"""

from kazoo.security import ACL, Id, make_acl, make_digest_acl, OPEN_ACL_UNSAFE

from zkdiff import (
    CreateContainer,
    CreateTTL,
    GetAllChildrenNumber,
    GetEphemerals,
    MultiRead,
    WhoAmI,
    Session,
    call,
    convert,
    emit,
    parse_args,
    step,
)


def main():
    args = parse_args()
    a = Session("a", args.hosts)
    zk = a.zk

    r = zk.create("/e2e", b"base", include_data=True)
    emit(op="base", zxid=r[1].czxid)
    emit(step="create2 /e2e", ok=convert(r))

    # --- create: plain, create2, errors
    step("create /e2e/p", zk.create, "/e2e/p", b"v0")
    step("create2 /e2e/p2", zk.create, "/e2e/p2", b"two", include_data=True)
    step("create existing", zk.create, "/e2e/p", b"again")
    step("create2 existing", zk.create, "/e2e/p", b"again", include_data=True)
    step("create no parent", zk.create, "/e2e/missing/child", b"")
    step("create2 no parent", zk.create, "/e2e/missing/child", b"", include_data=True)
    step("create ephemeral", zk.create, "/e2e/eph", b"e", ephemeral=True, include_data=True)
    step("create under ephemeral", zk.create, "/e2e/eph/c", b"")
    step("create2 under ephemeral", zk.create, "/e2e/eph/c", b"", include_data=True)
    step("get ephemeral", zk.get, "/e2e/eph")
    step("stat /e2e after creates", zk.exists, "/e2e")

    # --- sequential names come from the parent's cversion
    step("create /e2e/seq", zk.create, "/e2e/seq", b"", include_data=True)
    for i in range(3):
        step("create seq %d" % i, zk.create, "/e2e/seq/n-", b"s%d" % i, sequence=True)
    step("create /e2e/seq/x", zk.create, "/e2e/seq/x", b"")
    step("delete /e2e/seq/x", zk.delete, "/e2e/seq/x")
    step("create seq after delete", zk.create, "/e2e/seq/n-", b"", sequence=True, include_data=True)
    step("create seq no prefix", zk.create, "/e2e/seq/", b"", sequence=True)
    step(
        "create ephemeral seq",
        zk.create,
        "/e2e/seq/e-",
        b"",
        ephemeral=True,
        sequence=True,
        include_data=True,
    )
    step("getChildren2 /e2e/seq", zk.get_children, "/e2e/seq", include_data=True)
    step("getChildren /e2e/seq", zk.get_children, "/e2e/seq")

    # --- get / exists / set with versions
    step("get /e2e/p", zk.get, "/e2e/p")
    step("exists /e2e/p", zk.exists, "/e2e/p")
    step("exists missing", zk.exists, "/e2e/nope")
    step("get missing", zk.get, "/e2e/nope")
    step("getChildren missing", zk.get_children, "/e2e/nope")
    step("getChildren2 missing", zk.get_children, "/e2e/nope", include_data=True)
    step("set v0", zk.set, "/e2e/p", b"v1", version=0)
    step("set stale version", zk.set, "/e2e/p", b"v2", version=0)
    step("set any version", zk.set, "/e2e/p", b"v2", version=-1)
    step("set big data", zk.set, "/e2e/p", b"x" * 5000)
    step("set empty data", zk.set, "/e2e/p", b"")
    step("get after sets", zk.get, "/e2e/p")
    step("set missing", zk.set, "/e2e/nope", b"x")

    # --- null data (a jute buffer of length -1) stays apart from empty data
    step("create null data", zk.create, "/e2e/null", None, include_data=True)
    step("get null data", zk.get, "/e2e/null")
    step("set empty over null", zk.set, "/e2e/null", b"")
    step("get empty after null", zk.get, "/e2e/null")
    step("set null data", zk.set, "/e2e/null", None)
    step("get null after set", zk.get, "/e2e/null")
    step("createContainer null data", call, zk, CreateContainer("/e2e/nullc", None, OPEN_ACL_UNSAFE, 4))
    step("createTTL null data", call, zk, CreateTTL("/e2e/nullt", None, OPEN_ACL_UNSAFE, 5, 60000))
    # (kazoo's transactions refuse None, so no multi here)
    step(
        "multiRead null data",
        call,
        zk,
        MultiRead([("get", "/e2e/null"), ("get", "/e2e/nullc"), ("get", "/e2e/nullt")]),
    )

    # --- delete with versions and errors
    step("delete bad version", zk.delete, "/e2e/p", version=7)
    step("delete not empty", zk.delete, "/e2e/seq")
    step("delete missing", zk.delete, "/e2e/nope")
    step("delete right version", zk.delete, "/e2e/p", version=4)
    step("exists deleted", zk.exists, "/e2e/p")
    step("getChildren2 /e2e", zk.get_children, "/e2e", include_data=True)

    # --- containers and TTL nodes (extendedTypesEnabled=true on both servers)
    step("createContainer", call, zk, CreateContainer("/e2e/cont", b"c", OPEN_ACL_UNSAFE, 4))
    step("create in container", zk.create, "/e2e/cont/child", b"", include_data=True)
    step("stat container", zk.exists, "/e2e/cont")
    step("createTTL", call, zk, CreateTTL("/e2e/ttl", b"t", OPEN_ACL_UNSAFE, 5, 60000))
    step("createTTL seq", call, zk, CreateTTL("/e2e/ttls-", b"", OPEN_ACL_UNSAFE, 6, 1000))
    step("createTTL zero ttl", call, zk, CreateTTL("/e2e/ttl0", b"", OPEN_ACL_UNSAFE, 5, 0))
    step("createTTL plain mode", call, zk, CreateTTL("/e2e/ttlp", b"", OPEN_ACL_UNSAFE, 0, 1000))
    step("get ttl", zk.get, "/e2e/ttl")
    # Java's path check walks UTF-16 units: outside the BMP is a surrogate pair, refused
    step("create non-BMP name", zk.create, "/e2e/x\U0001F600", b"")
    step("create BMP name", zk.create, "/e2e/\u00e9\u4e2d", b"")

    # --- multi (kazoo transaction)
    t = zk.transaction()
    t.create("/e2e/t1", b"a")
    t.set_data("/e2e/t1", b"b")
    t.check("/e2e/p2", 0)
    t.create("/e2e/t1/c", b"")
    t.delete("/e2e/p2")
    step("multi ok", t.commit)
    step("get /e2e/t1", zk.get, "/e2e/t1")
    t = zk.transaction()
    t.create("/e2e/t2", b"")
    t.check("/e2e/t1", 99)
    t.delete("/e2e/nope")
    step("multi bad check", t.commit)
    step("exists rolled back", zk.exists, "/e2e/t2")
    t = zk.transaction()
    t.create("/e2e/t3", b"")
    t.create("/e2e/t3", b"")
    step("multi create twice", t.commit)
    t = zk.transaction()
    t.delete("/e2e/t1")
    step("multi delete not empty", t.commit)
    # a sequential name taken by a failed multi is free again
    t = zk.transaction()
    t.create("/e2e/seq/m-", b"", sequence=True)
    t.create("/e2e/nope/x", b"")
    step("multi sequential then fail", t.commit)
    step("create seq after failed multi", zk.create, "/e2e/seq/m-", b"", sequence=True)
    step("create seq after that", zk.create, "/e2e/seq/m-", b"", sequence=True)
    step("multi empty", zk.transaction().commit)
    step("stat /e2e after multis", zk.exists, "/e2e")

    # --- multiRead, getEphemerals, getAllChildrenNumber, whoAmI
    step(
        "multiRead",
        call,
        zk,
        MultiRead([("get", "/e2e/t1"), ("children", "/e2e"), ("get", "/e2e/nope"), ("children", "/e2e/t1")]),
    )
    step("getEphemerals /", call, zk, GetEphemerals("/"))
    step("getEphemerals /e2e/seq", call, zk, GetEphemerals("/e2e/seq"))
    step("getEphemerals none", call, zk, GetEphemerals("/zookeeper"))
    # a blank or "/" prefix means all; any other is matched untrimmed
    step("getEphemerals untrimmed prefix", call, zk, GetEphemerals(" /e2e"))
    step("getEphemerals blank", call, zk, GetEphemerals("  "))
    step("getEphemerals / padded", call, zk, GetEphemerals(" / "))
    step("getAllChildrenNumber /e2e", call, zk, GetAllChildrenNumber("/e2e"))
    step("getAllChildrenNumber /e2e/seq", call, zk, GetAllChildrenNumber("/e2e/seq"))
    step("getAllChildrenNumber missing", call, zk, GetAllChildrenNumber("/e2e/nope"))
    step("whoAmI", call, zk, WhoAmI(None))

    # --- ACLs
    user_acl = make_digest_acl("user", "pw", all=True)
    step("create digest acl", zk.create, "/e2e/acl", b"secret", acl=[user_acl], include_data=True)
    step("getACL digest", zk.get_acls, "/e2e/acl")
    step("get without auth", zk.get, "/e2e/acl")
    step("set without auth", zk.set, "/e2e/acl", b"x")
    step("create child without auth", zk.create, "/e2e/acl/c", b"")
    step("delete without auth", zk.delete, "/e2e/acl")
    b = Session("b", args.hosts, auth="user:pw")
    step("whoAmI with digest", call, b.zk, WhoAmI(None))
    step("get with auth", b.zk.get, "/e2e/acl")
    step("set with auth", b.zk.set, "/e2e/acl", b"y")
    ro = [make_acl("world", "anyone", read=True)]
    step("setACL world read", b.zk.set_acls, "/e2e/acl", ro, version=0)
    step("setACL bad version", b.zk.set_acls, "/e2e/acl", ro, version=0)
    step("getACL read-only", zk.get_acls, "/e2e/acl")
    step("get world read", zk.get, "/e2e/acl")
    step("set world read", zk.set, "/e2e/acl", b"z")
    step("setACL no admin", zk.set_acls, "/e2e/acl", OPEN_ACL_UNSAFE)
    step("create auth acl without auth", zk.create, "/e2e/a1", b"", acl=[make_acl("auth", "", all=True)])
    step("create auth acl with auth", b.zk.create, "/e2e/a2", b"", acl=[make_acl("auth", "", all=True)])
    step("getACL auth acl", b.zk.get_acls, "/e2e/a2")
    step("create bad digest id", zk.create, "/e2e/a3", b"", acl=[ACL(31, Id("digest", "nocolon"))])
    step("create unknown scheme", zk.create, "/e2e/a4", b"", acl=[ACL(31, Id("nosuch", "x"))])
    step("create empty acl", zk.create, "/e2e/a5", b"", acl=[])
    step("create ip acl", zk.create, "/e2e/a6", b"", acl=[ACL(31, Id("ip", "127.0.0.1"))])
    step("get ip acl", zk.get, "/e2e/a6")
    step("create bad ip acl", zk.create, "/e2e/a7", b"", acl=[ACL(31, Id("ip", "not-an-ip"))])
    step("create no-read acl", b.zk.create, "/e2e/hidden", b"h", acl=[user_acl])
    s = Session("super", args.hosts, auth="super:secret")
    step("whoAmI super", call, s.zk, WhoAmI(None))
    step("get as super", s.zk.get, "/e2e/hidden")
    step("setACL as super", s.zk.set_acls, "/e2e/hidden", OPEN_ACL_UNSAFE)
    step("get after super setACL", zk.get, "/e2e/hidden")
    step("getACL missing", zk.get_acls, "/e2e/nope")

    # --- quotas: zkCli's setquota writes zookeeper_limits and zookeeper_stats; the server keeps
    # the usage of the subtree in zookeeper_stats without a transaction of its own
    step("create /e2e/qt", zk.create, "/e2e/qt", b"abc")
    step("create /e2e/qt/x", zk.create, "/e2e/qt/x", b"12")
    step("create quota parent", zk.create, "/zookeeper/quota/e2e/qt", b"", makepath=True)
    step("create limits", zk.create, "/zookeeper/quota/e2e/qt/zookeeper_limits", b"count=5,bytes=-1")
    step("create stats", zk.create, "/zookeeper/quota/e2e/qt/zookeeper_stats", b"count=0,bytes=0")
    stats = "/zookeeper/quota/e2e/qt/zookeeper_stats"
    step("stats counted at creation", zk.get, stats)
    step("create /e2e/qt/y", zk.create, "/e2e/qt/y", b"1234")
    step("stats after create", zk.get, stats)
    step("set /e2e/qt/x", zk.set, "/e2e/qt/x", b"1")
    step("set /e2e/qt itself", zk.set, "/e2e/qt", b"abcdef")
    step("stats after sets", zk.get, stats)
    step("delete /e2e/qt/y", zk.delete, "/e2e/qt/y")
    step("stats after delete", zk.get, stats)
    step("delete limits", zk.delete, "/zookeeper/quota/e2e/qt/zookeeper_limits")
    step("create /e2e/qt/z", zk.create, "/e2e/qt/z", b"zz")
    step("stats after the quota is gone", zk.get, stats)

    # --- the /zookeeper subtree
    step("get /zookeeper", zk.get, "/zookeeper")
    step("children /zookeeper", zk.get_children, "/zookeeper")
    step("exists /zookeeper/quota", zk.exists, "/zookeeper/quota")
    step("exists /zookeeper/config", zk.exists, "/zookeeper/config")
    step("getACL /zookeeper/config", zk.get_acls, "/zookeeper/config")
    step("getACL /", zk.get_acls, "/")
    step("create under /zookeeper", zk.create, "/zookeeper/mine", b"")
    step("delete /zookeeper", zk.delete, "/zookeeper")
    step("children /", zk.get_children, "/", include_data=True)
    step("sync", zk.sync, "/e2e")

    # --- session close deletes ephemerals, seen from another session
    step("ephemerals of a", call, zk, GetEphemerals("/"))
    step("ephemerals of b", call, b.zk, GetEphemerals("/"))
    a.stop()
    step("after close: exists /e2e/eph", b.zk.exists, "/e2e/eph")
    step("after close: children /e2e/seq", b.zk.get_children, "/e2e/seq", include_data=True)
    step("after close: stat /e2e", b.zk.exists, "/e2e")
    step("after close: getAllChildrenNumber /", call, b.zk, GetAllChildrenNumber("/"))

    # --- the version kazoo parses from envi, and four-letter words through kazoo
    v = b.zk.server_version()
    emit(step="server_version major.minor", ok=list(v[:2]))
    step("ruok", b.zk.command, b"ruok")
    step("isro", b.zk.command, b"isro")
    b.stop()
    s.stop()


if __name__ == "__main__":
    main()
