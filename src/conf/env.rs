//! What the configuration reads from outside livy.conf: the process environment (captured once,
//! and injectable in tests), Java properties files, and the Spark version of a Spark home.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The process environment the configuration depends on, captured once (and injectable in tests).
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub livy_home: Option<PathBuf>,
    pub livy_conf_dir: Option<PathBuf>,
    pub livy_log_dir: Option<PathBuf>,
    pub livy_pid_dir: Option<PathBuf>,
    pub spark_home: Option<PathBuf>,
    pub spark_conf_dir: Option<PathBuf>,
    pub hadoop_conf_dir: Option<PathBuf>,
    pub yarn_conf_dir: Option<PathBuf>,
    pub pyspark_python: Option<String>,
    /// `KRB5_CONFIG`: where the Kerberos library reads krb5.conf (for the default realm).
    pub krb5_config: Option<String>,
}

impl Env {
    /// Reads the variables Livy's launcher script and Spark honour.
    pub fn from_process() -> Self {
        let path = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Env {
            livy_home: path("LIVY_HOME"),
            livy_conf_dir: path("LIVY_CONF_DIR"),
            livy_log_dir: path("LIVY_LOG_DIR"),
            livy_pid_dir: path("LIVY_PID_DIR"),
            spark_home: path("SPARK_HOME"),
            spark_conf_dir: path("SPARK_CONF_DIR"),
            hadoop_conf_dir: path("HADOOP_CONF_DIR"),
            yarn_conf_dir: path("YARN_CONF_DIR"),
            pyspark_python: std::env::var("PYSPARK_PYTHON")
                .ok()
                .filter(|v| !v.is_empty()),
            krb5_config: std::env::var("KRB5_CONFIG").ok().filter(|v| !v.is_empty()),
        }
    }

    /// `LIVY_CONF_DIR`, else `$LIVY_HOME/conf`, else `./conf`.
    pub fn conf_dir(&self) -> PathBuf {
        self.livy_conf_dir
            .clone()
            .or_else(|| self.livy_home.as_ref().map(|h| h.join("conf")))
            .unwrap_or_else(|| PathBuf::from("conf"))
    }
}

/// Reads a Java properties file; `Ok(None)` when it does not exist.
pub fn read_properties(path: &Path) -> Result<Option<BTreeMap<String, String>>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    parse_properties(&bytes)
        .map(Some)
        .map_err(|e| format!("cannot parse {}: {e}", path.display()))
}

/// Parses the text of a Java properties file.
///
/// Why the newline: `java_properties` 2.0 panics ("Must not use a decoder that has finished")
/// on a file that is nothing but the start of a byte-order mark (`EF`, `EF BB`, `FE`, `FF`; found
/// by the livy_conf fuzz target): its decoder holds those bytes back until the end of input,
/// emits them on the final call and is then called once more. A line terminator at the end means
/// nothing is held back at the end. It changes no property, except that a backslash ending the
/// file is now dropped as Java's `Properties.load` drops it (without the newline the crate read
/// `a = b\` at the very end as something else).
pub fn parse_properties(text: &[u8]) -> Result<BTreeMap<String, String>, String> {
    java_properties::read(std::io::Read::chain(text, &b"\n"[..]))
        .map(|m| m.into_iter().collect())
        .map_err(|e| e.to_string())
}

/// The Spark version from the name of `jars/spark-core_<scala>-<spark>.jar`.
pub(super) fn detect_spark_version(home: &Path) -> Option<String> {
    let Ok(entries) = std::fs::read_dir(home.join("jars")) else {
        return None;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(rest) = name
            .strip_prefix("spark-core_")
            .and_then(|r| r.strip_suffix(".jar"))
        {
            if let Some((_scala, spark)) = rest.split_once('-') {
                return Some(spark.to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file that is only the start of a byte-order mark used to panic inside the properties
    /// reader (livy_conf fuzz finding); it is now read like any other one-line file.
    #[test]
    fn a_file_that_is_a_byte_order_mark_prefix_is_read_not_a_panic() {
        for text in [&b"\xef"[..], b"\xef\xbb", b"\xfe", b"\xff"] {
            let props = parse_properties(text).unwrap();
            assert_eq!(props.len(), 1, "{text:?}: {props:?}");
        }
        assert_eq!(parse_properties(b"\xef\xbb\xbfa=b").unwrap()["a"], "b");
    }

    /// The added line end changes nothing: the last line, an already terminated file and an
    /// empty one read as before; a backslash ending the file is dropped, as Java drops it.
    #[test]
    fn the_added_line_end_changes_no_property() {
        let read = |t: &[u8]| parse_properties(t).unwrap();
        assert_eq!(read(b"a = b"), read(b"a = b\n"));
        assert_eq!(read(b"a = b\\"), BTreeMap::from([("a".into(), "b".into())]));
        assert_eq!(read(b"a=1\nb=2\r\n"), read(b"a=1\nb=2"));
        assert!(read(b"").is_empty());
        assert_eq!(read(b"# only a comment"), BTreeMap::new());
    }
}
