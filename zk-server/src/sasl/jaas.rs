//! JAAS login configuration files (`java.security.auth.login.config`), the subset
//! operators write for ZooKeeper, read as Java's `ConfigFile` reads them:
//!
//! ```text
//! file     := section*
//! section  := name '{' entry* '}' ';'
//! entry    := class flag option* ';'
//! flag     := required | requisite | sufficient | optional      (any case)
//! option   := key '=' value
//! name, class, key := word | quoted
//! value    := word | quoted
//! word     := [A-Za-z0-9._$*-]+         (Java's StreamTokenizer word)
//! quoted   := '"' ... '"' | '\'' ... '\''   (backslash escapes \n \t \r \\ \" \')
//! comments := '//' to the end of the line | '/*' ... '*/'
//! ```
//!
//! A section name given twice is an error, as in Java. `${prop}` expansion of values is
//! not done. What the sections mean is the caller's business ([`super`]).

use std::collections::BTreeMap;

/// One login module line of a section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The login module's class (`org.apache.zookeeper.server.auth.DigestLoginModule`).
    pub class: String,
    /// `required`, `requisite`, `sufficient` or `optional`, lower case.
    pub flag: String,
    /// The options in file order (`user_bob` -> `bobsecret`).
    pub options: Vec<(String, String)>,
}

impl Entry {
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A parsed JAAS file: section name -> its login modules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JaasConfig {
    pub sections: BTreeMap<String, Vec<Entry>>,
}

/// Why a JAAS file could not be used; the message names the file and the line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{file}:{line}: {message}")]
pub struct JaasError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Word(String),
    Quoted(String),
    Char(char),
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '$' | '-' | '*') || (c as u32) >= 160
}

impl Lexer<'_> {
    /// The next token and the line it starts on; `None` at the end.
    fn next(&mut self) -> Result<Option<(Tok, usize)>, (usize, String)> {
        loop {
            let Some(&c) = self.chars.peek() else {
                return Ok(None);
            };
            if c == '\n' {
                self.line += 1;
                self.chars.next();
                continue;
            }
            if c.is_whitespace() {
                self.chars.next();
                continue;
            }
            if c == '/' {
                self.chars.next();
                match self.chars.peek() {
                    Some('/') => {
                        for c in self.chars.by_ref() {
                            if c == '\n' {
                                self.line += 1;
                                break;
                            }
                        }
                        continue;
                    }
                    Some('*') => {
                        let start = self.line;
                        self.chars.next();
                        let mut prev = ' ';
                        loop {
                            match self.chars.next() {
                                None => return Err((start, "unterminated /* comment".into())),
                                Some('/') if prev == '*' => break,
                                Some(c) => {
                                    if c == '\n' {
                                        self.line += 1;
                                    }
                                    prev = c;
                                }
                            }
                        }
                        continue;
                    }
                    _ => return Ok(Some((Tok::Char('/'), self.line))),
                }
            }
            let line = self.line;
            if c == '"' || c == '\'' {
                self.chars.next();
                let mut s = String::new();
                loop {
                    match self.chars.next() {
                        None | Some('\n') => {
                            return Err((line, format!("unterminated quoted string {c}{s}")))
                        }
                        Some(q) if q == c => break,
                        Some('\\') => match self.chars.next() {
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some('r') => s.push('\r'),
                            Some(e) => s.push(e),
                            None => return Err((line, "unterminated quoted string".into())),
                        },
                        Some(ch) => s.push(ch),
                    }
                }
                return Ok(Some((Tok::Quoted(s), line)));
            }
            if is_word_char(c) {
                let mut s = String::new();
                while let Some(&ch) = self.chars.peek() {
                    if !is_word_char(ch) {
                        break;
                    }
                    s.push(ch);
                    self.chars.next();
                }
                return Ok(Some((Tok::Word(s), line)));
            }
            self.chars.next();
            return Ok(Some((Tok::Char(c), line)));
        }
    }
}

fn describe(t: &Option<(Tok, usize)>) -> String {
    match t {
        None => "the end of the file".into(),
        Some((Tok::Word(w), _)) => format!("{w:?}"),
        Some((Tok::Quoted(q), _)) => format!("\"{q}\""),
        Some((Tok::Char(c), _)) => format!("'{c}'"),
    }
}

