//! Kerberos `auth_to_local` rules as Apache ZooKeeper's `KerberosName` applies them
//! (the system property `zookeeper.security.auth_to_local`, default `DEFAULT`): how
//! a client's principal becomes the short name of its `sasl` id.
//!
//! ```text
//! rules   := rule (whitespace rule)*
//! rule    := "DEFAULT"
//!          | "RULE:[" n ":" format "]" ["(" match ")"] ["s/" from "/" to "/" ["g"]]
//! format  := text with $0 (the realm), $1 (the service), $2 (the host)
//! ```
//!
//! A principal `service[/host]@realm` has 1 component without a host and 2 with one;
//! a rule applies to principals with exactly `n` components. `DEFAULT` gives the
//! service name when the realm is the default realm. A rule that applies builds
//! `format`, keeps it if it matches `match` (a whole-string Java regular expression),
//! then replaces `from` by `to` (the first match, or all with `g`; `$1` in `to` is a
//! group). The first rule that gives a name wins; a name with `/` or `@` in it is an
//! error, as in Apache. A principal without a realm is its own short name.

use regex::Regex;

/// One rule of the list.
#[derive(Debug, Clone)]
enum Rule {
    Default,
    Custom {
        components: usize,
        format: String,
        matcher: Option<Regex>,
        /// `from`, and `to` in the regex crate's replacement syntax.
        substitution: Option<(Regex, String)>,
        global: bool,
        text: String,
    },
}

/// The parsed `zookeeper.security.auth_to_local`.
#[derive(Debug, Clone)]
pub struct Rules(Vec<Rule>);

impl Default for Rules {
    fn default() -> Self {
        Rules(vec![Rule::Default])
    }
}

/// Apache's `KerberosName.ruleParser`.
const RULE: &str =
    r"^\s*((DEFAULT)|(RULE:\[(\d*):([^\]]*)](\(([^)]*)\))?(s/([^/]*)/([^/]*)/(g)?)?))";

/// A Java regular expression as a whole-string match (`Matcher.matches`).
fn whole(re: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?:{re})$")).map_err(|e| format!("bad regular expression {re:?}: {e}"))
}

/// Java's replacement string (`$1` a group, `\x` a literal x) in the regex crate's
/// syntax (`${1}`, `$$`).
fn replacement(java: &str) -> String {
    let mut out = String::new();
    let mut chars = java.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(x) => out.push(x),
                None => {}
            },
            '$' => {
                let mut n = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    n.push(*d);
                    chars.next();
                }
                out.push_str(&format!("${{{n}}}"));
            }
            c => out.push(c),
        }
    }
    out
}

impl Rules {
    /// Parse the rules; an invalid one is an error naming what is left to parse,
    /// as Apache's `IllegalArgumentException("Invalid rule: ...")`.
    pub fn parse(text: &str) -> Result<Rules, String> {
        let parser = Regex::new(RULE).expect("the rule grammar compiles");
        let mut rules = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            let c = parser
                .captures(rest)
                .ok_or_else(|| format!("Invalid rule: {rest}"))?;
            let all = c.get(0).expect("group 0");
            let text = all.as_str().trim().to_owned();
            if c.get(2).is_some() {
                rules.push(Rule::Default);
            } else {
                let components = c[4].parse().map_err(|_| format!("Invalid rule: {rest}"))?;
                let matcher = c.get(7).map(|m| whole(m.as_str())).transpose()?;
                let substitution = match (c.get(9), c.get(10)) {
                    (Some(from), Some(to)) => Some((
                        Regex::new(from.as_str())
                            .map_err(|e| format!("bad regular expression {from:?}: {e}"))?,
                        replacement(to.as_str()),
                    )),
                    _ => None,
                };
                rules.push(Rule::Custom {
                    components,
                    format: c[5].to_owned(),
                    matcher,
                    substitution,
                    global: c.get(11).is_some(),
                    text,
                });
            }
            rest = rest[all.end()..].trim_start();
        }
        Ok(Rules(rules))
    }

    /// `KerberosName.getShortName`: the first rule's name, or an error when none applies.
    pub fn short_name(&self, principal: &str, default_realm: &str) -> Result<String, String> {
        let (service, host, realm) = split(principal)?;
        let Some(realm) = realm else {
            return Ok(service.to_owned());
        };
        let params: Vec<&str> = match host {
            None => vec![realm, service],
            Some(h) => vec![realm, service, h],
        };
        for rule in &self.0 {
            if let Some(name) = rule.apply(&params, default_realm)? {
                return Ok(name);
            }
        }
        Err(format!("No rules applied to {principal}"))
    }
}

