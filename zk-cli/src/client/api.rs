//! The [`Client`] handle: a cheap, cloneable handle on one session whose
//! methods are ZooKeeper's operations. Each builds its request frame with the
//! chroot applied, hands it to the connection task ([`super::task`]) and
//! decodes the answer.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use zab_core::jute::Record;
use zab_core::proto::{
    add_watch_mode, create_mode, keeper_op, op, AddWatchRequest, ChildrenResponse, ClientInfo,
    Create2Response, ErrorCode, FilteredListRequest, GetAclResponse, GetChildren2Response,
    GetDataResponse, IntResponse, MultiOp, MultiRequest, MultiResponse, OpResult, PathRequest,
    PathResponse, ReconfigRequest, RemoveRecursiveRequest, SetAclRequest, StatResponse,
    WatchesRequest, WhoAmIResponse, FEATURE_FLAGS_PATH,
};
use zab_core::records::{Acl, Stat};

use super::connect_string::{Chroot, ConnectString};
use super::frame::{frame, path_watch_frame, record_frame};
use super::task::{Command, Deregister, ReplyError, Request, Shared, Task};
use super::watches::WatchKind;
use super::{ClientError, ConnectOptions, Result, State, WatchedEvent};

/// Pending requests queued to the connection task.
const REQUEST_QUEUE: usize = 4096;
/// Watch events and state changes buffered for the application.
const EVENT_QUEUE: usize = 4096;

/// A ZooKeeper session. Cheap to clone; every clone shares the connection.
#[derive(Clone)]
pub struct Client {
    tx: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    chroot: Chroot,
}

impl Client {
    /// Connect with a 30 s session timeout; see [`Client::connect_with`].
    pub async fn connect(connect_string: &str) -> Result<(Client, mpsc::Receiver<WatchedEvent>)> {
        Client::connect_with(connect_string, ConnectOptions::default()).await
    }

    /// Open a session on one of the servers of `connect_string`, trying each
    /// in turn until one answers or `opts.connect_timeout` passes. The
    /// receiver yields watch events and session state changes; the first is
    /// the `SyncConnected` of this session.
    pub async fn connect_with(
        connect_string: &str,
        opts: ConnectOptions,
    ) -> Result<(Client, mpsc::Receiver<WatchedEvent>)> {
        let cs = ConnectString::parse(connect_string)?;
        let (client, mut task, ev_rx) = Client::new_task(cs, opts.clone(), false);
        let deadline = Instant::now() + opts.connect_timeout;
        let conn = task.establish(Some(deadline)).await?;
        tokio::spawn(task.run(Some(conn)));
        Ok((client, ev_rx))
    }

    /// Open a session as the Java client does: one attempt at each host of
    /// `connect_string` in turn, then return, connected or still connecting
    /// in the background (retrying forever, `opts.connect_timeout` unused).
    /// Until a connection is up, requests wait for one, and each time a
    /// round over all hosts fails they fail with
    /// [`ClientError::ConnectionLoss`]; the same holds while reconnecting
    /// after a loss. (Java fails them after one failed host; a whole round
    /// lets a connect string whose first host is down still serve a request.)
    /// A close while connecting ends the session at once. Only a malformed
    /// connect string is an error.
    pub async fn start(
        connect_string: &str,
        opts: ConnectOptions,
    ) -> Result<(Client, mpsc::Receiver<WatchedEvent>)> {
        let cs = ConnectString::parse(connect_string)?;
        let (client, mut task, ev_rx) = Client::new_task(cs, opts, true);
        // A fresh session cannot be expired, so the round only connects or not.
        let conn = task.try_round().await.ok().flatten();
        tokio::spawn(task.run(conn));
        Ok((client, ev_rx))
    }

    fn new_task(
        cs: ConnectString,
        opts: ConnectOptions,
        fail_while_connecting: bool,
    ) -> (Client, Task, mpsc::Receiver<WatchedEvent>) {
        let (tx, rx) = mpsc::channel(REQUEST_QUEUE);
        let (ev_tx, ev_rx) = mpsc::channel(EVENT_QUEUE);
        let chroot = Chroot(cs.chroot.map(Arc::from));
        let task = Task::new(
            cs.hosts,
            chroot.clone(),
            opts,
            fail_while_connecting,
            ev_tx,
            rx,
        );
        let shared = task.shared.clone();
        (Client { tx, shared, chroot }, task, ev_rx)
    }

