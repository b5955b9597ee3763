//! Checks and completes a session's or batch's Spark configuration exactly as Livy's
//! `Session.prepareConf` does: blacklisted keys are refused, the request's file lists are merged
//! with the matching `conf` entries, every URI is resolved against `fs.defaultFS`, and local files
//! must sit under `livy.file.local-dir-whitelist`. The master and deploy mode always come from
//! livy.conf.

use super::validate;
use crate::conf::LivyConf;
use std::collections::BTreeMap;

/// The file lists of a create request.
#[derive(Debug, Default, Clone, Copy)]
pub struct FileLists<'a> {
    pub jars: &'a [String],
    pub files: &'a [String],
    pub archives: &'a [String],
    pub py_files: &'a [String],
}

/// Resource fields of a create request (Livy's builder maps them to Spark settings).
#[derive(Debug, Default, Clone, Copy)]
pub struct Resources<'a> {
    pub driver_memory: Option<&'a str>,
    pub driver_cores: Option<i32>,
    pub executor_memory: Option<&'a str>,
    pub executor_cores: Option<i32>,
    pub num_executors: Option<i32>,
}

impl Resources<'_> {
    /// `driverMemory` → `spark.driver.memory`, ...; these win over the same keys in `conf`.
    pub fn spark_conf(&self) -> Vec<(&'static str, String)> {
        let text = |v: Option<&str>| v.map(String::from);
        let int = |v: Option<i32>| v.map(|n| n.to_string());
        [
            ("spark.driver.memory", text(self.driver_memory)),
            ("spark.driver.cores", int(self.driver_cores)),
            ("spark.executor.memory", text(self.executor_memory)),
            ("spark.executor.cores", int(self.executor_cores)),
            ("spark.executor.instances", int(self.num_executors)),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
    }
}

