//! Requests without a transaction, answered from the tree at once (the final
//! stage's read half, ZooKeeper's `FinalRequestProcessor` for reads), and
//! `auth`, which changes only the session's identities.

use bytes::Bytes;
use zab_core::proto::*;
use zab_core::records::{perms, ErrorCode, Id, Stat};

use super::metrics::{add_per_namespace, STAT_BYTES};
use super::pipeline::{body, frame, Reply};
use super::Core;
use crate::auth::{self, check_acl, AuthOutcome};
use crate::request::Request;
use crate::tree::NodeRef;
use crate::watch::WatcherKind;

impl Core {
    /// auth (100), answered at once outside the pipeline as ZooKeeper's
    /// `processPacket` does, with the request's own xid (`new ReplyHeader(h.getXid(), ..)`):
    /// the Java client sends -4, go-zookeeper and the Rust `zookeeper-client` crate an
    /// ordinary xid, and a reply with another xid matches none of their pending requests.
    pub(super) fn on_auth(&mut self, req: &Request, a: AuthPacket) {
        let Some(ip) = self.conns.get(&req.conn_id).map(|c| c.handle.addr.ip()) else {
            return;
        };
        let outcome = auth::authenticate(&a.scheme, &a.auth, self.cfg.super_digest.as_deref(), ip);
        match outcome {
            AuthOutcome::Added(ids) => {
                if let Some(s) = self.sessions.get_mut(&req.session_id) {
                    for id in ids {
                        if !s.auth.contains(&id) {
                            s.auth.push(id);
                        }
                    }
                }
                self.auth_reply(req, 0);
            }
            AuthOutcome::Failed => {
                self.metrics.auth_failed += 1;
                tracing::warn!("authentication with scheme {:?} failed", a.scheme);
                self.refuse_auth(req);
            }
        }
    }

    /// The answer to auth or sasl, with the request's xid and zxid 0.
    fn auth_reply(&mut self, req: &Request, err: i32) {
        let f = frame(
            &ReplyHeader {
                xid: req.xid,
                zxid: 0,
                err,
            },
            None,
        );
        self.send(req.conn_id, f);
    }

    /// AuthFailed, then the connection is closed, as ZooKeeper does.
    pub(super) fn refuse_auth(&mut self, req: &Request) {
        self.auth_reply(req, ErrorCode::AuthFailed.code());
        self.close_conn(req.conn_id);
    }

    pub(super) fn auth_of(&self, session_id: i64) -> &[Id] {
        self.sessions
            .get(&session_id)
            .map(|s| s.auth.as_slice())
            .unwrap_or(&[])
    }

    fn get_data(
        &mut self,
        session_id: i64,
        path: &str,
        watch: bool,
    ) -> Result<(Option<Bytes>, Stat), ErrorCode> {
        self.read_data(session_id, path, watch, |n| {
            (n.data_opt().map(Bytes::copy_from_slice), n.stat())
        })
    }

    /// getData's body (`GetDataResponse`) encoded straight from the tree into a buffer
    /// of its size: the data is not copied out first (what [`Core::get_data`] returns
    /// for multiRead), one allocation and one copy less per get.
    fn get_data_reply(&mut self, session_id: i64, path: &str, watch: bool) -> Reply {
        self.read_data(session_id, path, watch, |n| {
            let data = n.data_opt();
            let mut out = Vec::with_capacity(4 + data.map_or(0, <[u8]>::len) + STAT_BYTES as usize);
            zab_core::jute::write_opt_buffer(&mut out, data);
            zab_core::jute::Record::write(&n.stat(), &mut out);
            Some(out)
        })
    }

