//! Checks of what a create request hands to Spark, made where the request becomes launch
//! settings ([`super::prepare::launch_conf`]), so spark-submit's command line and the YARN REST
//! submission see only what passed them.
//!
//! Why here and not in serde: spark-submit splits `--conf k=v` at the first `=`, so a key like
//! `spark.driver.extraJavaOptions=-Dx` would slip past the blacklist's exact-match test and
//! become another key; a value with a line break ends up in `spark-defaults`-style files and
//! logs. A Spark property name never holds `=`, white space or control characters, so such keys
//! are refused outright (400, nothing created), as are values with CR, LF or NUL.
//!
//! Sizes too: a request whose command line the kernel would refuse (`E2BIG`) was accepted with
//! 201 and then died at exec; [`command_line`] refuses it with a 400 instead.

use super::prepare::Resources;
use crate::yarn::submit::sparkconf::bytes_as_mib;
use std::collections::BTreeMap;

/// Settings whose values are sizes; a bad one would only fail inside spark-submit.
const SIZE_KEYS: &[&str] = &[
    "spark.driver.memory",
    "spark.executor.memory",
    "spark.driver.memoryOverhead",
    "spark.executor.memoryOverhead",
];

/// Settings whose values are counts (a negative or huge one is refused, not wrapped).
const COUNT_KEYS: &[&str] = &[
    "spark.driver.cores",
    "spark.executor.cores",
    "spark.executor.instances",
    "spark.dynamicAllocation.minExecutors",
    "spark.dynamicAllocation.maxExecutors",
    "spark.dynamicAllocation.initialExecutors",
];

/// The most executors (or cores) one request may name: far above any real cluster, low enough
/// that admission arithmetic (executors × memory) cannot overflow.
pub const MAX_COUNT: u64 = 1_000_000;

/// A `conf` entry as spark-submit will see it.
pub fn conf_entry(key: &str, value: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("Invalid configuration key \"\": a Spark property needs a name.".into());
    }
    if let Some(c) = key
        .chars()
        .find(|c| *c == '=' || c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "Invalid configuration key {key:?}: a Spark property name cannot contain {c:?}."
        ));
    }
    if value.contains(['\n', '\r', '\0']) {
        return Err(format!(
            "Invalid value for configuration key {key}: line breaks and NUL are not allowed."
        ));
    }
    if SIZE_KEYS.contains(&key) {
        spark_size(value).map_err(|why| format!("Invalid value for {key}: {why}"))?;
    }
    if COUNT_KEYS.contains(&key) {
        count(value, 0).map_err(|why| format!("Invalid value for {key}: {why}"))?;
    }
    Ok(())
}

/// The resource fields of a request, named as Livy names them.
pub fn resources(r: &Resources<'_>) -> Result<(), String> {
    for (field, v) in [
        ("driverMemory", r.driver_memory),
        ("executorMemory", r.executor_memory),
    ] {
        if let Some(v) = v {
            spark_size(v).map_err(|why| format!("Invalid {field}: {why}"))?;
        }
    }
    for (field, v, min) in [
        ("driverCores", r.driver_cores, 1),
        ("executorCores", r.executor_cores, 1),
        ("numExecutors", r.num_executors, 0),
    ] {
        if let Some(v) = v {
            count(&v.to_string(), min).map_err(|why| format!("Invalid {field}: {why}"))?;
        }
    }
    Ok(())
}

/// A free-text field that reaches a command line or another user's screen (`name`, `queue`,
/// `className`): present means non-empty, and no control characters.
///
/// An empty `name` is left to the registry, which answers it with Livy's own message.
pub fn text_field(field: &str, value: Option<&str>) -> Result<(), String> {
    let Some(v) = value else { return Ok(()) };
    if v.trim().is_empty() && field != "name" {
        return Err(format!("Invalid {field}: it must not be empty."));
    }
    if v.chars().any(char::is_control) {
        return Err(format!(
            "Invalid {field}: control characters are not allowed."
        ));
    }
    Ok(())
}

/// A memory size as Spark reads it (`JavaUtils.byteStringAs`, MiB when no unit): digits and an
/// optional unit, no sign, no fraction, and a byte count that fits in 64 bits. Returns MiB.
pub fn spark_size(text: &str) -> Result<u64, String> {
    let mib = bytes_as_mib(text).map_err(|_| {
        format!("'{text}' is not a size (a whole number with an optional unit b, k, m, g, t or p).")
    })?;
    if mib > (i64::MAX >> 20) as u64 {
        return Err(format!("'{text}' is too large."));
    }
    Ok(mib)
}

fn count(text: &str, min: u64) -> Result<u64, String> {
    let n: u64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a whole number ≥ {min}."))?;
    if n < min {
        return Err(format!("'{text}' is not a whole number ≥ {min}."));
    }
    if n > MAX_COUNT {
        return Err(format!("'{text}' is larger than {MAX_COUNT}."));
    }
    Ok(n)
}

/// The longest single argument Linux passes to a program (`MAX_ARG_STRLEN`, 32 pages, less its
/// NUL). `--conf k=v` is one argument, and so is each of a batch's `args`.
pub const MAX_ARG_BYTES: usize = 128 * 1024 - 1;