impl JaasConfig {
    /// Reads and parses the file at `path`.
    pub fn load(path: &std::path::Path) -> Result<JaasConfig, JaasError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| JaasError {
            file: file.clone(),
            line: 0,
            message: format!("cannot read the JAAS configuration: {e}"),
        })?;
        JaasConfig::parse(&text, &file)
    }

    /// Parses the text of a JAAS file; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<JaasConfig, JaasError> {
        let mut lx = Lexer {
            chars: text.chars().peekable(),
            line: 1,
        };
        let err = |line: usize, message: String| JaasError {
            file: file.to_owned(),
            line,
            message,
        };
        let next = |lx: &mut Lexer| lx.next().map_err(|(l, m)| err(l, m));
        let mut cfg = JaasConfig::default();
        // The line of the last token read, for errors at the end of the file.
        let mut last_line = 1;
        loop {
            // section name
            let t = next(&mut lx)?;
            let (name, line) = match t {
                None => break,
                Some((Tok::Word(w) | Tok::Quoted(w), l)) => (w, l),
                other => {
                    return Err(err(
                        other.as_ref().map_or(last_line, |o| o.1),
                        format!("expected a section name, found {}", describe(&other)),
                    ))
                }
            };
            last_line = line;
            let t = next(&mut lx)?;
            if !matches!(t, Some((Tok::Char('{'), _))) {
                return Err(err(
                    t.as_ref().map_or(last_line, |t| t.1),
                    format!(
                        "expected '{{' after section {name:?}, found {}",
                        describe(&t)
                    ),
                ));
            }
            let mut entries = Vec::new();
            loop {
                let t = next(&mut lx)?;
                let (class, line) = match t {
                    Some((Tok::Char('}'), l)) => {
                        last_line = l;
                        break;
                    }
                    Some((Tok::Word(w) | Tok::Quoted(w), l)) => (w, l),
                    other => {
                        return Err(err(
                            other.as_ref().map_or(last_line, |o| o.1),
                            format!(
                            "in section {name:?}: expected a login module class or '}}', found {}",
                            describe(&other)
                        ),
                        ))
                    }
                };
                last_line = line;
                let t = next(&mut lx)?;
                let flag = match &t {
                    Some((Tok::Word(w), _))
                        if ["required", "requisite", "sufficient", "optional"]
                            .contains(&w.to_ascii_lowercase().as_str()) =>
                    {
                        w.to_ascii_lowercase()
                    }
                    _ => {
                        return Err(err(
                            t.as_ref().map_or(last_line, |t| t.1),
                            format!(
                                "invalid control flag {} for {class} (expected required, requisite, sufficient or optional)",
                                describe(&t)
                            ),
                        ))
                    }
                };
                let mut options = Vec::new();
                loop {
                    let t = next(&mut lx)?;
                    let (key, kline) = match t {
                        Some((Tok::Char(';'), l)) => {
                            last_line = l;
                            break;
                        }
                        Some((Tok::Word(w) | Tok::Quoted(w), l)) => (w, l),
                        other => {
                            return Err(err(
                                other.as_ref().map_or(last_line, |o| o.1),
                                format!(
                                    "in {class}: expected an option or ';', found {}",
                                    describe(&other)
                                ),
                            ))
                        }
                    };
                    last_line = kline;
                    let t = next(&mut lx)?;
                    if !matches!(t, Some((Tok::Char('='), _))) {
                        return Err(err(
                            t.as_ref().map_or(last_line, |t| t.1),
                            format!("expected '=' after option {key:?}, found {}", describe(&t)),
                        ));
                    }
                    let t = next(&mut lx)?;
                    let value = match t {
                        Some((Tok::Word(w) | Tok::Quoted(w), l)) => {
                            last_line = l;
                            w
                        }
                        other => {
                            return Err(err(
                                other.as_ref().map_or(last_line, |o| o.1),
                                format!(
                                    "expected a value for option {key:?}, found {}",
                                    describe(&other)
                                ),
                            ))
                        }
                    };
                    options.push((key, value));
                }
                entries.push(Entry {
                    class,
                    flag,
                    options,
                });
            }
            let t = next(&mut lx)?;
            if !matches!(t, Some((Tok::Char(';'), _))) {
                return Err(err(
                    t.as_ref().map_or(last_line, |t| t.1),
                    format!(
                        "expected ';' after the '}}' of section {name:?}, found {}",
                        describe(&t)
                    ),
                ));
            }
            if cfg.sections.contains_key(&name) {
                return Err(err(line, format!("section {name:?} is given twice")));
            }
            cfg.sections.insert(name, entries);
        }
        Ok(cfg)
    }

    pub fn section(&self, name: &str) -> Option<&[Entry]> {
        self.sections.get(name).map(Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_files_operators_write() {
        let text = r#"
// the server's users
Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_super="adminsecret"   /* the super user */
    user_bob='bob\'s "secret"';
};
Client { org.apache.zookeeper.server.auth.DigestLoginModule Required
  username="bob" password=bobsecret; };
"#;
        let c = JaasConfig::parse(text, "jaas.conf").unwrap();
        let s = c.section("Server").unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(
            s[0].class,
            "org.apache.zookeeper.server.auth.DigestLoginModule"
        );
        assert_eq!(s[0].flag, "required");
        assert_eq!(s[0].option("user_super"), Some("adminsecret"));
        assert_eq!(s[0].option("user_bob"), Some("bob's \"secret\""));
        let cl = c.section("Client").unwrap();
        assert_eq!(cl[0].option("password"), Some("bobsecret"));
        assert!(c.section("server").is_none());
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let e = JaasConfig::parse("Server {\n  a.B requird;\n};\n", "/etc/jaas.conf").unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("/etc/jaas.conf", 2));
        assert!(
            e.to_string()
                .starts_with("/etc/jaas.conf:2: invalid control flag"),
            "{e}"
        );
        let e = JaasConfig::parse("Server {\n a.B required\n  x=\"y\"\n}", "j").unwrap_err();
        assert_eq!(e.line, 4, "{e}");
        let e = JaasConfig::parse("Server {\n a.B required x=\"y;\n};", "j").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        let e = JaasConfig::parse("A { a.B required; };\nA { a.B optional; };", "j").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        let e = JaasConfig::parse("A { a.B required x y; };", "j").unwrap_err();
        assert!(e.message.contains("expected '='"), "{e}");
        let e = JaasConfig::parse("/* never closed", "j").unwrap_err();
        assert_eq!(e.line, 1);
        assert_eq!(JaasConfig::parse("", "j").unwrap(), JaasConfig::default());
    }
}
