//! sasl (102) and enforced authentication, answered at once outside the pipeline as
//! Apache's `ZooKeeperServer.processPacket` / `processSasl` answer them. The exchange
//! itself is [`crate::sasl`]'s; here it meets the connection and the session.
//!
//! ```text
//! SetSASLResponse := buffer(token)     -1 for none, as on a failure
//! ```

use zab_core::proto::{ReplyHeader, SaslRequest};
use zab_core::records::ErrorCode;

use super::pipeline::frame;
use super::Core;
use crate::request::Request;
use crate::sasl::Step;

impl Core {
    /// One SASL token from the client: the mechanism's answer with the request's xid and
    /// zxid 0; on success the session gets `sasl:<name>` (and `super` for a
    /// `zookeeper.superUser`). A failed exchange is answered AuthFailed (-115), or
    /// SessionClosedRequireAuth (-124) when SASL is required, with a null token, and
    /// the connection is closed, unless `zookeeper.allowSaslFailedClients` keeps it.
    pub(super) fn on_sasl(&mut self, req: &Request, r: &SaslRequest) {
        let security = self.security.clone();
        let Some(login) = &security.login else {
            tracing::warn!(
                "sasl request from {}, but no JAAS server section configures SASL; closing the connection",
                self.peer_addr(req.conn_id)
            );
            return self.refuse_sasl(req, ErrorCode::AuthFailed);
        };
        let Some(conn) = self.conns.get_mut(&req.conn_id) else {
            return;
        };
        let mech = conn.sasl.get_or_insert_with(|| login.new_mechanism());
        let mech_name = mech.name();
        match mech.evaluate(&r.token) {
            Ok(Step::Challenge(token)) => self.sasl_reply(req, 0, Some(&token)),
            Ok(Step::Complete {
                token,
                authentication_id,
            }) => {
                let ids = security.ids_for(&authentication_id);
                tracing::info!(
                    "session 0x{:x}: {mech_name} authenticated {authentication_id:?}{}",
                    req.session_id,
                    if ids.len() > 1 { " as super user" } else { "" }
                );
                if let Some(s) = self.sessions.get_mut(&req.session_id) {
                    for id in ids {
                        if !s.auth.contains(&id) {
                            s.auth.push(id);
                        }
                    }
                }
                self.sasl_reply(req, 0, token.as_deref());
            }
            Err(e) => {
                self.metrics.auth_failed += 1;
                tracing::warn!(
                    "client {} failed to SASL authenticate: {e}",
                    self.peer_addr(req.conn_id)
                );
                let required = security.enforce.sasl_required();
                if security.allow_failed_clients && !required {
                    tracing::warn!("keeping the connection despite the SASL failure (zookeeper.allowSaslFailedClients)");
                    return self.sasl_reply(req, 0, None);
                }
                let code = if required {
                    ErrorCode::SessionClosedRequireSaslAuth
                } else {
                    ErrorCode::AuthFailed
                };
                self.refuse_sasl(req, code);
            }
        }
    }

    fn peer_addr(&self, conn_id: u64) -> String {
        self.conns
            .get(&conn_id)
            .map(|c| c.handle.addr.to_string())
            .unwrap_or_else(|| "(gone)".into())
    }

    /// A SetSASLResponse with the request's xid and zxid 0.
    fn sasl_reply(&mut self, req: &Request, err: i32, token: Option<&[u8]>) {
        let body = |out: &mut Vec<u8>| match token {
            Some(t) => {
                out.extend_from_slice(&(t.len() as i32).to_be_bytes());
                out.extend_from_slice(t);
            }
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
        };
        let f = frame(
            &ReplyHeader {
                xid: req.xid,
                zxid: 0,
                err,
            },
            Some(&body),
        );
        self.send(req.conn_id, f);
    }

    fn refuse_sasl(&mut self, req: &Request, code: ErrorCode) {
        self.sasl_reply(req, code.code(), None);
        self.close_conn(req.conn_id);
    }

    /// Apache's `AuthenticationHelper.enforceAuthentication`: with enforcement on, a
    /// request (anything but auth and sasl, pings and closeSession included) from a
    /// session without an id of the required schemes is answered
    /// SessionClosedRequireAuth (-124) with zxid 0 and no body, and the connection is
    /// closed; the session itself expires later, as in Apache. True when it was refused.
    pub(super) fn refuse_unauthenticated(&mut self, req: &Request) -> bool {
        let enforce = &self.security.enforce;
        if enforce.allows(self.auth_of(req.session_id)) {
            return false;
        }
        let schemes: Vec<&str> = self
            .auth_of(req.session_id)
            .iter()
            .map(|i| i.scheme.as_str())
            .collect();
        tracing::error!(
            "client authentication scheme(s) {schemes:?} does not match with any of the expected authentication scheme {:?}, closing session 0x{:x}",
            enforce.schemes,
            req.session_id
        );
        let f = frame(
            &ReplyHeader {
                xid: req.xid,
                zxid: 0,
                err: ErrorCode::SessionClosedRequireSaslAuth.code(),
            },
            None,
        );
        self.send(req.conn_id, f);
        self.close_conn(req.conn_id);
        true
    }
}
