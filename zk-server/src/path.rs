//! Path validation exactly as ZooKeeper's `PathUtils.validatePath`.

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
    let chars: Vec<char> = path.chars().collect();
    let mut last = '/';
    for i in 1..chars.len() {
        let c = chars[i];
        let reason = if c == '\0' {
            Some(format!("null character not allowed @{i}"))
        } else if c == '/' && last == '/' {
            Some(format!("empty node name specified @{i}"))
        } else if c == '.' && last == '.' {
            if chars[i - 2] == '/' && (i + 1 == chars.len() || chars[i + 1] == '/') {
                Some(format!("relative paths not allowed @{i}"))
            } else {
                None
            }
        } else if c == '.' {
            if chars[i - 1] == '/' && (i + 1 == chars.len() || chars[i + 1] == '/') {
                Some(format!("relative paths not allowed @{i}"))
            } else {
                None
            }
        } else if ('\u{0001}'..='\u{001f}').contains(&c)
            || ('\u{007f}'..='\u{009F}').contains(&c)
            || ('\u{e000}'..='\u{f8ff}').contains(&c)
            || ('\u{fff0}'..='\u{ffff}').contains(&c)
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
        ] {
            assert!(validate_path(p).is_err(), "{p:?}");
        }
    }
}