/// What one request may put on spark-submit's command line in all: half of the usual
/// `ARG_MAX` (2 MiB), which also holds the environment that spark-submit's scripts grow and the
/// server's own arguments. The same bound holds with the YARN REST submission, whose
/// ApplicationMaster gets these values on its container's command line.
pub const MAX_COMMAND_LINE_BYTES: usize = 1024 * 1024;

/// Whether the launch's `conf` and the request's other command-line strings (`(field, value)`,
/// e.g. each of `args`) fit on a command line; the message names what is too long.
pub fn command_line<'a>(
    conf: &BTreeMap<String, String>,
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<(), String> {
    // Each argument costs its bytes, its NUL and its pointer in argv.
    let cost = |len: usize| len + 1 + std::mem::size_of::<usize>();
    let mut total = 0usize;
    for (key, value) in conf {
        let len = key.len() + 1 + value.len();
        if len > MAX_ARG_BYTES {
            return Err(format!(
                "Invalid value for configuration key {key}: {len} bytes, more than the \
                 {MAX_ARG_BYTES} one command-line argument may hold."
            ));
        }
        total += cost(len) + cost("--conf".len());
    }
    for (field, value) in fields {
        if value.len() > MAX_ARG_BYTES {
            return Err(format!(
                "Invalid {field}: a value of {} bytes, more than the {MAX_ARG_BYTES} one \
                 command-line argument may hold.",
                value.len()
            ));
        }
        total += cost(value.len());
    }
    if total > MAX_COMMAND_LINE_BYTES {
        return Err(format!(
            "The request is too large for spark-submit's command line: its conf, args and \
             names come to {total} bytes, more than {MAX_COMMAND_LINE_BYTES}."
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_spark_would_split_or_mangle_are_refused() {
        for key in [
            "spark.driver.extraJavaOptions=-Dx=1 -Dy",
            "spark.files=file:///etc/security/keytabs/livy.keytab#k",
            " spark.master",
            "spark.master ",
            "spark.a\tb",
            "spark.a\nb",
            "spark.a\rb",
            "spark.a\0b",
            "",
        ] {
            assert!(conf_entry(key, "x").is_err(), "{key:?} passed");
        }
        assert!(conf_entry("spark.executor.extraJavaOptions", "-Dx=1 -Dy=2").is_ok());
    }

    #[test]
    fn values_with_line_breaks_are_refused() {
        for v in ["a\nb", "a\rb", "a\0b"] {
            assert!(conf_entry("spark.app.x", v).is_err());
        }
        assert!(conf_entry("spark.app.x", "a\tb c=d").is_ok());
    }

    #[test]
    fn sizes_parse_like_spark() {
        assert_eq!(spark_size("512m").unwrap(), 512);
        assert_eq!(spark_size("2G").unwrap(), 2048);
        assert_eq!(spark_size("1024").unwrap(), 1024);
        assert_eq!(spark_size("4096kb").unwrap(), 4);
        for bad in [
            "abc",
            "-1g",
            "99999999999999t",
            "1g --conf x=y",
            "1.5g",
            "",
            "g",
            "1x",
        ] {
            assert!(spark_size(bad).is_err(), "{bad:?} passed");
        }
    }

    #[test]
    fn resources_name_the_field() {
        let r = Resources {
            executor_memory: Some("1g --conf x=y"),
            ..Resources::default()
        };
        assert!(resources(&r).unwrap_err().contains("executorMemory"));
        let r = Resources {
            num_executors: Some(-1),
            ..Resources::default()
        };
        assert!(resources(&r).unwrap_err().contains("numExecutors"));
        let r = Resources {
            driver_cores: Some(0),
            ..Resources::default()
        };
        assert!(resources(&r).unwrap_err().contains("driverCores"));
        let ok = Resources {
            driver_memory: Some("2g"),
            num_executors: Some(0),
            executor_cores: Some(2),
            ..Resources::default()
        };
        assert!(resources(&ok).is_ok());
    }

    #[test]
    fn counts_in_conf_are_bounded() {
        assert!(conf_entry("spark.executor.instances", "99999999999").is_err());
        assert!(conf_entry("spark.executor.instances", "-3").is_err());
        assert!(conf_entry("spark.executor.instances", "4").is_ok());
    }

    #[test]
    fn text_fields() {
        assert!(text_field("queue", Some("")).is_err());
        assert!(text_field("className", Some(" ")).is_err());
        assert!(text_field("name", Some("a\u{1b}[31m")).is_err());
        assert!(text_field("name", Some("nightly etl")).is_ok());
        assert!(text_field("name", None).is_ok());
    }

    #[test]
    fn command_line_sizes() {
        let conf = |v: usize| BTreeMap::from([("spark.app.name".to_string(), "x".repeat(v))]);
        assert!(command_line(&conf(1000), [("args", "a")]).is_ok());
        let long = command_line(&conf(MAX_ARG_BYTES), []).unwrap_err();
        assert!(long.contains("spark.app.name"), "{long}");
        let arg = "y".repeat(MAX_ARG_BYTES + 1);
        assert!(command_line(&conf(1), [("args", arg.as_str())])
            .unwrap_err()
            .contains("Invalid args"));
        let arg = "z".repeat(100_000);
        let many = vec![("args", arg.as_str()); 11];
        let total = command_line(&conf(1), many).unwrap_err();
        assert!(total.contains("too large"), "{total}");
    }
}
