//! Authentication schemes and ACL checks, as ZooKeeper's providers do them:
//! `world`, `auth`, `digest` (`user:base64(sha1(user:password))`), `ip` (with
//! CIDR), a `super` identity configured with a digest, and `sasl` when its provider
//! is registered ([`register_sasl_provider`]; the exchange is [`crate::sasl`]'s).

use base64::Engine;
use sha1::{Digest, Sha1};
use std::net::IpAddr;
use std::sync::RwLock;
use zab_core::records::{Acl, ErrorCode, Id};

/// The `sasl` scheme's provider, Apache's `SASLAuthenticationProvider`, which exists
/// only when `zookeeper.authProvider.N` names it: without it a `sasl` ACL is invalid
/// and a `sasl` id neither matches nor stands in for `auth`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SaslProvider {
    /// `zookeeper.letAnySaslUserDoX`: an ACL id every SASL-authenticated user matches.
    pub let_any_user_do_x: Option<String>,
}

/// Apache's provider registry is process-wide (and reads system properties); so is
/// this one, set once as the server starts.
static SASL_PROVIDER: RwLock<Option<SaslProvider>> = RwLock::new(None);

/// Registers (or with `None` removes) the `sasl` scheme.
pub fn register_sasl_provider(p: Option<SaslProvider>) {
    *SASL_PROVIDER.write().unwrap_or_else(|e| e.into_inner()) = p;
}

fn sasl_registered() -> bool {
    SASL_PROVIDER
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .is_some()
}

/// `SASLAuthenticationProvider.matches`: the same name, an authenticated name `super`,
/// or the ACL id `zookeeper.letAnySaslUserDoX` names.
pub fn sasl_matches(p: Option<&SaslProvider>, auth_id: &str, acl_id: &str) -> bool {
    let Some(p) = p else {
        return false;
    };
    auth_id == "super" || auth_id == acl_id || p.let_any_user_do_x.as_deref() == Some(acl_id)
}

/// `SASLAuthenticationProvider.isValid`: a name Java's `KerberosName` accepts, that is
/// `name[/host]@realm` (no further '/' or '@') or anything without '@'.
pub fn valid_sasl_id(id: &str) -> bool {
    if !id.contains('@') {
        return true;
    }
    let (principal, realm) = id.rsplit_once('@').unwrap_or((id, ""));
    if realm.contains('/') || principal.contains('@') {
        return false;
    }
    principal.matches('/').count() <= 1
}

/// Java's `String.hashCode` (over UTF-16 code units).
fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

/// The order in which Apache lists a connection's ids (whoAmI): they are kept in a
/// set over a `ConcurrentHashMap` (16 bins, doubled past three quarters full), walked
/// bin by bin, each bin in insertion order; an `Id`'s hash is jute's
/// `37 * (37 * 17 + scheme.hashCode()) + id.hashCode()`.
pub fn apache_id_order(ids: &[Id]) -> Vec<&Id> {
    let mut bins = 16usize;
    while ids.len() > bins * 3 / 4 {
        bins *= 2;
    }
    let bin = |id: &Id| {
        let h = 37i32
            .wrapping_mul(
                37i32
                    .wrapping_mul(17)
                    .wrapping_add(java_string_hash(&id.scheme)),
            )
            .wrapping_add(java_string_hash(&id.id));
        let spread = (h ^ ((h as u32) >> 16) as i32) & 0x7fff_ffff;
        spread as usize & (bins - 1)
    };
    let mut out: Vec<&Id> = ids.iter().collect();
    out.sort_by_key(|id| bin(id));
    out
}

