//! Spark's redaction rule, applied wherever a conf value leaves the server: the launch command
//! line in the server log, session views, and lines of spark-submit/driver output kept for
//! `/log`. A value whose key matches `spark.redaction.regex` (Spark's default
//! `(?i)secret|password|token|access[.]?key`; spark-defaults.conf may set another) is shown
//! as Spark shows it, `*********(redacted)`. One place, so no path can forget it.

use regex::Regex;
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

pub const REDACTED: &str = "*********(redacted)";
/// Spark's default `spark.redaction.regex`.
pub const DEFAULT_RULE: &str = "(?i)secret|password|token|access[.]?key";
const RULE_KEY: &str = "spark.redaction.regex";

/// `key=value` pairs inside free text (a command line, a log line).
static PAIR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"([A-Za-z0-9_.\-]+)=([^\s,'"\)]+)"#).expect("a valid pattern"));

/// A compiled redaction rule.
#[derive(Debug, Clone)]
pub struct Redactor {
    rule: Arc<Regex>,
}

/// Compiled once: every session and batch starts from it (compiling per log ring cost 0.3 ms
/// each, 3 s for 10,000 recovered batches).
static DEFAULT: LazyLock<Arc<Regex>> =
    LazyLock::new(|| Arc::new(Regex::new(DEFAULT_RULE).expect("a valid pattern")));

impl Default for Redactor {
    fn default() -> Self {
        Redactor {
            rule: DEFAULT.clone(),
        }
    }
}

impl Redactor {
    /// The rule of `spark.redaction.regex` in `defaults` (spark-defaults.conf), else Spark's.
    /// A rule that does not compile falls back to the default (and says so), never to none.
    pub fn from_defaults(defaults: &BTreeMap<String, String>) -> Self {
        match defaults.get(RULE_KEY) {
            Some(rule) => match Regex::new(rule) {
                Ok(re) => Redactor { rule: Arc::new(re) },
                Err(e) => {
                    tracing::warn!(error = %e, "spark.redaction.regex does not compile; using Spark's default rule");
                    Redactor::default()
                }
            },
            None => Redactor::default(),
        }
    }

    pub fn is_secret(&self, key: &str) -> bool {
        self.rule.is_match(key)
    }

    /// A conf map as shown to clients.
    pub fn conf(&self, conf: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        conf.iter()
            .map(|(k, v)| {
                let v = if self.is_secret(k) {
                    REDACTED.to_string()
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect()
    }

    /// Free text with every `key=value` whose key is secret redacted.
    pub fn text<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        if !text.contains('=') {
            return std::borrow::Cow::Borrowed(text);
        }
        PAIR.replace_all(text, |c: &regex::Captures<'_>| {
            if self.is_secret(&c[1]) {
                format!("{}={REDACTED}", &c[1])
            } else {
                c[0].to_string()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_maps_and_text_and_others_kept() {
        let r = Redactor::default();
        let conf: BTreeMap<String, String> = [
            ("spark.hadoop.fs.s3a.secret.key", "AKIAXX"),
            ("spark.ssl.keyPassword", "pw"),
            ("spark.authenticate.secret", "s"),
            ("spark.hadoop.fs.s3a.access.key", "ak"),
            ("spark.executor.memory", "2g"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let shown = r.conf(&conf);
        assert_eq!(shown["spark.executor.memory"], "2g");
        for k in [
            "spark.hadoop.fs.s3a.secret.key",
            "spark.ssl.keyPassword",
            "spark.authenticate.secret",
            "spark.hadoop.fs.s3a.access.key",
        ] {
            assert_eq!(shown[k], REDACTED, "{k}");
        }
        let line = "'--conf' 'spark.ssl.keyPassword=hunter2' '--conf' 'spark.driver.memory=1g' (spark.my.token,abc) x.token=t1,y=2";
        let out = r.text(line);
        assert!(!out.contains("hunter2") && !out.contains("t1"), "{out}");
        assert!(
            out.contains("spark.driver.memory=1g") && out.contains("y=2"),
            "{out}"
        );
        let custom =
            Redactor::from_defaults(&[(RULE_KEY.to_string(), "(?i)mystery".to_string())].into());
        assert_eq!(custom.text("a.mystery=x"), format!("a.mystery={REDACTED}"));
        let broken = Redactor::from_defaults(&[(RULE_KEY.to_string(), "(".to_string())].into());
        assert!(broken.is_secret("x.password"));
    }
}
