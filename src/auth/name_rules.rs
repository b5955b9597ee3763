//! Hadoop's `auth_to_local` rules (`hadoop.security.auth_to_local`, Livy's
//! `livy.server.auth.kerberos.name-rules`): how a Kerberos principal such as
//! `alice/admin@LIVY.TEST` becomes the short user name Livy records as a session's owner.
//!
//! Written here rather than taken from a crate because no crate implements Hadoop's rule
//! language; the behaviour follows Hadoop's `KerberosName` documentation:
//!
//! - Rules are separated by white space (newlines included), tried in order; the first that
//!   applies wins.
//! - `DEFAULT`: a principal of the default realm maps to its first component.
//! - `RULE:[n:format](match)s/from/to/g/L`: applies to principals with `n` components; the
//!   format builds a string from `$0` (realm), `$1`, `$2`; it must fully match the optional
//!   `(match)` regex; the optional sed-style substitution (`g`: every occurrence) is applied;
//!   `/L` lower-cases the result.
//! - A result still containing `/` or `@` is an error, as is a principal no rule applies to.

use regex::Regex;

/// Parsed rules, ready to map principals.
#[derive(Debug, Clone)]
pub struct NameRules {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
enum Rule {
    Default {
        lower: bool,
    },
    Custom {
        components: usize,
        format: String,
        matcher: Option<Regex>,
        substitution: Option<(Regex, String, bool)>,
        lower: bool,
    },
}

/// Why a principal could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("no auth_to_local rule applies to {0}")]
    NoMatchingRule(String),
    #[error("auth_to_local rules map {principal} to the non-simple name {result}")]
    NonSimple { principal: String, result: String },
    #[error("auth_to_local format index ${0} is out of range")]
    BadIndex(usize),
    #[error("not a Kerberos principal: {0}")]
    BadPrincipal(String),
}

/// One Hadoop rule at the start of the text: `DEFAULT` or `RULE:[n:fmt](match)s/from/to/g`,
/// either optionally followed by `/L`. Compiled once: building it cost more than parsing rules.
static RULE_SYNTAX: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
    Regex::new(
        r"^\s*(?:(DEFAULT)|RULE:\[(\d*):([^\]]*)\](?:\(([^)]*)\))?(?:s/([^/]*)/([^/]*)/(g)?)?)/?(L)?",
    )
    .expect("the rule grammar is a valid regex")
});

impl NameRules {
    /// Parses rules; the error names the first text that is not a rule.
    pub fn parse(text: &str) -> Result<Self, String> {
        let syntax = &*RULE_SYNTAX;
        let mut rules = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            let caps = syntax
                .captures(rest)
                .ok_or_else(|| format!("invalid auth_to_local rule: {rest}"))?;
            let lower = caps.get(8).is_some();
            let rule = if caps.get(1).is_some() {
                Rule::Default { lower }
            } else {
                let components = caps[2]
                    .parse::<usize>()
                    .map_err(|_| format!("invalid auth_to_local rule (component count): {rest}"))?;
                let full = |pat: &str| {
                    Regex::new(&format!("^(?:{pat})$"))
                        .map_err(|e| format!("invalid regex '{pat}' in auth_to_local rule: {e}"))
                };
                let matcher = caps.get(4).map(|m| full(m.as_str())).transpose()?;
                let substitution = match caps.get(5) {
                    Some(from) => Some((
                        Regex::new(from.as_str()).map_err(|e| {
                            format!(
                                "invalid regex '{}' in auth_to_local rule: {e}",
                                from.as_str()
                            )
                        })?,
                        java_replacement(caps.get(6).map_or("", |m| m.as_str())),
                        caps.get(7).is_some(),
                    )),
                    None => None,
                };
                Rule::Custom {
                    components,
                    format: caps[3].to_string(),
                    matcher,
                    substitution,
                    lower,
                }
            };
            rules.push(rule);
            let end = caps.get(0).map_or(0, |m| m.end());
            if end == 0 {
                return Err(format!("invalid auth_to_local rule: {rest}"));
            }
            rest = rest[end..].trim_start();
        }
        Ok(NameRules { rules })
    }

    /// Maps `principal` to its short name; `default_realm` is the realm `DEFAULT` accepts.
    pub fn short_name(&self, principal: &str, default_realm: &str) -> Result<String, NameError> {
        let (name, realm) = match principal.split_once('@') {
            Some((n, r)) if !r.is_empty() && !r.contains('@') => (n, Some(r)),
            Some(_) => return Err(NameError::BadPrincipal(principal.into())),
            None => (principal, None),
        };
        let components: Vec<&str> = name.split('/').collect();
        if components.len() > 2 || components.iter().any(|c| c.is_empty()) {
            return Err(NameError::BadPrincipal(principal.into()));
        }
        // Hadoop: a principal without a realm and with one component is already a short name;
        // `service/host` without a realm still goes through the rules (no realm: `$0` is empty
        // and DEFAULT does not apply), so the result is never a name with a `/`.
        if realm.is_none() && components.len() == 1 {
            return Ok(name.to_string());
        }
        // params[0] is the realm, then the components ($0, $1, $2).
        let mut params = vec![realm.unwrap_or("")];
        params.extend(components.iter().copied());
        for rule in &self.rules {
            if let Some(result) = rule.apply(&params, default_realm)? {
                if result.contains('/') || result.contains('@') {
                    return Err(NameError::NonSimple {
                        principal: principal.into(),
                        result,
                    });
                }
                return Ok(result);
            }
        }
        Err(NameError::NoMatchingRule(principal.into()))
    }
}