/// `user:base64(sha1("user:password"))`, the id a digest ACL names.
pub fn digest_id(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap_or("");
    let hash = Sha1::digest(user_password.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// Whether a scheme's authenticated ids may stand in for an `auth` ACL.
fn is_authenticated_scheme(scheme: &str) -> bool {
    // ZooKeeper's providers: digest and sasl say yes, ip says no; `super`
    // has no provider, so it is skipped.
    match scheme {
        "digest" | "x509" => true,
        "sasl" => sasl_registered(),
        _ => false,
    }
}

fn valid_ip_id(id: &str) -> bool {
    let (addr, bits) = match id.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (id, None),
    };
    let Ok(ip) = addr.parse::<IpAddr>() else {
        return false;
    };
    match bits {
        None => true,
        Some(b) => match b.parse::<u32>() {
            Ok(n) => n <= if ip.is_ipv4() { 32 } else { 128 },
            Err(_) => false,
        },
    }
}

/// Whether an ACL id is well formed for its scheme (ZooKeeper's `isValid`).
/// `super` is no scheme an ACL may name: ZooKeeper has no provider for it.
pub fn is_valid_id(id: &Id) -> bool {
    match id.scheme.as_str() {
        "world" => id.id == "anyone",
        "digest" => id.id.split(':').count() == 2,
        "ip" => valid_ip_id(&id.id),
        "sasl" => sasl_registered() && valid_sasl_id(&id.id),
        // ZooKeeper's X509AuthenticationProvider: whatever X500Principal accepts.
        "x509" => crate::tls::dn::is_valid_x500_name(&id.id),
        _ => false,
    }
}

fn ip_matches(client: &str, acl_id: &str) -> bool {
    let Ok(client) = client.parse::<IpAddr>() else {
        return false;
    };
    let (addr, bits) = match acl_id.split_once('/') {
        Some((a, b)) => (a, b.parse::<u32>().ok()),
        None => (acl_id, None),
    };
    let Ok(net) = addr.parse::<IpAddr>() else {
        return false;
    };
    let to_bytes = |ip: IpAddr| match ip {
        IpAddr::V4(v) => v.octets().to_vec(),
        IpAddr::V6(v) => v.octets().to_vec(),
    };
    let (c, n) = (to_bytes(client), to_bytes(net));
    if c.len() != n.len() {
        return false;
    }
    let bits = bits.unwrap_or(c.len() as u32 * 8).min(c.len() as u32 * 8);
    for i in 0..bits as usize {
        let mask = 0x80u8 >> (i % 8);
        if (c[i / 8] & mask) != (n[i / 8] & mask) {
            return false;
        }
    }
    true
}

fn matches(scheme: &str, auth_id: &str, acl_id: &str) -> bool {
    match scheme {
        "ip" => ip_matches(auth_id, acl_id),
        "digest" | "super" | "x509" => auth_id == acl_id,
        "sasl" => sasl_matches(
            SASL_PROVIDER
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref(),
            auth_id,
            acl_id,
        ),
        _ => false,
    }
}

/// ZooKeeper's `checkACL`: does any of `ids` grant any bit of `perm`?
pub fn check_acl(acl: &[Acl], perm: i32, ids: &[Id]) -> Result<(), ErrorCode> {
    if acl.is_empty() || ids.iter().any(|i| i.scheme == "super") {
        return Ok(());
    }
    for a in acl {
        if a.perms & perm == 0 {
            continue;
        }
        if a.id.scheme == "world" && a.id.id == "anyone" {
            return Ok(());
        }
        if ids
            .iter()
            .any(|i| i.scheme == a.id.scheme && matches(&i.scheme, &i.id, &a.id.id))
        {
            return Ok(());
        }
    }
    Err(ErrorCode::NoAuth)
}

/// ZooKeeper's `fixupACL`: refuse empty or malformed ACLs and expand `auth`
/// into the session's authenticated ids.
pub fn fixup_acl(acls: &[Acl], ids: &[Id]) -> Result<Vec<Acl>, ErrorCode> {
    let mut uniq: Vec<&Acl> = Vec::new();
    for a in acls {
        if !uniq.contains(&a) {
            uniq.push(a);
        }
    }
    if uniq.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let mut out = Vec::new();
    for a in uniq {
        if a.id.scheme == "world" && a.id.id == "anyone" {
            out.push(a.clone());
        } else if a.id.scheme == "auth" {
            let mut any = false;
            for cid in ids {
                if is_authenticated_scheme(&cid.scheme) {
                    any = true;
                    out.push(Acl {
                        perms: a.perms,
                        id: cid.clone(),
                    });
                }
            }
            if !any {
                return Err(ErrorCode::InvalidAcl);
            }
        } else if is_valid_id(&a.id) {
            out.push(a.clone());
        } else {
            return Err(ErrorCode::InvalidAcl);
        }
    }
    Ok(out)
}

/// The outcome of an `auth` packet.
pub enum AuthOutcome {
    /// Ids to add to the session.
    Added(Vec<Id>),
    /// Unknown scheme or bad credentials: ZooKeeper answers AuthFailed and closes.
    Failed,
}

/// Handle `addauth scheme auth` from a client at `client_ip`.
pub fn authenticate(
    scheme: &str,
    auth: &[u8],
    super_digest: Option<&str>,
    client_ip: IpAddr,
) -> AuthOutcome {
    match scheme {
        "digest" => {
            let Ok(s) = std::str::from_utf8(auth) else {
                return AuthOutcome::Failed;
            };
            let id = digest_id(s);
            let mut ids = vec![Id::new("digest", &id)];
            if super_digest == Some(id.as_str()) {
                ids.push(Id::new("super", ""));
            }
            AuthOutcome::Added(ids)
        }
        // ZooKeeper's IPAuthenticationProvider ignores what the client sends
        // and adds the address it connects from.
        "ip" => AuthOutcome::Added(vec![Id::new("ip", &client_ip.to_string())]),
        _ => AuthOutcome::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zab_core::records::perms;

    #[test]
    fn digest_matches_zookeeper() {
        // As ZooKeeper's DigestAuthenticationProvider prints it for super:superpw.
        assert_eq!(
            digest_id("super:superpw"),
            "super:g9oN2HttPfn8MMWJZ2r45Np/LIA="
        );
    }

    #[test]
    fn sasl_ids_as_apache_matches_and_validates_them() {
        let p = SaslProvider {
            let_any_user_do_x: Some("anysasl".into()),
        };
        assert!(sasl_matches(Some(&p), "bob", "bob"));
        assert!(sasl_matches(Some(&p), "super", "bob"));
        assert!(sasl_matches(Some(&p), "eve", "anysasl"));
        assert!(!sasl_matches(Some(&p), "eve", "bob"));
        assert!(!sasl_matches(None, "bob", "bob"));
        for ok in ["bob", "a/b", "zk/host@EXAMPLE.COM", "bob@R", "@", "a/b/c"] {
            assert!(valid_sasl_id(ok), "{ok}");
        }
        for bad in ["a@b@c", "a/b/c@R", "a@R/x"] {
            assert!(!valid_sasl_id(bad), "{bad}");
        }
    }

    #[test]
    fn ids_listed_in_apaches_order() {
        // As Apache 3.8's whoAmI lists them after SASL (sasl before ip).
        let ids = [Id::new("ip", "127.0.0.1"), Id::new("sasl", "bob")];
        let order: Vec<&str> = apache_id_order(&ids)
            .iter()
            .map(|i| i.scheme.as_str())
            .collect();
        assert_eq!(order, ["sasl", "ip"]);
        assert_eq!(java_string_hash("hello"), 99162322);
        assert_eq!(
            java_string_hash("127.0.0.1"),
            "127.0.0.1"
                .bytes()
                .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
        );
    }

    #[test]
    fn ip_cidr_matches() {
        assert!(ip_matches("127.0.0.1", "127.0.0.0/8"));
        assert!(ip_matches("10.1.2.3", "10.1.2.3"));
        assert!(!ip_matches("10.1.2.4", "10.1.2.3"));
        assert!(!ip_matches("192.168.1.1", "127.0.0.0/8"));
    }

    #[test]
    fn check_acl_any_bit_grants() {
        let acl = vec![Acl {
            perms: perms::READ,
            id: Id::new("digest", "u:x"),
        }];
        assert!(check_acl(
            &acl,
            perms::READ | perms::ADMIN,
            &[Id::new("digest", "u:x")]
        )
        .is_ok());
        assert_eq!(
            check_acl(&acl, perms::WRITE, &[Id::new("digest", "u:x")]),
            Err(ErrorCode::NoAuth)
        );
        assert!(check_acl(&acl, perms::WRITE, &[Id::new("super", "")]).is_ok());
    }

    #[test]
    fn addauth_ip_adds_the_client_address_and_super_is_no_acl_scheme() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let AuthOutcome::Added(ids) = authenticate("ip", b"10.9.8.7", None, ip) else {
            panic!("addauth ip was refused")
        };
        assert_eq!(ids, vec![Id::new("ip", "127.0.0.1")]);
        assert!(matches!(
            authenticate("world", b"anyone", None, ip),
            AuthOutcome::Failed
        ));
        let sup = vec![Acl {
            perms: perms::ALL,
            id: Id::new("super", ""),
        }];
        assert_eq!(fixup_acl(&sup, &[]), Err(ErrorCode::InvalidAcl));
        // A super user's `auth` ACL names its digest, not `super`.
        let auth = vec![Acl {
            perms: perms::ALL,
            id: Id::new("auth", ""),
        }];
        let ids = [Id::new("digest", "super:h"), Id::new("super", "")];
        assert_eq!(
            fixup_acl(&auth, &ids),
            Ok(vec![Acl {
                perms: perms::ALL,
                id: Id::new("digest", "super:h")
            }])
        );
    }

    #[test]
    fn fixup_expands_auth_and_refuses_bad_ids() {
        let auth = vec![Acl {
            perms: perms::ALL,
            id: Id::new("auth", ""),
        }];
        assert_eq!(
            fixup_acl(&auth, &[Id::new("ip", "127.0.0.1")]),
            Err(ErrorCode::InvalidAcl)
        );
        let ok = fixup_acl(
            &auth,
            &[Id::new("ip", "127.0.0.1"), Id::new("digest", "u:h")],
        )
        .unwrap();
        assert_eq!(
            ok,
            vec![Acl {
                perms: perms::ALL,
                id: Id::new("digest", "u:h")
            }]
        );
        assert_eq!(fixup_acl(&[], &[]), Err(ErrorCode::InvalidAcl));
        let bad = vec![Acl {
            perms: 1,
            id: Id::new("digest", "nocolon"),
        }];
        assert_eq!(fixup_acl(&bad, &[]), Err(ErrorCode::InvalidAcl));
        let bad = vec![Acl {
            perms: 1,
            id: Id::new("foo", "x"),
        }];
        assert_eq!(fixup_acl(&bad, &[]), Err(ErrorCode::InvalidAcl));
    }
}
