//! Connect strings, `host:port[,host:port...][/chroot]`, parsed as Java's
//! `ConnectStringParser` parses them, and the chroot applied as the Java
//! client applies it: prefixed to every path on the way out, stripped from
//! the paths that come back.

use std::sync::Arc;

use zab_core::path::validate_path;

use super::{ClientError, Result};

/// The hosts of a connect string `host:port[,host:port...][/chroot]`, each
/// with a port (2181 when none is given); see [`ConnectString::parse`].
pub fn parse_connect_string(s: &str) -> Result<Vec<String>> {
    ConnectString::parse(s).map(|c| c.hosts)
}

/// A parsed connect string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectString {
    /// `host:port`, in the order given.
    pub hosts: Vec<String>,
    /// Everything from the first `/` on, as Java's `ConnectStringParser`
    /// takes it; `None` when absent or just `/`.
    pub chroot: Option<String>,
}

impl ConnectString {
    /// Parse `host:port[,host:port...][/chroot]`; a chroot must be a valid
    /// znode path.
    pub fn parse(s: &str) -> Result<ConnectString> {
        let bad = || ClientError::BadConnectString(s.to_owned());
        let (hosts, chroot) = match s.find('/') {
            Some(i) if s.len() - i == 1 => (&s[..i], None),
            Some(i) => {
                validate_path(&s[i..]).map_err(|_| bad())?;
                (&s[..i], Some(s[i..].to_owned()))
            }
            None => (s, None),
        };
        Ok(ConnectString {
            hosts: parse_hosts(hosts).ok_or_else(bad)?,
            chroot,
        })
    }
}

fn parse_hosts(s: &str) -> Option<Vec<String>> {
    let hosts: Vec<String> = s
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| {
            if h.rsplit_once(':')
                .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
            {
                h.to_owned()
            } else {
                format!("{h}:2181")
            }
        })
        .collect();
    (!hosts.is_empty()).then_some(hosts)
}

/// The chroot of a connect string, applied as the Java client applies it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Chroot(pub(crate) Option<Arc<str>>);

impl Chroot {
    /// Java's `prependChroot`: the path the server sees.
    pub(crate) fn prepend(&self, client_path: &str) -> String {
        match &self.0 {
            None => client_path.to_owned(),
            Some(c) if client_path == "/" => c.to_string(),
            Some(c) => format!("{c}{client_path}"),
        }
    }

    /// Java's `stripChroot`: the path the caller sees. A path outside the
    /// chroot (the server would have to misbehave) is left as it is.
    pub(crate) fn strip(&self, server_path: &str) -> String {
        match &self.0 {
            Some(c) if server_path == &**c => "/".to_owned(),
            Some(c) => match server_path.strip_prefix(&**c) {
                Some(rest) if rest.starts_with('/') => rest.to_owned(),
                _ => server_path.to_owned(),
            },
            None => server_path.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_strings_parse_as_java_parses_them() {
        let cs = ConnectString::parse("h1:1,h2/app/x").unwrap();
        assert_eq!(cs.hosts, vec!["h1:1", "h2:2181"]);
        assert_eq!(cs.chroot.as_deref(), Some("/app/x"));
        // "/" alone is no chroot.
        assert_eq!(ConnectString::parse("h:1/").unwrap().chroot, None);
        assert_eq!(ConnectString::parse("h:1").unwrap().chroot, None);
        // A chroot must be a valid path; hosts must be there.
        assert!(ConnectString::parse("h:1/app/").is_err());
        assert!(ConnectString::parse("h:1/a//b").is_err());
        assert!(ConnectString::parse("/app").is_err());
        assert_eq!(parse_connect_string("h:1/app").unwrap(), vec!["h:1"]);
    }

    #[test]
    fn chroot_prefixes_paths_out_and_strips_them_back() {
        let c = Chroot(Some(Arc::from("/app")));
        assert_eq!(c.prepend("/"), "/app");
        assert_eq!(c.prepend("/a/b"), "/app/a/b");
        assert_eq!(c.strip("/app"), "/");
        assert_eq!(c.strip("/app/a/b"), "/a/b");
        // Not under the chroot: left alone rather than cut at a wrong place.
        assert_eq!(c.strip("/apple"), "/apple");
        assert_eq!(c.strip("/zookeeper/config"), "/zookeeper/config");
        let none = Chroot::default();
        assert_eq!(none.prepend("/a"), "/a");
        assert_eq!(none.strip("/a"), "/a");
    }
}