impl Rule {
    fn apply(&self, params: &[&str], default_realm: &str) -> Result<Option<String>, NameError> {
        let (result, lower) = match self {
            Rule::Default { lower } => {
                if params[0].is_empty() || params[0] != default_realm {
                    return Ok(None);
                }
                (params[1].to_string(), *lower)
            }
            Rule::Custom {
                components,
                format,
                matcher,
                substitution,
                lower,
            } => {
                if *components != params.len() - 1 {
                    return Ok(None);
                }
                let base = expand(format, params)?;
                if matcher.as_ref().is_some_and(|m| !m.is_match(&base)) {
                    return Ok(None);
                }
                let result = match substitution {
                    None => base,
                    Some((from, to, true)) => from.replace_all(&base, to.as_str()).into_owned(),
                    Some((from, to, false)) => from.replace(&base, to.as_str()).into_owned(),
                };
                (result, *lower)
            }
        };
        Ok(Some(if lower { result.to_lowercase() } else { result }))
    }
}

/// Replaces `$n` in a rule's format with the realm (`$0`) or a component.
fn expand(format: &str, params: &[&str]) -> Result<String, NameError> {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            let mut digits = String::new();
            while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                digits.push(d);
                chars.next();
            }
            let n: usize = digits.parse().unwrap_or(usize::MAX);
            out.push_str(params.get(n).ok_or(NameError::BadIndex(n))?);
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Java's replacement syntax (`$1` group references, `\` escapes) in the regex crate's
/// (`${1}`, literal `$` written `$$`).
fn java_replacement(to: &str) -> String {
    let mut out = String::new();
    let mut chars = to.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(other) => out.push(other),
                None => {}
            },
            '$' if chars.peek().is_some_and(char::is_ascii_digit) => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    digits.push(d);
                    chars.next();
                }
                out.push_str(&format!("${{{digits}}}"));
            }
            '$' => out.push_str("$$"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const REALM: &str = "LIVY.TEST";

    fn map(rules: &str, principal: &str) -> Result<String, NameError> {
        NameRules::parse(rules)
            .unwrap()
            .short_name(principal, REALM)
    }

    #[test]
    fn default_maps_the_default_realm_to_the_first_component() {
        assert_eq!(map("DEFAULT", "alice@LIVY.TEST").unwrap(), "alice");
        assert_eq!(map("DEFAULT", "alice/admin@LIVY.TEST").unwrap(), "alice");
        assert_eq!(map("DEFAULT", "HTTP/host.x@LIVY.TEST").unwrap(), "HTTP");
        assert_eq!(
            map("DEFAULT", "alice@OTHER.REALM").unwrap_err(),
            NameError::NoMatchingRule("alice@OTHER.REALM".into())
        );
        assert_eq!(map("DEFAULT", "bob").unwrap(), "bob");
    }

    #[test]
    fn hadoop_documented_rules() {
        // Multi-line, as in core-site.xml's hadoop.security.auth_to_local.
        let rules = "
            RULE:[2:$1/$2@$0](.*/admin@LIVY\\.TEST)s/.*/root/
            RULE:[1:$1@$0](.*@OTHER\\.REALM)s/@.*//
            RULE:[2:$1/$2@$0]([nd]n/.*@LIVY\\.TEST)s/.*/hdfs/
            RULE:[1:$1](ALICE)s/A/a/g/L
            DEFAULT";
        assert_eq!(map(rules, "alice/admin@LIVY.TEST").unwrap(), "root");
        assert_eq!(map(rules, "carol@OTHER.REALM").unwrap(), "carol");
        assert_eq!(map(rules, "nn/host1@LIVY.TEST").unwrap(), "hdfs");
        assert_eq!(map(rules, "dn/host2@LIVY.TEST").unwrap(), "hdfs");
        assert_eq!(map(rules, "ALICE@LIVY.TEST").unwrap(), "alice");
        assert_eq!(map(rules, "bob/ops@LIVY.TEST").unwrap(), "bob");
        assert!(matches!(
            map(rules, "dave/x@THIRD.REALM"),
            Err(NameError::NoMatchingRule(_))
        ));
    }

    #[test]
    fn substitution_first_or_global_and_groups() {
        assert_eq!(map("RULE:[1:$1](.*)s/a/X/", "banana@R").unwrap(), "bXnana");
        assert_eq!(map("RULE:[1:$1](.*)s/a/X/g", "banana@R").unwrap(), "bXnXnX");
        assert_eq!(
            map("RULE:[2:$2-$1]s/(.*)-(.*)/$2_$1/", "svc/host@R").unwrap(),
            "svc_host"
        );
        // Lower-casing the result of a format without a substitution.
        assert_eq!(map("RULE:[1:$1]/L", "BOB@R").unwrap(), "bob");
    }

    #[test]
    fn non_simple_results_and_bad_rules_are_errors() {
        assert!(matches!(
            map("RULE:[1:$1@$0]", "bob@R"),
            Err(NameError::NonSimple { .. })
        ));
        assert!(matches!(
            map("RULE:[1:$3]", "bob@R"),
            Err(NameError::BadIndex(3))
        ));
        assert!(NameRules::parse("NOT A RULE").is_err());
        assert!(NameRules::parse("RULE:[1:$1](unclosed[)s/a/b/").is_err());
        assert!(NameRules::parse("DEFAULT garbage").is_err());
        assert!(matches!(
            map("DEFAULT", "a/b/c@LIVY.TEST"),
            Err(NameError::BadPrincipal(_))
        ));
    }

    /// Found by the name_rules fuzz target: `service/host` without a realm was returned as the
    /// short name, `/` and all. It goes through the rules, as in Hadoop.
    #[test]
    fn a_two_part_principal_without_a_realm_is_not_a_short_name() {
        assert!(matches!(
            map("DEFAULT", "alice/admin"),
            Err(NameError::NoMatchingRule(_))
        ));
        assert_eq!(map("RULE:[2:$1]", "alice/admin").unwrap(), "alice");
        assert!(matches!(
            map("RULE:[2:$1/$2]", "alice/admin"),
            Err(NameError::NonSimple { .. })
        ));
        // With an empty default realm, DEFAULT still needs a realm to match.
        let rules = NameRules::parse("DEFAULT").unwrap();
        assert!(rules.short_name("alice/admin", "").is_err());
        assert_eq!(rules.short_name("bob", "").unwrap(), "bob");
    }
}