/// `KerberosName(String)`: `service[/host]@realm`, or a name without `@` kept whole.
fn split(name: &str) -> Result<(&str, Option<&str>, Option<&str>), String> {
    let Some((left, realm)) = name.split_once('@') else {
        return Ok((name, None, None));
    };
    if realm.contains(['/', '@']) || left.contains('@') {
        return Err(format!("Malformed Kerberos name: {name}"));
    }
    match left.split_once('/') {
        Some((s, h)) if !h.contains('/') => Ok((s, Some(h), Some(realm))),
        Some(_) => Err(format!("Malformed Kerberos name: {name}")),
        None => Ok((left, None, Some(realm))),
    }
}

impl Rule {
    fn apply(&self, params: &[&str], default_realm: &str) -> Result<Option<String>, String> {
        let result = match self {
            Rule::Default => (params[0] == default_realm).then(|| params[1].to_owned()),
            Rule::Custom {
                components,
                format,
                matcher,
                substitution,
                global,
                text,
            } => {
                if params.len() - 1 != *components {
                    return Ok(None);
                }
                let base = replace_parameters(format, params)
                    .map_err(|e| format!("{e} in auth_to_local rule {text}"))?;
                if matcher.as_ref().is_some_and(|m| !m.is_match(&base)) {
                    return Ok(None);
                }
                Some(match substitution {
                    None => base,
                    Some((from, to)) if *global => from.replace_all(&base, to.as_str()).into(),
                    Some((from, to)) => from.replace(&base, to.as_str()).into(),
                })
            }
        };
        if let Some(r) = &result {
            if r.contains(['/', '@']) {
                return Err(format!("Non-simple name {r} after auth_to_local rule"));
            }
        }
        Ok(result)
    }
}

/// `$n` in `format` replaced by `params[n]`.
fn replace_parameters(format: &str, params: &[&str]) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let mut n = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            n.push(*d);
            chars.next();
        }
        let i: usize = n
            .parse()
            .map_err(|_| format!("bad format {format:?}: '$' without an index"))?;
        let p = params.get(i).ok_or_else(|| {
            format!(
                "index {i} from {format} is outside of the valid range 0 to {}",
                params.len() - 1
            )
        })?;
        out.push_str(p);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules and principals of Apache's (and Hadoop's) KerberosName tests.
    #[test]
    fn rules_map_principals_as_apache_s_kerberos_name() {
        let rules = Rules::parse(
            "RULE:[1:$1@$0](.*@YAHOO\\.COM)s/@.*//\n\
             RULE:[2:$1](johndoe)s/^.*$/guest/\n\
             RULE:[2:$1;$2](^.*;admin$)s/;admin$//\n\
             RULE:[2:$2](root)\n\
             DEFAULT",
        )
        .unwrap();
        let r = "APACHE.ORG";
        let short = |p: &str| rules.short_name(p, r);
        assert_eq!(short("omalley@APACHE.ORG").unwrap(), "omalley");
        assert_eq!(short("omalley/admin@APACHE.ORG").unwrap(), "omalley");
        assert!(short("hdfs/user1@FOO.COM").is_err());
        assert_eq!(short("omalley@YAHOO.COM").unwrap(), "omalley");
        assert_eq!(short("johndoe/zoo@FOO.COM").unwrap(), "guest");
        assert_eq!(short("joe/admin@FOO.COM").unwrap(), "joe");
        assert_eq!(short("joe/root@FOO.COM").unwrap(), "root");
        // No rule for another realm's one-component name.
        assert!(short("bob@OTHER.ORG")
            .unwrap_err()
            .contains("No rules applied"));
        // Without a realm: the name itself.
        assert_eq!(short("bob").unwrap(), "bob");
    }

    #[test]
    fn global_substitution_groups_and_non_simple_results() {
        let rules = Rules::parse("RULE:[1:$1](a.*)s/a/x/g RULE:[1:$1]s/(b)(c)/$2$1z/").unwrap();
        assert_eq!(rules.short_name("banana@R", "Q").unwrap(), "banana");
        assert_eq!(rules.short_name("abca@R", "Q").unwrap(), "xbcx");
        assert_eq!(rules.short_name("bcd@R", "Q").unwrap(), "cbzd");
        let rules = Rules::parse("RULE:[1:$1@$0]").unwrap();
        assert!(rules
            .short_name("bob@R", "Q")
            .unwrap_err()
            .contains("Non-simple name bob@R"));
        assert!(Rules::parse("RULE:[1:$1] nonsense")
            .unwrap_err()
            .contains("Invalid rule: nonsense"));
        let rules = Rules::parse("RULE:[1:$3]").unwrap();
        assert!(rules
            .short_name("bob@R", "Q")
            .unwrap_err()
            .contains("outside of the valid range"));
    }
}
