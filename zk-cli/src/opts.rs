//! Command-line parsing of one shell command, as zkCli does it: the line is
//! split into words (quotes group words), then each command's options are
//! parsed the way Apache Commons CLI's `DefaultParser` parses them (options
//! may appear anywhere, an option that takes a value takes the next word or
//! the rest of its own word).

use std::collections::HashMap;

/// Split a command line into words as `ZooKeeperMain.MyCommandOptions.parseCommand`
/// does: `\s*([^"']\S*|"[^"]*"|'[^']*')\s*`, surrounding quotes stripped.
pub fn split_words(line: &str) -> Vec<String> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let q = b[i];
        if q == b'"' || q == b'\'' {
            if let Some(end) = line[i + 1..].find(q as char) {
                out.push(line[i + 1..i + 1 + end].to_owned());
                i = i + 2 + end;
                continue;
            }
            // An unterminated quote: Java's pattern then matches nothing at this
            // position and skips one character.
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        out.push(line[start..i].to_owned());
    }
    out
}

/// One option of a command: its letter(s) and whether it takes a value.
pub struct Spec {
    pub name: &'static str,
    pub takes_arg: bool,
}

pub const fn flag(name: &'static str) -> Spec {
    Spec {
        name,
        takes_arg: false,
    }
}

pub const fn arg(name: &'static str) -> Spec {
    Spec {
        name,
        takes_arg: true,
    }
}

/// Parsed options and the remaining words (the command name first).
#[derive(Debug, Default)]
pub struct Parsed {
    pub opts: HashMap<&'static str, Option<String>>,
    pub args: Vec<String>,
}

impl Parsed {
    pub fn has(&self, n: &str) -> bool {
        self.opts.contains_key(n)
    }

    pub fn value(&self, n: &str) -> Option<&str> {
        self.opts.get(n).and_then(|v| v.as_deref())
    }
}

/// Parse `words` against `specs`. The error is the message zkCli prints.
pub fn parse(words: &[String], specs: &[Spec]) -> Result<Parsed, String> {
    let mut p = Parsed::default();
    let mut it = words.iter().peekable();
    let mut only_args = false;
    while let Some(w) = it.next() {
        if only_args || !w.starts_with('-') || w == "-" {
            p.args.push(w.clone());
            continue;
        }
        if w == "--" {
            only_args = true;
            continue;
        }
        let body = w.trim_start_matches('-');
        if let Some(s) = specs.iter().find(|s| s.name == body) {
            if s.takes_arg {
                match it.next() {
                    Some(v) => {
                        p.opts.insert(s.name, Some(v.clone()));
                    }
                    None => {
                        return Err(format!(
                            "org.apache.commons.cli.MissingArgumentException: Missing argument for option: {}",
                            s.name
                        ))
                    }
                }
            } else {
                p.opts.insert(s.name, None);
            }
            continue;
        }
        // `-v5`: a one-letter option with its value attached.
        if let Some(s) = specs
            .iter()
            .find(|s| s.takes_arg && body.len() > s.name.len() && body.starts_with(s.name))
        {
            p.opts.insert(s.name, Some(body[s.name.len()..].to_owned()));
            continue;
        }
        // `-sw`: several flags in one word.
        if !body.is_empty()
            && body.chars().all(|c| {
                specs
                    .iter()
                    .any(|s| !s.takes_arg && s.name.len() == 1 && s.name.starts_with(c))
            })
        {
            for c in body.chars() {
                let s = specs
                    .iter()
                    .find(|s| s.name.len() == 1 && s.name.starts_with(c))
                    .expect("checked above");
                p.opts.insert(s.name, None);
            }
            continue;
        }
        return Err(format!(
            "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: {w}"
        ));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_quotes() {
        assert_eq!(
            split_words("  create /a \"hello world\" 'x y'  "),
            vec!["create", "/a", "hello world", "x y"]
        );
        assert!(split_words("   ").is_empty());
    }

    #[test]
    fn options_anywhere() {
        let w = split_words("set /a data -v 3 -s");
        let p = parse(&w, &[flag("s"), arg("v")]).unwrap();
        assert_eq!(p.args, vec!["set", "/a", "data"]);
        assert_eq!(p.value("v"), Some("3"));
        assert!(p.has("s"));
        let p = parse(&split_words("ls -sw /"), &[flag("s"), flag("w"), flag("R")]).unwrap();
        assert!(p.has("s") && p.has("w") && !p.has("R"));
        assert!(parse(&split_words("ls -x /"), &[flag("s")]).is_err());
        assert!(parse(&split_words("delete -v"), &[arg("v")]).is_err());
    }
}