    /// A getData of `path`: the node, its READ permission, the read's metrics and the
    /// data watch; `answer` takes what the reply needs from the node.
    fn read_data<T>(
        &mut self,
        session_id: i64,
        path: &str,
        watch: bool,
        answer: impl FnOnce(&NodeRef<'_>) -> T,
    ) -> Result<T, ErrorCode> {
        let n = self.tree.get(path).ok_or(ErrorCode::NoNode)?;
        check_acl(n.acl(), perms::READ, self.auth_of(session_id))?;
        let out = answer(&n);
        let bytes = path.len() as u64 + n.data().len() as u64 + STAT_BYTES;
        add_per_namespace(&mut self.metrics.read_per_namespace, path, bytes);
        if watch {
            self.watches.add_data_watch(path, session_id);
        }
        Ok(out)
    }

    /// Requests that came in one read of a connection: the path of each read among them
    /// is a chain of cache misses in the tree (index slot, node, record) that its lookup
    /// would wait on one after another, request after request. Fetched in three stages
    /// over all of them first, the misses of different requests overlap. Only hints
    /// (see [`crate::tree::DataTree::prefetch_path`]): nothing read here decides anything.
    pub(super) fn prefetch_reads(&self, reqs: &[Request]) {
        self.prefetch_paths(reqs.iter().filter_map(|r| match &r.op {
            Op::GetData(p) | Op::Exists(p) | Op::GetChildren(p) | Op::GetChildren2(p) => {
                Some(p.path.as_str())
            }
            _ => None,
        }));
    }

    /// Paths about to be looked up one after another (at most the first 64), prefetched
    /// in the tree's three stages over all of them: see [`Core::prefetch_reads`].
    pub(super) fn prefetch_paths<'a>(&self, paths: impl Iterator<Item = &'a str>) {
        const MOST: usize = 64;
        let mut hints = [None; MOST];
        let mut k = 0;
        for path in paths.take(MOST) {
            hints[k] = Some(self.tree.prefetch_path(path));
            k += 1;
        }
        if k < 2 {
            // One lookup has nothing to overlap with.
            return;
        }
        for h in hints[..k].iter_mut().flatten() {
            self.tree.prefetch_node(h);
        }
        for h in hints[..k].iter().flatten() {
            self.tree.prefetch_record(h);
        }
    }

    fn get_children(
        &mut self,
        session_id: i64,
        path: &str,
        watch: bool,
    ) -> Result<(Vec<String>, Stat), ErrorCode> {
        let n = self.tree.get(path).ok_or(ErrorCode::NoNode)?;
        check_acl(n.acl(), perms::READ, self.auth_of(session_id))?;
        let out: (Vec<String>, Stat) = (n.children().map(str::to_owned).collect(), n.stat());
        let names: usize = out.0.iter().map(String::len).sum();
        let bytes = (path.len() + names) as u64 + STAT_BYTES;
        add_per_namespace(&mut self.metrics.read_per_namespace, path, bytes);
        if watch {
            self.watches.add_child_watch(path, session_id);
        }
        Ok(out)
    }

    /// getChildren's (and with the Stat, getChildren2's) body, encoded straight from the
    /// tree: a node may have 100,000s of children, and a `String` per name made the
    /// allocator most of the cost of listing them (benches' zk-scale).
    fn children_reply(&mut self, session_id: i64, path: &str, watch: bool, stat: bool) -> Reply {
        let n = self.tree.get(path).ok_or(ErrorCode::NoNode)?;
        check_acl(n.acl(), perms::READ, self.auth_of(session_id))?;
        let mut out = Vec::with_capacity(4 + n.child_count() * 16 + 80);
        let names = n.write_children(&mut out);
        if stat {
            zab_core::jute::Record::write(&n.stat(), &mut out);
        }
        let bytes = (path.len() + names) as u64 + STAT_BYTES;
        add_per_namespace(&mut self.metrics.read_per_namespace, path, bytes);
        if watch {
            self.watches.add_child_watch(path, session_id);
        }
        Ok(Some(out))
    }

