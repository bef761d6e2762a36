"""Differential script: one-shot data, child and exists watches, and ephemeral deletion on close.

Each session has one watch callback, so kazoo delivers a server event to it once per watch it
registered, in a fixed order (data watchers, then child watchers); the script waits (bounded)
for the number of events Apache ZooKeeper delivers and prints them in arrival order.
"""

from zkdiff import Session, emit, parse_args, step


def main():
    args = parse_args()
    a = Session("a", args.hosts)
    b = Session("b", args.hosts)
    za, zb = a.zk, b.zk
    w = a.watcher("a")

    r = za.create("/w", b"0", include_data=True)
    emit(op="base", zxid=r[1].czxid)

    # data watch: fires once on change, not again
    step("get /w with watch", za.get, "/w", watch=w)
    step("b sets /w", zb.set, "/w", b"1")
    a.emit_events("events after first set", 1)
    step("b sets /w again", zb.set, "/w", b"2")
    step("exists /w with watch", za.exists, "/w", watch=w)
    step("b sets /w a third time", zb.set, "/w", b"3")
    a.emit_events("events: one-shot, only the exists watch", 1)

    # exists watch on a missing node fires NodeCreated
    step("exists missing with watch", za.exists, "/w/new", watch=w)
    step("get children /w with watch", za.get_children, "/w", watch=w)
    step("b creates /w/new", zb.create, "/w/new", b"n")
    a.emit_events("events after create", 2)

    # delete fires NodeDeleted on the node and NodeChildrenChanged on the parent
    step("get /w/new with watch", za.get, "/w/new", watch=w)
    step("children /w/new with watch", za.get_children, "/w/new", watch=w)
    step("children /w with watch", za.get_children, "/w", watch=w, include_data=True)
    step("b deletes /w/new", zb.delete, "/w/new")
    a.emit_events("events after delete", 4)

    # a child watch does not fire on the child's data change; a data watch on the parent does not
    # fire on a child's creation
    step("b creates /w/c", zb.create, "/w/c", b"")
    step("children /w with watch", za.get_children, "/w", watch=w)
    step("get /w with watch", za.get, "/w", watch=w)
    step("b sets /w/c", zb.set, "/w/c", b"x")
    step("b sets /w", zb.set, "/w", b"4")
    a.emit_events("events: data watch only", 1)
    step("b creates /w/d", zb.create, "/w/d", b"")
    a.emit_events("events: child watch only", 1)

    # a failed write triggers nothing
    step("get /w/c with watch", za.get, "/w/c", watch=w)
    step("b sets /w/c with bad version", zb.set, "/w/c", b"y", version=9)
    step("b deletes /w with children", zb.delete, "/w")
    step("b sets /w/c", zb.set, "/w/c", b"z")
    a.emit_events("events: only the successful set", 1)

    # multi triggers the watches of each op, in op order
    step("get /w/c with watch", za.get, "/w/c", watch=w)
    step("exists /w/m with watch", za.exists, "/w/m", watch=w)
    step("children /w with watch", za.get_children, "/w", watch=w)
    t = zb.transaction()
    t.set_data("/w/c", b"m")
    t.create("/w/m", b"")
    step("b multi", t.commit)
    a.emit_events("events after multi", 3)

    # ephemeral nodes go when their session closes; the other session sees the deletes
    c = Session("c", args.hosts)
    step("c creates ephemeral", c.zk.create, "/w/eph", b"", ephemeral=True, include_data=True)
    step(
        "c creates ephemeral seq",
        c.zk.create,
        "/w/es-",
        b"",
        ephemeral=True,
        sequence=True,
    )
    step("exists /w/eph with watch", za.exists, "/w/eph", watch=w)
    step("children /w with watch", za.get_children, "/w", watch=w)
    c.stop()
    a.emit_events("events after c closed (any order)", 2, ordered=False)
    step("exists /w/eph after close", za.exists, "/w/eph")
    step("children /w after close", za.get_children, "/w", include_data=True)

    # watches of a closed session are gone; the remaining session's watch still fires once
    step("b get /w with watch", zb.get, "/w", watch=b.watcher("b"))
    step("a get /w with watch", za.get, "/w", watch=w)
    b.stop()
    d = Session("d", args.hosts)
    step("d sets /w", d.zk.set, "/w", b"5")
    a.emit_events("a events after d set", 1)
    emit(step="b events (closed before the set)", events=b.wait_events(0, 0))
    step("d deletes /w/c", d.zk.delete, "/w/c")
    step("stat /w", d.zk.exists, "/w")
    d.stop()
    a.stop()


if __name__ == "__main__":
    main()
