//! The host name of a peer's address, as Java's `InetAddress.getHostName()` finds
//! it for Apache's `ZKTrustManager` (quorum host name verification): a reverse
//! lookup (`getnameinfo`, the system's resolver: /etc/hosts, then DNS), believed
//! only when the name resolves forward to the same address again. No name, or one
//! that does not lead back, gives `None` (Java then has the address literal, which
//! the DNS names of a certificate never match).
//!
//! Lookups run on the blocking pool with a time bound and are remembered for a
//! minute, so that a handshake's certificate check (synchronous, inside rustls) can
//! read the name [`lookup`] found just before it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long one lookup may take (reverse and forward together).
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a name (or its absence) is remembered.
const TTL: Duration = Duration::from_secs(60);

/// When each address was looked up, and the name found.
type Names = HashMap<IpAddr, (Instant, Option<String>)>;

static CACHE: Mutex<Option<Names>> = Mutex::new(None);

/// The name found for `ip` by a recent [`lookup`], if any.
pub fn cached(ip: IpAddr) -> Option<String> {
    let c = CACHE.lock().unwrap();
    c.as_ref()?
        .get(&ip)
        .filter(|(at, _)| at.elapsed() < TTL)
        .and_then(|(_, n)| n.clone())
}

/// The host name of `ip`, forward-confirmed; `None` when there is none.
pub async fn lookup(ip: IpAddr) -> Option<String> {
    {
        let c = CACHE.lock().unwrap();
        if let Some((at, n)) = c.as_ref().and_then(|m| m.get(&ip)) {
            if at.elapsed() < TTL {
                return n.clone();
            }
        }
    }
    let found = tokio::time::timeout(LOOKUP_TIMEOUT, async {
        let name = tokio::task::spawn_blocking(move || reverse(ip))
            .await
            .ok()
            .flatten()?;
        // Forward confirmation, as Java's getHostFromNameService(check=true).
        let back = tokio::net::lookup_host((name.as_str(), 0)).await.ok()?;
        let back: Vec<IpAddr> = back.map(|a| a.ip()).collect();
        if back.contains(&ip) {
            Some(name)
        } else {
            tracing::info!("{ip} is named {name}, which does not resolve back to it");
            None
        }
    })
    .await
    .unwrap_or_else(|_| {
        tracing::info!("no host name for {ip} within {LOOKUP_TIMEOUT:?}");
        None
    });
    CACHE
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .insert(ip, (Instant::now(), found.clone()));
    found
}

/// `getnameinfo(NI_NAMEREQD)`: the name the resolver has for `ip`.
fn reverse(ip: IpAddr) -> Option<String> {
    let sa = c_sockaddr(SocketAddr::new(ip, 0));
    let mut host = [0 as libc::c_char; 1025];
    // SAFETY: `sa` is a valid sockaddr of the length passed; `host` is a writable
    // buffer of the length passed; no service buffer is asked for.
    let rc = unsafe {
        libc::getnameinfo(
            &sa.0 as *const libc::sockaddr_storage as *const libc::sockaddr,
            sa.1,
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: getnameinfo wrote a NUL-terminated string into `host`.
    let name = unsafe { std::ffi::CStr::from_ptr(host.as_ptr()) };
    let name = name.to_str().ok()?.trim_end_matches('.').to_owned();
    (!name.is_empty()).then_some(name)
}

/// A socket address as C's `sockaddr_storage` and its length.
fn c_sockaddr(a: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; all zeros is a valid value.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match a {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in fits in sockaddr_storage, which is aligned for it.
            unsafe { std::ptr::write(&mut ss as *mut _ as *mut libc::sockaddr_in, sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: v6.scope_id(),
            };
            // SAFETY: sockaddr_in6 fits in sockaddr_storage, which is aligned for it.
            unsafe { std::ptr::write(&mut ss as *mut _ as *mut libc::sockaddr_in6, sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_is_localhost_and_cached() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        // /etc/hosts names 127.0.0.1 localhost on the systems the tests run on.
        assert_eq!(lookup(ip).await.as_deref(), Some("localhost"));
        assert_eq!(cached(ip).as_deref(), Some("localhost"));
        // TEST-NET-1 has no name.
        let none: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(cached(none), None);
    }
}