    pub(super) fn read(&mut self, req: &Request) -> Reply {
        if req.op != Op::Ping {
            self.session_ok(req.session_id)?;
        }
        if let Some(r) = self.system_read(req) {
            return r;
        }
        if let Some(r) = self.keeper_read(req) {
            return r;
        }
        let sid = req.session_id;
        match &req.op {
            Op::Ping => Ok(None),
            Op::Exists(r) => {
                if r.path.contains('\0') {
                    return Err(ErrorCode::BadArguments);
                }
                if let Some(n) = self.tree.get(&r.path) {
                    check_acl(n.acl(), perms::READ, self.auth_of(sid))?;
                }
                if r.watch {
                    self.watches.add_data_watch(&r.path, sid);
                }
                let stat = self.tree.get(&r.path).ok_or(ErrorCode::NoNode)?.stat();
                let bytes = r.path.len() as u64 + STAT_BYTES;
                add_per_namespace(&mut self.metrics.read_per_namespace, &r.path, bytes);
                body(&StatResponse { stat })
            }
            Op::GetData(r) => self.get_data_reply(sid, &r.path, r.watch),
            Op::GetChildren(r) => self.children_reply(sid, &r.path, r.watch, false),
            Op::GetChildren2(r) => self.children_reply(sid, &r.path, r.watch, true),
            Op::GetAcl(r) => {
                let n = self.tree.get(&r.path).ok_or(ErrorCode::NoNode)?;
                let ids = self.auth_of(sid);
                check_acl(n.acl(), perms::READ | perms::ADMIN, ids)?;
                let mut acl = n.acl().acl.clone();
                if check_acl(n.acl(), perms::ADMIN, ids).is_err() {
                    // Without ADMIN a client does not see digest hashes.
                    for a in &mut acl {
                        if a.id.scheme == "digest" {
                            let user = a.id.id.split(':').next().unwrap_or("").to_owned();
                            a.id.id = format!("{user}:x");
                        }
                    }
                }
                body(&GetAclResponse {
                    acl,
                    stat: n.stat(),
                })
            }
            Op::Sync(r) => body(&PathResponse {
                path: r.path.clone(),
            }),
            Op::GetAllChildrenNumber(r) => {
                let n = self.tree.get(&r.path).ok_or(ErrorCode::NoNode)?;
                check_acl(n.acl(), perms::READ, self.auth_of(sid))?;
                body(&IntResponse {
                    value: self.tree.all_children_number(&r.path),
                })
            }
            Op::GetEphemerals(r) => {
                // As ZooKeeper: a blank or "/" prefix (trimmed) means all; any
                // other is matched as sent, untrimmed.
                let all = matches!(r.path.trim(), "" | "/");
                let children: Vec<String> = self
                    .tree
                    .ephemerals(sid)
                    .filter(|p| all || p.starts_with(r.path.as_str()))
                    .cloned()
                    .collect();
                body(&ChildrenResponse { children })
            }
            Op::MultiRead(m) => {
                let mut results = Vec::with_capacity(m.ops.len());
                for o in &m.ops {
                    let res = match o {
                        MultiOp::GetChildren(r) => self
                            .get_children(sid, &r.path, r.watch)
                            .map(|(children, _)| OpResult::GetChildren { children }),
                        MultiOp::GetData(r) => self
                            .get_data(sid, &r.path, r.watch)
                            .map(|(data, stat)| OpResult::GetData { data, stat }),
                        // ClickHouse's client, once we offer MULTI_READ.
                        MultiOp::Exists(r) => self
                            .multi_exists(sid, &r.path, r.watch)
                            .map(|stat| OpResult::Exists { stat }),
                        MultiOp::FilteredList(r) => self
                            .filtered_list(sid, &r.path, r.watch, r.list_type, false, false)
                            .map(|l| OpResult::List {
                                children: l.children,
                                stat: l.stat,
                            }),
                        MultiOp::FilteredListWithStats(r) => self
                            .filtered_list(
                                sid,
                                &r.path,
                                r.watch,
                                r.list_type,
                                r.with_stat,
                                r.with_data,
                            )
                            .map(OpResult::ListWithStats),
                        // ZooKeeper fails the whole request on other ops.
                        _ => return Err(ErrorCode::MarshallingError),
                    };
                    results.push(res.unwrap_or_else(|e| OpResult::Error { err: e.code() }));
                }
                body(&MultiResponse { results })
            }
            Op::CheckWatches(r) | Op::RemoveWatches(r) => {
                // ZooKeeper fails to read a type it does not know.
                let kind =
                    WatcherKind::from_wire(r.watcher_type).ok_or(ErrorCode::MarshallingError)?;
                let found = if matches!(req.op, Op::CheckWatches(_)) {
                    self.watches.contains(&r.path, sid, kind)
                } else {
                    self.watches.remove(&r.path, sid, kind)
                };
                if found {
                    Ok(None)
                } else {
                    Err(ErrorCode::NoWatcher)
                }
            }
            Op::SetWatches(w) => {
                self.set_watches(req.conn_id, sid, w);
                Ok(None)
            }
            Op::AddWatch(r) => {
                let recursive = match r.mode {
                    add_watch_mode::PERSISTENT => false,
                    add_watch_mode::PERSISTENT_RECURSIVE => true,
                    // ZooKeeper's AddWatchMode.fromZooDef throws, and its
                    // FinalRequestProcessor answers MarshallingError.
                    _ => return Err(ErrorCode::MarshallingError),
                };
                self.watches.add_persistent(&r.path, sid, recursive);
                body(&IntResponse { value: 0 })
            }
            Op::WhoAmI => {
                let client_info = auth::apache_id_order(self.auth_of(sid))
                    .into_iter()
                    .map(|id| ClientInfo {
                        auth_scheme: id.scheme.clone(),
                        user: if id.scheme == "digest" {
                            id.id.split(':').next().unwrap_or("").to_owned()
                        } else {
                            id.id.clone()
                        },
                    })
                    .collect();
                body(&WhoAmIResponse { client_info })
            }
            Op::Unimplemented(_) => Err(ErrorCode::Unimplemented),
            _ => Err(ErrorCode::Unimplemented),
        }
    }

