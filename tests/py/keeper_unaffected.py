"""Differential script: an Apache client (kazoo) on a server that also serves ClickHouse
Keeper's extensions sees exactly what it sees on Apache ZooKeeper: the tree walked from /,
/keeper absent, kazoo's own recursive delete, a multi, and the events of a subtree deleted
node by node. Run by tests/tests/keeper_extensions.rs against Apache ZooKeeper and ours.
"""

from zkdiff import Session, emit, parse_args, step


def walk(zk, path, out):
    for c in sorted(zk.get_children(path)):
        child = ("" if path == "/" else path) + "/" + c
        if child == "/zookeeper":
            continue
        data, st = zk.get(child)
        out.append([child, data.decode("utf-8", "replace"), st.numChildren, st.version])
        walk(zk, child, out)


def main():
    args = parse_args()
    a = Session("a", args.hosts)
    zk = a.zk

    r = zk.create("/k", b"base", include_data=True)
    emit(op="base", zxid=r[1].czxid)
    for p in ["/k/a", "/k/a/x", "/k/a/y", "/k/b"]:
        step("create " + p, zk.create, p, p.encode())
    step("create ephemeral", zk.create, "/k/b/e", b"e", ephemeral=True)

    tree = []
    walk(zk, "/", tree)
    emit(step="tree from /", ok=tree)
    step("children of /", lambda: sorted(zk.get_children("/")))
    step("exists /keeper", zk.exists, "/keeper")
    step("get /keeper", zk.get, "/keeper")
    step("children of /keeper", zk.get_children, "/keeper")

    t = zk.transaction()
    t.create("/k/m", b"m")
    t.check("/k/a", 0)
    t.delete("/k/a/x")
    step("multi", t.commit)

    # Watches on a subtree kazoo deletes recursively (client-side, node by node).
    zk.exists("/k/a/y", watch=a.watcher("exists /k/a/y"))
    zk.get_children("/k", watch=a.watcher("children /k"))
    zk.get("/k/a", watch=a.watcher("get /k/a"))
    step("delete recursive /k/a", zk.delete, "/k/a", recursive=True)
    a.emit_events("events", 3, ordered=False)
    step("delete recursive missing", zk.delete, "/k/nope", recursive=True)

    tree = []
    walk(zk, "/", tree)
    emit(step="tree after", ok=tree)
    zk.stop()


if __name__ == "__main__":
    main()