    pub fn state(&self) -> State {
        State::from_u8(self.shared.state.load(Ordering::Relaxed))
    }

    pub fn session_id(&self) -> i64 {
        self.shared.session_id.load(Ordering::Relaxed)
    }

    /// The session timeout the server granted.
    pub fn session_timeout(&self) -> Duration {
        Duration::from_millis(self.shared.timeout_ms.load(Ordering::Relaxed).max(0) as u64)
    }

    async fn call(
        &self,
        op: i32,
        frame: Vec<u8>,
        watch: Option<(WatchKind, String)>,
    ) -> std::result::Result<Bytes, ReplyError> {
        self.call_deregistering(op, frame, watch, None).await
    }

    async fn call_deregistering(
        &self,
        op: i32,
        frame: Vec<u8>,
        watch: Option<(WatchKind, String)>,
        deregister: Option<Deregister>,
    ) -> std::result::Result<Bytes, ReplyError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Request(Request {
                frame,
                op,
                watch,
                deregister,
                reply,
            }))
            .await
            .map_err(|_| ReplyError::Client(ClientError::Closed))?;
        rx.await
            .map_err(|_| ReplyError::Client(ClientError::Closed))?
    }

    /// Send a request; a server error names `path`, the caller's path.
    async fn request(
        &self,
        op: i32,
        frame: Vec<u8>,
        path: &str,
        watch: Option<(WatchKind, String)>,
    ) -> Result<Bytes> {
        self.call(op, frame, watch).await.map_err(|e| match e {
            ReplyError::Code(c) => server_error(c, path),
            ReplyError::Client(c) => c,
        })
    }

    /// A request whose body is just the (chrooted) path.
    async fn path_request(&self, op: i32, path: &str) -> Result<Bytes> {
        let f = record_frame(
            op,
            &PathRequest {
                path: self.chroot.prepend(path),
            },
        );
        self.request(op, f, path, None).await
    }

    /// A read that may leave a watch of `kind` on the (chrooted) path.
    async fn watch_request(
        &self,
        op: i32,
        path: &str,
        watch: bool,
        kind: WatchKind,
    ) -> std::result::Result<Bytes, ReplyError> {
        let server_path = self.chroot.prepend(path);
        let f = path_watch_frame(op, &server_path, watch);
        self.call(op, f, watch.then_some((kind, server_path))).await
    }

    async fn watch_read(&self, op: i32, path: &str, watch: bool, kind: WatchKind) -> Result<Bytes> {
        self.watch_request(op, path, watch, kind)
            .await
            .map_err(|e| match e {
                ReplyError::Code(c) => server_error(c, path),
                ReplyError::Client(c) => c,
            })
    }

    /// Create a znode; returns the path created (with its sequence suffix)
    /// and its Stat. `flags` is a [`create_mode`]; `ttl_ms > 0` sends
    /// createTTL, [`create_mode::CONTAINER`] sends createContainer, anything
    /// else create2.
    pub async fn create(
        &self,
        path: &str,
        data: &[u8],
        acl: &[Acl],
        flags: i32,
        ttl_ms: i64,
    ) -> Result<(String, Stat)> {
        self.create_nullable(path, Some(data), acl, flags, ttl_ms)
            .await
    }

    /// As [`Client::create`], with `None` sending null data (as the Java
    /// client does for `create(path, null, ...)`; such a node reads back null).
    pub async fn create_nullable(
        &self,
        path: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        flags: i32,
        ttl_ms: i64,
    ) -> Result<(String, Stat)> {
        let op = if ttl_ms > 0 || is_ttl_mode(flags) {
            op::CREATE_TTL
        } else if flags == create_mode::CONTAINER {
            op::CREATE_CONTAINER
        } else {
            op::CREATE2
        };
        let server_path = self.chroot.prepend(path);
        let f = frame(op, |v| {
            zab_core::jute::write_string(v, &server_path);
            zab_core::jute::write_opt_buffer(v, data);
            zab_core::records::write_acls(v, acl);
            v.put_i32(flags);
            if op == op::CREATE_TTL {
                v.put_i64(ttl_ms);
            }
        });
        let b = self.request(op, f, path, None).await?;
        let r = Create2Response::from_bytes(&b)?;
        Ok((self.chroot.strip(&r.path), r.stat))
    }

    pub async fn delete(&self, path: &str, version: i32) -> Result<()> {
        let f = frame(op::DELETE, |v| {
            zab_core::jute::write_string(v, &self.chroot.prepend(path));
            v.put_i32(version);
        });
        self.request(op::DELETE, f, path, None).await.map(|_| ())
    }

    /// The node's Stat, or `None` if it does not exist. With `watch`, a
    /// data watch (node exists) or an exist watch (it does not) is left.
    pub async fn exists(&self, path: &str, watch: bool) -> Result<Option<Stat>> {
        match self
            .watch_request(op::EXISTS, path, watch, WatchKind::Data)
            .await
        {
            Ok(b) => Ok(Some(StatResponse::from_bytes(&b)?.stat)),
            Err(ReplyError::Code(c)) if c == ErrorCode::NoNode.code() => Ok(None),
            Err(ReplyError::Code(c)) => Err(server_error(c, path)),
            Err(ReplyError::Client(c)) => Err(c),
        }
    }

    pub async fn get_data(&self, path: &str, watch: bool) -> Result<(Bytes, Stat)> {
        let b = self
            .watch_read(op::GET_DATA, path, watch, WatchKind::Data)
            .await?;
        let r = GetDataResponse::from_bytes(&b)?;
        Ok((r.data.unwrap_or_default(), r.stat))
    }

    /// As [`Client::get_data`], telling null data (`None`) from empty.
    pub async fn get_data_nullable(
        &self,
        path: &str,
        watch: bool,
    ) -> Result<(Option<Bytes>, Stat)> {
        let b = self
            .watch_read(op::GET_DATA, path, watch, WatchKind::Data)
            .await?;
        let r = GetDataResponse::from_bytes(&b)?;
        Ok((r.data, r.stat))
    }

    pub async fn set_data(&self, path: &str, data: &[u8], version: i32) -> Result<Stat> {
        let f = frame(op::SET_DATA, |v| {
            zab_core::jute::write_string(v, &self.chroot.prepend(path));
            zab_core::jute::write_buffer(v, data);
            v.put_i32(version);
        });
        let b = self.request(op::SET_DATA, f, path, None).await?;
        Ok(StatResponse::from_bytes(&b)?.stat)
    }

    pub async fn get_acl(&self, path: &str) -> Result<(Vec<Acl>, Stat)> {
        let b = self.path_request(op::GET_ACL, path).await?;
        let r = GetAclResponse::from_bytes(&b)?;
        Ok((r.acl, r.stat))
    }

    pub async fn set_acl(&self, path: &str, acl: &[Acl], version: i32) -> Result<Stat> {
        let f = record_frame(
            op::SET_ACL,
            &SetAclRequest {
                path: self.chroot.prepend(path),
                acl: acl.to_vec(),
                version,
            },
        );
        let b = self.request(op::SET_ACL, f, path, None).await?;
        Ok(StatResponse::from_bytes(&b)?.stat)
    }

    pub async fn get_children(&self, path: &str, watch: bool) -> Result<Vec<String>> {
        let b = self
            .watch_read(op::GET_CHILDREN, path, watch, WatchKind::Child)
            .await?;
        Ok(ChildrenResponse::from_bytes(&b)?.children)
    }

    pub async fn get_children2(&self, path: &str, watch: bool) -> Result<(Vec<String>, Stat)> {
        let b = self
            .watch_read(op::GET_CHILDREN2, path, watch, WatchKind::Child)
            .await?;
        let r = GetChildren2Response::from_bytes(&b)?;
        Ok((r.children, r.stat))
    }

    /// ClickHouse Keeper's feature flags as the server offers them
    /// (`/keeper/feature_flags`, read without the chroot), or `None` from a
    /// server without them (Apache ZooKeeper answers NoNode).
    pub async fn keeper_feature_flags(&self) -> Result<Option<Vec<u8>>> {
        let f = path_watch_frame(op::GET_DATA, FEATURE_FLAGS_PATH, false);
        match self.call(op::GET_DATA, f, None).await {
            Ok(b) => Ok(Some(
                GetDataResponse::from_bytes(&b)?
                    .data
                    .unwrap_or_default()
                    .to_vec(),
            )),
            Err(ReplyError::Code(c)) if c == ErrorCode::NoNode.code() => Ok(None),
            Err(ReplyError::Code(c)) => Err(server_error(c, FEATURE_FLAGS_PATH)),
            Err(ReplyError::Client(c)) => Err(c),
        }
    }

    /// Keeper's removeRecursive (503): the node and its subtree in one
    /// request, refused with NotEmpty when it holds more than `limit` nodes.
    /// Ok when there is no such node, as Keeper answers.
    pub async fn remove_recursive(&self, path: &str, limit: u32) -> Result<()> {
        let op = keeper_op::REMOVE_RECURSIVE;
        let f = record_frame(
            op,
            &RemoveRecursiveRequest {
                path: self.chroot.prepend(path),
                limit,
            },
        );
        self.request(op, f, path, None).await.map(|_| ())
    }

    /// Keeper's filteredList (500): the children that are persistent or
    /// ephemeral ([`list_type`]), with the node's Stat; `watch` leaves a
    /// child watch as getChildren does.
    pub async fn filtered_list(
        &self,
        path: &str,
        list_type: u8,
        watch: bool,
    ) -> Result<(Vec<String>, Stat)> {
        let op = keeper_op::FILTERED_LIST;
        let server_path = self.chroot.prepend(path);
        let f = record_frame(
            op,
            &FilteredListRequest {
                path: server_path.clone(),
                watch,
                list_type,
            },
        );
        let b = self
            .call(op, f, watch.then_some((WatchKind::Child, server_path)))
            .await
            .map_err(|e| match e {
                ReplyError::Code(c) => server_error(c, path),
                ReplyError::Client(c) => c,
            })?;
        let r = GetChildren2Response::from_bytes(&b)?;
        Ok((r.children, r.stat))
    }

    /// Returns the path the server synced.
    pub async fn sync(&self, path: &str) -> Result<String> {
        let b = self.path_request(op::SYNC, path).await?;
        Ok(self.chroot.strip(&PathResponse::from_bytes(&b)?.path))
    }

    /// The operations with their paths chrooted.
    fn chroot_ops(&self, mut ops: Vec<MultiOp>) -> Vec<MultiOp> {
        if self.chroot.0.is_some() {
            for o in &mut ops {
                let p = match o {
                    MultiOp::Create { req, .. } => &mut req.path,
                    MultiOp::CreateTtl(r) => &mut r.path,
                    MultiOp::Delete(r) => &mut r.path,
                    MultiOp::SetData(r) => &mut r.path,
                    MultiOp::Check(r) => &mut r.path,
                    MultiOp::GetChildren(r) | MultiOp::GetData(r) => &mut r.path,
                    MultiOp::CheckNotExists(r) => &mut r.path,
                    MultiOp::CheckStat(r) => &mut r.path,
                    MultiOp::CreateIfNotExists(r) => &mut r.path,
                    MultiOp::RemoveRecursive(r) => &mut r.path,
                    MultiOp::TryRemove(r) => &mut r.path,
                    MultiOp::Exists(r) => &mut r.path,
                    MultiOp::FilteredList(r) => &mut r.path,
                    MultiOp::FilteredListWithStats(r) => &mut r.path,
                };
                *p = self.chroot.prepend(p);
            }
        }
        ops
    }

    /// Run `ops` atomically. On failure the error is the first operation's
    /// code that is not a rollback marker, with that operation's path.
    pub async fn multi(&self, ops: Vec<MultiOp>) -> Result<Vec<OpResult>> {
        let paths: Vec<String> = ops.iter().map(|o| o.path().to_owned()).collect();
        let req = MultiRequest {
            ops: self.chroot_ops(ops),
        };
        let b = match self
            .call(op::MULTI, record_frame(op::MULTI, &req), None)
            .await
        {
            Ok(b) => b,
            // A failed multi still carries its per-operation results; ZooKeeper
            // puts the error in the header too. Either way, read the body.
            Err(ReplyError::Code(c)) => return Err(server_error(c, "")),
            Err(ReplyError::Client(c)) => return Err(c),
        };
        let mut results = MultiResponse::from_bytes(&b)?.results;
        for (i, r) in results.iter_mut().enumerate() {
            match r {
                OpResult::Error { err }
                    if *err != 0 && *err != ErrorCode::RuntimeInconsistency.code() =>
                {
                    let p = paths.get(i).map(String::as_str).unwrap_or("");
                    return Err(server_error(*err, p));
                }
                OpResult::Create { path } | OpResult::Create2 { path, .. } => {
                    *path = self.chroot.strip(path);
                }
                _ => {}
            }
        }
        Ok(results)
    }

    /// Run read operations (getData, getChildren) in one request; each
    /// result may be an error of its own.
    pub async fn multi_read(&self, ops: Vec<MultiOp>) -> Result<Vec<OpResult>> {
        let req = MultiRequest {
            ops: self.chroot_ops(ops),
        };
        let b = self
            .request(op::MULTI_READ, record_frame(op::MULTI_READ, &req), "", None)
            .await?;
        Ok(MultiResponse::from_bytes(&b)?.results)
    }

    /// Add authentication to the session; waits for the server's answer.
    /// The credentials are sent again after every reconnect.
    pub async fn add_auth(&self, scheme: &str, auth: &[u8]) -> Result<()> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Auth {
                scheme: scheme.to_owned(),
                auth: Bytes::copy_from_slice(auth),
                reply,
            })
            .await
            .map_err(|_| ClientError::Closed)?;
        match rx.await.map_err(|_| ClientError::Closed)? {
            Ok(_) => Ok(()),
            Err(ReplyError::Code(c)) if c == ErrorCode::AuthFailed.code() => {
                Err(ClientError::AuthFailed)
            }
            Err(ReplyError::Code(c)) => Err(server_error(c, "")),
            Err(ReplyError::Client(c)) => Err(c),
        }
    }

    /// Add a persistent (or persistent recursive) watch; `mode` is an
    /// [`add_watch_mode`].
    pub async fn add_watch(&self, path: &str, mode: i32) -> Result<()> {
        let server_path = self.chroot.prepend(path);
        let f = record_frame(
            op::ADD_WATCH,
            &AddWatchRequest {
                path: server_path.clone(),
                mode,
            },
        );
        let kind = if mode == add_watch_mode::PERSISTENT_RECURSIVE {
            WatchKind::PersistentRecursive
        } else {
            WatchKind::Persistent
        };
        self.request(op::ADD_WATCH, f, path, Some((kind, server_path)))
            .await
            .map(|_| ())
    }

    /// Remove this session's watches of `watcher_type` on `path`: the
    /// server's answer, nothing more (no removal events; see
    /// [`Client::remove_all_watches`] for the Java client's behaviour).
    pub async fn remove_watches(&self, path: &str, watcher_type: i32) -> Result<()> {
        let server_path = self.chroot.prepend(path);
        let f = record_frame(
            op::REMOVE_WATCHES,
            &WatchesRequest {
                path: server_path.clone(),
                watcher_type,
            },
        );
        self.request(op::REMOVE_WATCHES, f, path, None).await?;
        let _ = self
            .tx
            .send(Command::Forget {
                path: server_path,
                watcher_type,
            })
            .await;
        Ok(())
    }

    /// Java's `removeAllWatches(path, watcherType, local)`: ask the server to
    /// remove this session's watches of `watcher_type` on `path`, then remove
    /// them from the client's registry and deliver one `DataWatchRemoved`,
    /// `ChildWatchRemoved` or `PersistentWatchRemoved` event per kind removed.
    /// The client must hold such a watch, or the answer is `NoWatcher`. With
    /// `local`, the watches are removed from the client even when the server
    /// cannot be asked (no connection) or refuses; the events then carry
    /// state `Disconnected` after a connection loss, and the call succeeds.
    pub async fn remove_all_watches(
        &self,
        path: &str,
        watcher_type: i32,
        local: bool,
    ) -> Result<()> {
        let server_path = self.chroot.prepend(path);
        let f = record_frame(
            op::REMOVE_WATCHES,
            &WatchesRequest {
                path: server_path.clone(),
                watcher_type,
            },
        );
        let d = Deregister {
            server_path,
            client_path: path.to_owned(),
            watcher_type,
            local,
        };
        match self
            .call_deregistering(op::REMOVE_WATCHES, f, None, Some(d))
            .await
        {
            Ok(_) => Ok(()),
            Err(ReplyError::Code(c)) => Err(server_error(c, path)),
            Err(ReplyError::Client(c)) => Err(c),
        }
    }

    /// Whether the server holds a watch of `watcher_type` on `path` for this session.
    pub async fn check_watches(&self, path: &str, watcher_type: i32) -> Result<()> {
        let f = record_frame(
            op::CHECK_WATCHES,
            &WatchesRequest {
                path: self.chroot.prepend(path),
                watcher_type,
            },
        );
        self.request(op::CHECK_WATCHES, f, path, None)
            .await
            .map(|_| ())
    }

    /// This session's ephemeral nodes whose path starts with `prefix`. As
    /// with the Java client, a chroot applies neither to the prefix nor to
    /// the paths returned: both are the server's.
    pub async fn get_ephemerals(&self, prefix: &str) -> Result<Vec<String>> {
        let f = record_frame(
            op::GET_EPHEMERALS,
            &PathRequest {
                path: prefix.to_owned(),
            },
        );
        let b = self.request(op::GET_EPHEMERALS, f, prefix, None).await?;
        Ok(ChildrenResponse::from_bytes(&b)?.children)
    }

    pub async fn get_all_children_number(&self, path: &str) -> Result<i32> {
        let b = self.path_request(op::GET_ALL_CHILDREN_NUMBER, path).await?;
        Ok(IntResponse::from_bytes(&b)?.value)
    }

    pub async fn whoami(&self) -> Result<Vec<ClientInfo>> {
        let b = self
            .request(op::WHO_AM_I, frame(op::WHO_AM_I, |_| {}), "", None)
            .await?;
        Ok(WhoAmIResponse::from_bytes(&b)?.client_info)
    }

    /// The ensemble configuration: getData of `/zookeeper/config`, which a
    /// chroot does not apply to.
    pub async fn get_config(&self, watch: bool) -> Result<(Bytes, Stat)> {
        const CONFIG_NODE: &str = "/zookeeper/config";
        let f = path_watch_frame(op::GET_DATA, CONFIG_NODE, watch);
        let w = watch.then(|| (WatchKind::Data, CONFIG_NODE.to_owned()));
        let b = self.request(op::GET_DATA, f, CONFIG_NODE, w).await?;
        let r = GetDataResponse::from_bytes(&b)?;
        Ok((r.data.unwrap_or_default(), r.stat))
    }

    /// Reconfigure the ensemble; returns the new configuration and its Stat.
    pub async fn reconfig(
        &self,
        joining: Option<&str>,
        leaving: Option<&str>,
        new_members: Option<&str>,
        from_config: i64,
    ) -> Result<(Bytes, Stat)> {
        let f = record_frame(
            op::RECONFIG,
            &ReconfigRequest {
                joining_servers: joining.map(str::to_owned),
                leaving_servers: leaving.map(str::to_owned),
                new_members: new_members.map(str::to_owned),
                cur_config_id: from_config,
            },
        );
        let b = self.request(op::RECONFIG, f, "", None).await?;
        let r = GetDataResponse::from_bytes(&b)?;
        Ok((r.data.unwrap_or_default(), r.stat))
    }

    /// Close the session and the connection. Every clone becomes unusable.
    pub async fn close(&self) -> Result<()> {
        let f = frame(op::CLOSE_SESSION, |_| {});
        match self.request(op::CLOSE_SESSION, f, "", None).await {
            Ok(_) | Err(ClientError::Closed) | Err(ClientError::ConnectionLoss) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn is_ttl_mode(flags: i32) -> bool {
    flags == create_mode::PERSISTENT_WITH_TTL
        || flags == create_mode::PERSISTENT_SEQUENTIAL_WITH_TTL
}

/// A result code as the error the caller sees; `path` is the caller's.
fn server_error(code: i32, path: &str) -> ClientError {
    match ErrorCode::from_code(code) {
        Some(ErrorCode::ConnectionLoss) => ClientError::ConnectionLoss,
        Some(ErrorCode::SessionExpired) => ClientError::SessionExpired,
        c => ClientError::Server {
            code: c.unwrap_or(ErrorCode::SystemError),
            path: path.to_owned(),
        },
    }
}
