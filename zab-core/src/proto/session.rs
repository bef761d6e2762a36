//! The operations on the session itself: keep-alive, close, authentication
//! and asking who the session is.
//!
//! ```text
//! ; operation (op code)                 request                 -> response body
//! ping (11, xid -2)                     none                    -> none
//! closeSession (-11)                    none                    -> none
//! auth (100)                            AuthPacket              -> none (AuthFailed ends the session)
//! sasl (102)                            SaslRequest             -> (not supported: the connection closes)
//! whoAmI (107)                          none                    -> WhoAmIResponse
//!
//! AuthPacket     := int(type) ustring(scheme) buffer(auth)
//! SaslRequest    := buffer(token)
//! ClientInfo     := ustring(authScheme) ustring(user)
//! WhoAmIResponse := vector<ClientInfo>(clientInfo)
//! ```
//!
//! The ping reply has xid -2 whatever the ping carried; the auth reply carries
//! the request's xid (-4 from the Java client, an ordinary one from others).

use bytes::Bytes;

use crate::jute::record;

record! {
    AuthPacket { auth_type: i32 = int, scheme: String = ustring, auth: Bytes = buffer }

    SaslRequest { token: Bytes = buffer }

    ClientInfo { auth_scheme: String = ustring, user: String = ustring }

    /// whoAmI's answer.
    WhoAmIResponse {
        // A ClientInfo is two strings: at least 8 bytes on the wire.
        client_info: Vec<ClientInfo> = vector(8),
    }
}