    /// ZooKeeper's `DataTree.setWatches`: re-register watches after a
    /// reconnect and fire at once what changed since `relative_zxid`.
    /// An event about a node the session may not read is not sent (a
    /// watcher never learns about such a node); its watch is armed instead.
    fn set_watches(&mut self, conn: u64, sid: i64, w: &SetWatches2) {
        let rz = w.relative_zxid;
        let auth = self.auth_of(sid).to_vec();
        let readable =
            |n: &crate::tree::NodeRef<'_>| check_acl(n.acl(), perms::READ, &auth).is_ok();
        let mut events: Vec<(i32, String)> = Vec::new();
        for p in &w.data_watches {
            match self.tree.get(p) {
                None => events.push((event_type::NODE_DELETED, p.clone())),
                Some(n) if n.persisted().mzxid > rz && readable(&n) => {
                    events.push((event_type::NODE_DATA_CHANGED, p.clone()))
                }
                Some(_) => self.watches.add_data_watch(p, sid),
            }
        }
        for p in &w.exist_watches {
            match self.tree.get(p) {
                Some(n) if readable(&n) => events.push((event_type::NODE_CREATED, p.clone())),
                _ => self.watches.add_data_watch(p, sid),
            }
        }
        for p in &w.child_watches {
            match self.tree.get(p) {
                None => events.push((event_type::NODE_DELETED, p.clone())),
                Some(n) if n.persisted().pzxid > rz && readable(&n) => {
                    events.push((event_type::NODE_CHILDREN_CHANGED, p.clone()))
                }
                Some(_) => self.watches.add_child_watch(p, sid),
            }
        }
        for p in &w.persistent_watches {
            self.watches.add_persistent(p, sid, false);
        }
        for p in &w.persistent_recursive_watches {
            self.watches.add_persistent(p, sid, true);
        }
        for (t, p) in events {
            self.send_event(conn, t, &p);
        }
    }
}
