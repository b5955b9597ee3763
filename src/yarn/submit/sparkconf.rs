//! The Spark conf the ApplicationMaster reads from `__spark_conf__.properties`: Livy's conf after
//! the changes spark-submit (`SparkSubmit.prepareSubmitEnvironment`, yarn-cluster branch),
//! `YarnClusterApplication.start` and `Client` make before `Client.createConfArchive` writes it.
//! Also the small readers Spark's config entries apply (lists, sizes, URIs).

use super::env::python_path;
use super::input::{PrimaryResource, ResourceRole, SubmissionInput};
use std::collections::{BTreeMap, HashSet};

pub(crate) const CPS: &str = "<CPS>";
pub(crate) const PWD: &str = "{{PWD}}";

/// `Utils.stringToSeq`: comma-separated, trimmed, empty items dropped.
pub(crate) use crate::conf::units::comma_list as split_list;

pub(crate) fn list(conf: &BTreeMap<String, String>, key: &str) -> Vec<String> {
    conf.get(key).map(|v| split_list(v)).unwrap_or_default()
}

/// A boolean entry as Spark's `booleanConf` reads it (`true`/`false`, any case).
pub(crate) fn flag(conf: &BTreeMap<String, String>, key: &str, default: bool) -> bool {
    conf.get(key)
        .map(|v| v.trim().eq_ignore_ascii_case("true"))
        .unwrap_or(default)
}

/// The scheme of a URI as `java.net.URI` sees it; `None` for a plain path.
pub(crate) fn uri_scheme(uri: &str) -> Option<&str> {
    let end = uri.find([':', '/', '?', '#'])?;
    let scheme = &uri[..end];
    let valid = uri[end..].starts_with(':')
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    valid.then_some(scheme)
}

/// The path part of a URI (no scheme, authority, query or fragment).
pub(crate) fn uri_path(uri: &str) -> &str {
    let rest = match uri_scheme(uri) {
        Some(s) => &uri[s.len() + 1..],
        None => uri,
    };
    let rest = match rest.strip_prefix("//") {
        Some(r) => r.find('/').map_or("", |i| &r[i..]),
        None => rest,
    };
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    &rest[..end]
}

pub(crate) fn uri_fragment(uri: &str) -> Option<&str> {
    uri.split_once('#').map(|(_, f)| f)
}

/// `new Path(uri).getName()`: the last path component.
pub(crate) fn file_name(uri: &str) -> &str {
    let path = uri_path(uri).trim_end_matches('/');
    path.rsplit('/').next().unwrap_or(path)
}

pub(crate) fn is_local(uri: &str) -> bool {
    uri_scheme(uri) == Some("local")
}

/// `Utils.resolveURI`: scheme-less paths become `file:` URIs (Livy has normally resolved them
/// against `fs.defaultFS` already).
pub(crate) fn resolve_uri(uri: &str) -> String {
    if uri_scheme(uri).is_some() {
        uri.to_string()
    } else {
        format!("file:{uri}")
    }
}

fn resolve_uris(value: &str) -> String {
    split_list(value)
        .iter()
        .map(|u| resolve_uri(u))
        .collect::<Vec<_>>()
        .join(",")
}

