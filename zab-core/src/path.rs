//! Znode path validation exactly as ZooKeeper's `PathUtils.validatePath`:
//! the server checks every path a request names, the client checks a
//! connect string's chroot and the shell the paths typed.

/// Why a path is not a valid znode path.
pub fn validate_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("path length must be > 0".into());
    }
    if !path.starts_with('/') {
        return Err("path must start with / character".into());
    }
    if path.len() == 1 {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err("path must not end with / character".into());
    }
    // Java walks UTF-16 code units: a character outside the Basic Multilingual
    // Plane is a surrogate pair, and surrogates are refused with the private
    // use area (`\ud800`..=`\uf8ff`). Positions in messages count units too.
    // An ASCII path's bytes are its units: no copy (every write checks its path).
    if path.is_ascii() {
        let b = path.as_bytes();
        return check_units(path, b.len(), |i| u16::from(b[i]));
    }
    let chars: Vec<u16> = path.encode_utf16().collect();
    check_units(path, chars.len(), |i| chars[i])
}

/// The checks of [`validate_path`] over a path's `n` UTF-16 units, `at(i)` the i-th.
fn check_units(path: &str, n: usize, at: impl Fn(usize) -> u16) -> Result<(), String> {
    let unit = |c: char| c as u32 as u16;
    let mut last = unit('/');
    for i in 1..n {
        let c = at(i);
        let reason = if c == 0 {
            Some(format!("null character not allowed @{i}"))
        } else if c == unit('/') && last == unit('/') {
            Some(format!("empty node name specified @{i}"))
        } else if c == unit('.') && last == unit('.') {
            if at(i - 2) == unit('/') && (i + 1 == n || at(i + 1) == unit('/')) {
                Some(format!("relative paths not allowed @{i}"))
            } else {
                None
            }
        } else if c == unit('.') {
            if at(i - 1) == unit('/') && (i + 1 == n || at(i + 1) == unit('/')) {
                Some(format!("relative paths not allowed @{i}"))
            } else {
                None
            }
        } else if (0x0001..=0x001f).contains(&c)
            || (0x007f..=0x009f).contains(&c)
            || (0xd800..=0xf8ff).contains(&c)
            || (0xfff0..=0xffff).contains(&c)
        {
            Some(format!("invalid character @{i}"))
        } else {
            None
        };
        if let Some(r) = reason {
            return Err(format!("Invalid path string \"{path}\" caused by {r}"));
        }
        last = c;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate_path;

    #[test]
    fn accepts_what_zookeeper_accepts() {
        for p in [
            "/",
            "/a",
            "/a/b",
            "/a.b",
            "/..a",
            "/a..",
            "/a/.b",
            "/zookeeper",
        ] {
            assert!(validate_path(p).is_ok(), "{p}");
        }
    }

    #[test]
    fn refuses_what_zookeeper_refuses() {
        for p in [
            "",
            "a",
            "/a/",
            "//a",
            "/a//b",
            "/.",
            "/..",
            "/a/./b",
            "/a/../b",
            "/a\u{0}b",
            "/a\u{1}",
            "/\u{fff5}",
            "/\u{e000}",
            // Outside the BMP: a surrogate pair in Java, refused.
            "/a\u{1F600}",
        ] {
            assert!(validate_path(p).is_err(), "{p:?}");
        }
    }

    #[test]
    fn positions_count_utf16_units_as_java() {
        assert_eq!(
            validate_path("/\u{1F600}/\u{1}").unwrap_err(),
            "Invalid path string \"/\u{1F600}/\u{1}\" caused by invalid character @1"
        );
        assert_eq!(
            validate_path("/\u{e9}\u{4e2d}//x").unwrap_err(),
            "Invalid path string \"/\u{e9}\u{4e2d}//x\" caused by empty node name specified @4"
        );
        assert!(validate_path("/\u{e9}\u{4e2d}\u{ffef}").is_ok());
    }

    #[test]
    fn an_ascii_path_is_checked_as_its_units() {
        assert_eq!(
            validate_path("/ab//c").unwrap_err(),
            "Invalid path string \"/ab//c\" caused by empty node name specified @4"
        );
        assert_eq!(
            validate_path("/a/..").unwrap_err(),
            "Invalid path string \"/a/..\" caused by relative paths not allowed @4"
        );
        assert_eq!(
            validate_path("/a\u{7f}").unwrap_err(),
            "Invalid path string \"/a\u{7f}\" caused by invalid character @2"
        );
    }
}