/// What batches and sessions have in common: a user conf, file lists and resources.
pub trait SparkRequest {
    fn user_conf(&self) -> &BTreeMap<String, String>;
    fn file_lists(&self) -> FileLists<'_>;
    fn resources(&self) -> Resources<'_>;
    /// Free-text fields that reach spark-submit's command line (`name`, `queue`).
    fn text_fields(&self) -> [(&'static str, Option<&str>); 2];
}

/// Implements [`SparkRequest`] for a create-request struct with Livy's field names (`conf`,
/// `jars`, `files`, `archives`, `py_files`, `driver_memory`, ...). A macro because batches and
/// sessions have separate structs: serde's `flatten` cannot share the fields while keeping
/// `deny_unknown_fields`, which Livy's strict parsing needs.
#[macro_export]
macro_rules! impl_spark_request {
    ($t:ty) => {
        impl $crate::launch::prepare::SparkRequest for $t {
            fn user_conf(&self) -> &std::collections::BTreeMap<String, String> {
                &self.conf
            }

            fn file_lists(&self) -> $crate::launch::prepare::FileLists<'_> {
                $crate::launch::prepare::FileLists {
                    jars: &self.jars,
                    files: &self.files,
                    archives: &self.archives,
                    py_files: &self.py_files,
                }
            }

            fn text_fields(&self) -> [(&'static str, Option<&str>); 2] {
                [
                    ("name", self.name.as_deref()),
                    ("queue", self.queue.as_deref()),
                ]
            }

            fn resources(&self) -> $crate::launch::prepare::Resources<'_> {
                $crate::launch::prepare::Resources {
                    driver_memory: self.driver_memory.as_deref(),
                    driver_cores: self.driver_cores,
                    executor_memory: self.executor_memory.as_deref(),
                    executor_cores: self.executor_cores,
                    num_executors: self.num_executors,
                }
            }
        }
    };
}

/// The conf a request launches with: [`prepare_conf`] plus its resource fields.
pub fn launch_conf(
    request: &impl SparkRequest,
    livy: &LivyConf,
) -> Result<BTreeMap<String, String>, String> {
    for (field, value) in request.text_fields() {
        validate::text_field(field, value)?;
    }
    validate::resources(&request.resources())?;
    let mut conf = prepare_conf(request.user_conf(), request.file_lists(), livy)?;
    for (key, value) in request.resources().spark_conf() {
        conf.insert(key.to_string(), value);
    }
    let texts = request.text_fields();
    validate::command_line(&conf, texts.iter().filter_map(|(f, v)| Some((*f, (*v)?))))?;
    Ok(conf)
}

/// Returns the conf to launch with, or Livy's message for why the request is refused.
pub fn prepare_conf(
    user_conf: &BTreeMap<String, String>,
    lists: FileLists<'_>,
    livy: &LivyConf,
) -> Result<BTreeMap<String, String>, String> {
    for (key, value) in user_conf {
        validate::conf_entry(key, value)?;
    }
    let blacklisted: Vec<&str> = user_conf
        .keys()
        .filter(|k| livy.blacklist.contains(k.as_str()))
        .map(String::as_str)
        .collect();
    if !blacklisted.is_empty() {
        return Err(format!(
            "Blacklisted configuration values in session config: {}",
            blacklisted.join(", ")
        ));
    }

    // A keytab is read by spark-submit on this host, as the server's OS user, and shipped with
    // the application: naming the server's own keytab would hand its credentials (a Hadoop
    // proxy-user superuser) to the user's code. So it is a local file like any other.
    for key in KEYTAB_KEYS {
        if let Some(value) = user_conf.get(*key) {
            keytab_file(value, livy)?;
        }
    }

    let mut conf = user_conf.clone();
    conf.insert("spark.master".into(), livy.spark.master.clone());
    if let Some(mode) = &livy.spark.deploy_mode {
        conf.insert("spark.submit.deployMode".into(), mode.clone());
    }

    for key in &livy.spark.file_list_keys {
        let from_request: &[String] = match key.as_str() {
            "spark.jars" => lists.jars,
            "spark.files" => lists.files,
            "spark.yarn.dist.archives" => lists.archives,
            "spark.submit.pyFiles" => lists.py_files,
            _ => &[],
        };
        let from_conf: Vec<String> = user_conf
            .get(key)
            .map(|v| {
                v.split([',', ' '])
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        // Spark splits every list value at commas: `["ok.jar,/etc/secret"]` is two files, and
        // each must pass the checks on its own.
        let from_request: Vec<String> = from_request
            .iter()
            .flat_map(|entry| entry.split(','))
            .map(|s| s.trim().to_string())
            .collect();
        let mut merged = resolve_uris(&from_request, livy)?;
        merged.extend(resolve_uris(&from_conf, livy)?);
        if !merged.is_empty() {
            conf.insert(key.clone(), merged.join(","));
        }
    }
    Ok(conf)
}

/// Settings whose value is a keytab file that spark-submit reads on this host.
const KEYTAB_KEYS: &[&str] = &["spark.kerberos.keytab", "spark.yarn.keytab"];

/// A path spark-submit reads on this host (plain, `file:` or `local:`): it must sit under
/// `livy.file.local-dir-whitelist`, checked as [`resolve_uri`] checks `file:` URIs.
fn keytab_file(value: &str, livy: &LivyConf) -> Result<(), String> {
    let parsed = JavaUri::parse(value)?;
    match parsed.scheme.as_deref() {
        None | Some("file") | Some("local") => {}
        Some(_) => return Ok(()),
    }
    if !parsed.path.starts_with('/') {
        return Err(format!(
            "requirement failed: Path '{}' is not absolute.",
            parsed.path
        ));
    }
    whitelisted(&parsed.path, livy)
}

/// Refuses a local path outside `livy.file.local-dir-whitelist`, lexically and on the real file
/// system (a symlink, or `..` through one, inside a whitelisted directory that points outside
/// it is refused).
fn whitelisted(path: &str, livy: &LivyConf) -> Result<(), String> {
    let normalized = normalize(path);
    let real = real_path(&normalized);
    let allowed = livy.local_dir_whitelist.iter().any(|dir| {
        starts_with_components(&normalized, dir)
            && starts_with_components(&real, &real_path(&normalize(dir)))
    });
    if allowed {
        Ok(())
    } else {
        Err(format!(
            "requirement failed: Local path {path} cannot be added to user sessions."
        ))
    }
}

/// Resolves each non-empty URI (see [`resolve_uri`]).
pub fn resolve_uris(uris: &[String], livy: &LivyConf) -> Result<Vec<String>, String> {
    uris.iter()
        .filter(|u| !u.is_empty())
        .map(|u| resolve_uri(u, livy))
        .collect()
}

/// Livy's `Session.resolveURI`: scheme-less paths must be absolute and get `fs.defaultFS` in
/// front; `file:` URIs must point under a whitelisted directory.
pub fn resolve_uri(uri: &str, livy: &LivyConf) -> Result<String, String> {
    let parsed = JavaUri::parse(uri)?;
    let resolved = match parsed.scheme {
        Some(_) => uri.to_string(),
        None => {
            let mut path = parsed.path.clone();
            if let Some(fragment) = &parsed.fragment {
                path.push('#');
                path.push_str(fragment);
            }
            if !path.starts_with('/') {
                return Err(format!(
                    "requirement failed: Path '{}' is not absolute.",
                    parsed.path
                ));
            }
            let default_fs = livy.hadoop.default_fs();
            let base = default_fs.strip_suffix('/').unwrap_or(&default_fs);
            format!("{base}{path}")
        }
    };
    let resolved_parsed = JavaUri::parse(&resolved)?;
    // `local:` names a file on the driver's host: on YARN in cluster mode that is a cluster node
    // (read as the user); otherwise it is this host, read as the server's OS user.
    let driver_here = livy.spark.deploy_mode.as_deref() != Some("cluster");
    let local_here = resolved_parsed.scheme.as_deref() == Some("local") && driver_here;
    if resolved_parsed.scheme.as_deref() == Some("file") || local_here {
        whitelisted(&resolved_parsed.path, livy).map_err(|_| {
            format!(
                "requirement failed: Local path {} cannot be added to user sessions.",
                parsed.path
            )
        })?;
    }
    Ok(resolved)
}

/// The server-side file a [`resolve_uri`]-checked `file:` URI names (the real path the
/// whitelist was checked against), or `None` for any other scheme.
pub fn local_file(resolved: &str) -> Option<std::path::PathBuf> {
    let uri = JavaUri::parse(resolved).ok()?;
    (uri.scheme.as_deref() == Some("file"))
        .then(|| std::path::PathBuf::from(real_path(&normalize(&uri.path))))
}

/// The parts of a URI Livy looks at, as `java.net.URI` reports them (path percent-decoded).
///
/// Hand-written because the decision must match Java's URI view of scheme and path; the WHATWG
/// parser of the `url` crate normalises paths and treats scheme-less input as an error instead.
#[derive(Debug, PartialEq, Eq)]
struct JavaUri {
    scheme: Option<String>,
    path: String,
    fragment: Option<String>,
}

impl JavaUri {
    fn parse(uri: &str) -> Result<Self, String> {
        if let Some(bad) = uri
            .chars()
            .find(|c| c.is_control() || " \"<>\\^`{|}".contains(*c))
        {
            return Err(format!("Illegal character {bad:?} in URI '{uri}'"));
        }
        let (rest, fragment) = match uri.split_once('#') {
            Some((r, f)) => (r, Some(f.to_string())),
            None => (uri, None),
        };
        let rest = rest.split_once('?').map_or(rest, |(r, _)| r);
        let scheme_end = rest.find(':').filter(|&i| {
            let s = &rest[..i];
            s.starts_with(|c: char| c.is_ascii_alphabetic())
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        });
        let (scheme, hier) = match scheme_end {
            Some(i) => (Some(rest[..i].to_ascii_lowercase()), &rest[i + 1..]),
            None => (None, rest),
        };
        let path = match hier.strip_prefix("//") {
            Some(after) => after.find('/').map_or("", |i| &after[i..]),
            None => hier,
        };
        Ok(JavaUri {
            scheme,
            path: percent_decode(path),
            fragment,
        })
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Lexical normalisation like `java.nio.file.Path.normalize` ("." dropped, ".." pops).
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The path with every symlink resolved, as far as it exists (the rest appended as written):
/// what the driver will really open. A missing file cannot be a symlink that escapes.
fn real_path(normalized: &str) -> String {
    use std::path::{Path, PathBuf};
    let mut existing = Path::new(normalized);
    let mut rest: Vec<&std::ffi::OsStr> = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            let mut out: PathBuf = real;
            out.extend(rest.iter().rev());
            return out.to_string_lossy().into_owned();
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name);
                existing = parent;
            }
            _ => return normalized.to_string(),
        }
    }
}

/// Component-wise prefix test: `/data/ab` is not under `/data/a/`.
fn starts_with_components(path: &str, dir: &str) -> bool {
    let dir = normalize(dir);
    if dir == "/" {
        return true;
    }
    path == dir || path.starts_with(&format!("{dir}/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::hadoop::HadoopConf;
    use crate::test_support::conf_with;

    fn livy(whitelist: &[&str], default_fs: Option<&str>) -> LivyConf {
        let mut c = conf_with(&[]);
        c.local_dir_whitelist = whitelist.iter().map(|s| s.to_string()).collect();
        if let Some(fs) = default_fs {
            c.hadoop = HadoopConf::from_pairs([("fs.defaultFS", fs)]);
        }
        c.blacklist = ["spark.master".to_string(), "spark.yarn.jars".to_string()].into();
        c
    }

    #[test]
    fn blacklisted_keys_are_named() {
        let c = livy(&[], None);
        let conf: BTreeMap<_, _> = [
            ("spark.yarn.jars", "x"),
            ("spark.master", "yarn"),
            ("a", "b"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            prepare_conf(&conf, FileLists::default(), &c).unwrap_err(),
            "Blacklisted configuration values in session config: spark.master, spark.yarn.jars"
        );
    }

    #[test]
    fn master_comes_from_livy_conf_and_lists_merge() {
        let c = livy(&["/data/"], Some("hdfs://nn:8020/"));
        let conf: BTreeMap<_, _> = [("spark.jars", "hdfs:///lib/b.jar, /lib/c.jar")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let jars = vec!["/lib/a.jar".to_string()];
        let py = vec!["file:///data/x.py".to_string()];
        let out = prepare_conf(
            &conf,
            FileLists {
                jars: &jars,
                py_files: &py,
                ..FileLists::default()
            },
            &c,
        )
        .unwrap();
        assert_eq!(out["spark.master"], c.spark.master);
        assert_eq!(
            out["spark.jars"],
            "hdfs://nn:8020/lib/a.jar,hdfs:///lib/b.jar,hdfs://nn:8020/lib/c.jar"
        );
        assert_eq!(out["spark.submit.pyFiles"], "file:///data/x.py");
        assert!(!out.contains_key("spark.files"));
    }

    #[test]
    fn whitelist_follows_livy() {
        let c = livy(&["/data/ok/"], None);
        assert_eq!(
            resolve_uri("/data/ok/job.py", &c).unwrap(),
            "file:///data/ok/job.py"
        );
        assert_eq!(
            resolve_uri("file:/data/ok/a.jar", &c).unwrap(),
            "file:/data/ok/a.jar"
        );
        assert_eq!(
            resolve_uri("/data/okay/job.py", &c).unwrap_err(),
            "requirement failed: Local path /data/okay/job.py cannot be added to user sessions."
        );
        assert!(resolve_uri("/data/ok/../../etc/passwd", &c).is_err());
        assert_eq!(
            resolve_uri("job.py", &c).unwrap_err(),
            "requirement failed: Path 'job.py' is not absolute."
        );
        assert_eq!(
            resolve_uri("hdfs://nn/x.jar", &c).unwrap(),
            "hdfs://nn/x.jar"
        );
        // `local:` is read on this host in local mode: whitelisted like `file:`; on YARN in
        // cluster mode it names a path on the cluster's nodes and is left alone.
        assert!(resolve_uri("local:/opt/x.jar", &c).is_err());
        assert!(resolve_uri("local:/data/ok/x.jar", &c).is_ok());
        let mut cluster = livy(&["/data/ok/"], None);
        cluster.spark.deploy_mode = Some("cluster".into());
        assert_eq!(
            resolve_uri("local:/opt/x.jar", &cluster).unwrap(),
            "local:/opt/x.jar"
        );
        assert!(resolve_uri("/data/ok/a b.py", &c).is_err());
        let none = livy(&[], None);
        assert!(resolve_uri("/data/ok/job.py", &none).is_err());
    }

    #[test]
    fn symlinks_out_of_the_whitelist_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("ok");
        std::fs::create_dir(&ok).unwrap();
        std::fs::write(ok.join("job.py"), "x").unwrap();
        std::fs::write(dir.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), ok.join("link")).unwrap();
        std::os::unix::fs::symlink(dir.path(), ok.join("up")).unwrap();
        let c = livy(&[ok.to_str().unwrap()], None);
        let ok_s = ok.to_str().unwrap();
        assert!(resolve_uri(&format!("{ok_s}/job.py"), &c).is_ok());
        assert!(resolve_uri(&format!("{ok_s}/link"), &c).is_err());
        assert!(resolve_uri(&format!("file://{ok_s}/up/secret"), &c).is_err());
        assert!(resolve_uri(&format!("{ok_s}/not-yet-there.py"), &c).is_ok());
    }

    #[test]
    fn list_entries_are_split_at_commas_like_spark() {
        let c = livy(&["/data/ok/"], None);
        let jars = vec!["/data/ok/a.jar,/etc/secret".to_string()];
        let err = prepare_conf(
            &BTreeMap::new(),
            FileLists {
                jars: &jars,
                ..FileLists::default()
            },
            &c,
        )
        .unwrap_err();
        assert!(err.contains("/etc/secret"), "{err}");
    }

    #[test]
    fn keys_with_separators_never_reach_the_blacklist_check() {
        let c = livy(&[], None);
        let conf: BTreeMap<_, _> = [("spark.master=local", "x")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let err = prepare_conf(&conf, FileLists::default(), &c).unwrap_err();
        assert!(err.starts_with("Invalid configuration key"), "{err}");
    }

    #[test]
    fn keytabs_must_be_whitelisted_local_files() {
        let c = livy(&["/data/ok/"], None);
        let conf = |k: &str, v: &str| -> BTreeMap<String, String> {
            [(k.to_string(), v.to_string())].into_iter().collect()
        };
        for key in ["spark.kerberos.keytab", "spark.yarn.keytab"] {
            for bad in [
                "/etc/security/keytabs/livy.keytab",
                "file:///etc/security/keytabs/livy.keytab",
                "local:/etc/livy.keytab",
                "/data/ok/../../etc/livy.keytab",
                "/data/ok/%2e%2e/x.keytab",
                "livy.keytab",
            ] {
                let err = prepare_conf(&conf(key, bad), FileLists::default(), &c).unwrap_err();
                assert!(err.starts_with("requirement failed"), "{key}={bad}: {err}");
            }
            let ok = prepare_conf(
                &conf(key, "/data/ok/alice.keytab"),
                FileLists::default(),
                &c,
            );
            assert_eq!(ok.unwrap()[key], "/data/ok/alice.keytab");
        }
    }

    #[test]
    fn java_uri_view() {
        let u = JavaUri::parse("file://host/a%20b/c#frag").unwrap();
        assert_eq!(u.scheme.as_deref(), Some("file"));
        assert_eq!(u.path, "/a b/c");
        assert_eq!(u.fragment.as_deref(), Some("frag"));
        assert_eq!(JavaUri::parse("/x/y").unwrap().scheme, None);
        assert_eq!(normalize("/a/./b/../c/"), "/a/c");
    }
}