/// What `SparkSubmit.resolveGlobPaths` leaves of a list when every entry names one existing
/// file: the paths Hadoop's globber returns, which for the local file system are written
/// `file:///path`. (Other schemes come back qualified with their file system's authority; Livy has
/// already qualified scheme-less paths, so those are left as they are.)
fn glob_resolved(value: &str) -> String {
    split_list(value)
        .iter()
        .map(|entry| {
            let uri = resolve_uri(entry);
            match uri.strip_prefix("file:") {
                Some(rest) if !rest.starts_with("//") => format!("file://{rest}"),
                _ => uri,
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `JavaUtils.byteStringAs(value, MiB)`: an integer with an optional unit (b, k, kb, m, mb, g,
/// gb, t, tb, p, pb; no unit = MiB), truncated to whole MiB.
pub fn bytes_as_mib(value: &str) -> Result<u64, String> {
    let lower = value.trim().to_ascii_lowercase();
    let digits = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (number, suffix) = lower.split_at(digits);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("Size must be specified as bytes (b), kibibytes (k), mebibytes (m), gibibytes (g), tebibytes (t), or pebibytes(p). E.g. 50b, 100k, or 250m. (got {value:?})"))?;
    let shift: i32 = match suffix {
        "" | "m" | "mb" => 0,
        "b" => -20,
        "k" | "kb" => -10,
        "g" | "gb" => 10,
        "t" | "tb" => 20,
        "p" | "pb" => 30,
        _ => return Err(format!("Invalid suffix: {suffix:?} in {value:?}")),
    };
    Ok(if shift >= 0 {
        number.saturating_mul(1 << shift)
    } else {
        number >> (-shift)
    })
}

/// A config entry built with `withPrepended`: the prepended key's value (when set) and the
/// entry's own value, joined with `separator`.
pub(crate) fn with_prepended(
    conf: &BTreeMap<String, String>,
    prepended: &str,
    key: &str,
    separator: &str,
) -> Option<String> {
    let parts: Vec<&str> = [conf.get(prepended), conf.get(key)]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    (!parts.is_empty()).then(|| parts.join(separator))
}

/// `SparkSubmit.mergeFileLists`.
fn merge_lists(conf: &mut BTreeMap<String, String>, key: &str, extra: Option<&String>) {
    let Some(extra) = extra.filter(|e| !e.trim().is_empty()) else {
        return;
    };
    let merged = match conf.get(key).filter(|v| !v.trim().is_empty()) {
        Some(existing) => [split_list(existing), split_list(extra)].concat(),
        None => split_list(extra),
    };
    conf.insert(key.into(), merged.join(","));
}

/// The application name spark-submit settles on.
pub(crate) fn app_name(input: &SubmissionInput) -> String {
    if let Some(name) = input
        .app_name
        .clone()
        .or_else(|| input.conf.get("spark.app.name").cloned())
    {
        return name;
    }
    match &input.primary {
        PrimaryResource::Jar { class_name, .. } => class_name.clone(),
        PrimaryResource::Python { uri } => file_name(uri).to_string(),
    }
}

/// Tags in submission order: ours first, then `spark.yarn.tags`, without repeats.
pub(crate) fn tags(input: &SubmissionInput) -> Vec<String> {
    let mut seen = HashSet::new();
    input
        .tags
        .iter()
        .cloned()
        .chain(list(&input.conf, "spark.yarn.tags"))
        .filter(|t| seen.insert(t.clone()))
        .collect()
}

/// Spark's conf as spark-submit hands it to `YarnClusterApplication` and the yarn `Client`
/// leaves it once the launch environment and local resources are prepared.
pub fn effective_conf(input: &SubmissionInput) -> BTreeMap<String, String> {
    let mut conf = input.conf.clone();

    // SparkSubmitArguments reads the lists from these keys; prepareSubmitEnvironment then merges
    // them into the YARN-only keys.
    let arg = |key: &str| conf.get(key).map(|v| glob_resolved(v));
    let jars = arg("spark.jars");
    let files = arg("spark.files");
    let archives = arg("spark.archives");
    let py_files = arg("spark.submit.pyFiles");

    conf.insert("spark.app.name".into(), app_name(input));
    if let Some(queue) = &input.queue {
        conf.insert("spark.yarn.queue".into(), queue.clone());
    }
    merge_lists(&mut conf, "spark.yarn.dist.pyFiles", py_files.as_ref());
    merge_lists(&mut conf, "spark.yarn.dist.jars", jars.as_ref());
    merge_lists(&mut conf, "spark.yarn.dist.files", files.as_ref());
    merge_lists(&mut conf, "spark.yarn.dist.archives", archives.as_ref());
    if input.is_python() {
        conf.insert("spark.yarn.isPython".into(), "true".into());
    }
    conf.remove("spark.driver.host");
    for key in [
        "spark.jars",
        "spark.files",
        "spark.archives",
        "spark.yarn.dist.files",
        "spark.yarn.dist.archives",
        "spark.yarn.dist.jars",
    ] {
        if let Some(v) = conf.get(key).cloned() {
            conf.insert(key.into(), resolve_uris(&v));
        }
    }
    // In cluster mode the Python file list is resolved but not reformatted; an empty list is
    // still written (as "").
    let py = py_files.map(|p| resolve_uris(&p)).unwrap_or_default();
    conf.insert("spark.submit.pyFiles".into(), py);
    conf.entry("spark.app.submitTime".into())
        .or_insert_with(|| input.submit_time_ms.to_string());

    // YarnClusterApplication: the YARN cache distributes these instead.
    for key in ["spark.jars", "spark.files", "spark.archives"] {
        conf.remove(key);
    }

    // Livy's tag travels in spark.yarn.tags, as with spark-submit.
    let tags = tags(input);
    if !tags.is_empty() {
        conf.insert("spark.yarn.tags".into(), tags.join(","));
    }

    // Client.setupLaunchEnv: executors get the same PYTHONPATH.
    let python_path = python_path(&conf, input);
    if !python_path.is_empty() {
        let value: Vec<String> = conf
            .get("spark.executorEnv.PYTHONPATH")
            .cloned()
            .into_iter()
            .chain(input.submit_env.get("PYTHONPATH").cloned())
            .chain(python_path)
            .collect();
        conf.insert("spark.executorEnv.PYTHONPATH".into(), value.join(CPS));
    }

    // Client.prepareLocalResources.
    if let PrimaryResource::Jar { uri, .. } = &input.primary {
        if is_local(uri) {
            conf.insert("spark.yarn.user.jar".into(), uri.clone());
        }
    }
    let secondary = secondary_jars(&conf, input);
    if !secondary.is_empty() {
        conf.insert("spark.yarn.secondary.jars".into(), secondary.join(","));
    }
    if let Some(keytab) = input.resources_with(ResourceRole::Keytab).next() {
        conf.insert("spark.kerberos.keytab".into(), keytab.link.clone());
    }
    conf
}

/// The link names (or `local:` URIs) of `spark.yarn.dist.jars`, skipping what an earlier
/// resource already put in the cache under the same URI or file name, as `Client.distribute` does.
fn secondary_jars(conf: &BTreeMap<String, String>, input: &SubmissionInput) -> Vec<String> {
    let mut uris = HashSet::new();
    let mut names = HashSet::new();
    let mut distribute =
        |uri: &str| uris.insert(uri.to_string()) & names.insert(file_name(uri).to_string());
    let earlier = [
        conf.get("spark.kerberos.keytab").cloned(),
        conf.get("spark.yarn.archive").map(|a| resolve_uri(a)),
        match &input.primary {
            PrimaryResource::Jar { uri, .. } => Some(uri.clone()),
            PrimaryResource::Python { .. } => None,
        },
    ];
    for uri in earlier.iter().flatten().filter(|u| !is_local(u)) {
        distribute(&resolve_uri(uri));
    }
    let mut links = Vec::new();
    for jar in list(conf, "spark.yarn.dist.jars") {
        let uri = resolve_uri(&jar);
        if is_local(&uri) {
            links.push(jar);
        } else if distribute(&uri) {
            links.push(uri_fragment(&uri).unwrap_or(file_name(&uri)).to_string());
        }
    }
    links
}

/// `java.util.Properties.store(Writer, comments)` without the date comment line: one
/// `key=value` line per entry, keys sorted (Java's order is a hash order the AM does not depend
/// on), with Java's escapes. Non-ASCII text is kept as is (UTF-8), as the Writer form does.
pub fn properties_text(comment: &str, entries: &BTreeMap<String, String>) -> String {
    let mut out = format!("#{comment}\n");
    for (key, value) in entries {
        escape_into(&mut out, key, true);
        out.push('=');
        escape_into(&mut out, value, false);
        out.push('\n');
    }
    out
}

fn escape_into(out: &mut String, text: &str, is_key: bool) {
    for (i, c) in text.chars().enumerate() {
        match c {
            ' ' if i == 0 || is_key => out.push_str("\\ "),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{c}' => out.push_str("\\f"),
            '=' | ':' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_byte_string_as() {
        assert_eq!(bytes_as_mib("1g"), Ok(1024));
        assert_eq!(bytes_as_mib("2048"), Ok(2048));
        assert_eq!(bytes_as_mib(" 512M "), Ok(512));
        assert_eq!(bytes_as_mib("1500k"), Ok(1));
        assert_eq!(bytes_as_mib("3gb"), Ok(3072));
        assert!(bytes_as_mib("1.5g").is_err());
        assert!(bytes_as_mib("1x").is_err());
    }

    #[test]
    fn uri_parts_follow_java_uri() {
        assert_eq!(uri_scheme("hdfs://nn:8020/a/b.jar"), Some("hdfs"));
        assert_eq!(uri_scheme("/a/b:c.jar"), None);
        assert_eq!(uri_scheme("local:/opt/x.jar"), Some("local"));
        assert_eq!(uri_path("hdfs://nn:8020/a/b.jar#x"), "/a/b.jar");
        assert_eq!(uri_path("local:/opt/x.jar"), "/opt/x.jar");
        assert_eq!(file_name("hdfs://nn/a/dep.zip#alias"), "dep.zip");
        assert_eq!(uri_fragment("hdfs://nn/a/dep.zip#alias"), Some("alias"));
        assert_eq!(resolve_uri("/tmp/a.jar"), "file:/tmp/a.jar");
    }

    #[test]
    fn properties_escape_like_java() {
        // Expected text produced by java.util.Properties.store on JDK 17 for the same entry.
        let mut m = BTreeMap::new();
        m.insert(
            "k ey=:#!".to_string(),
            " lead = x:y#z!\\ é\ttab\nnl".to_string(),
        );
        assert_eq!(
            properties_text("Spark configuration.", &m),
            "#Spark configuration.\nk\\ ey\\=\\:\\#\\!=\\ lead \\= x\\:y\\#z\\!\\\\ é\\ttab\\nnl\n"
        );
    }
}
