//! Hadoop's XML configuration files (core-site.xml, yarn-site.xml, hdfs-site.xml).
//!
//! Read once from HADOOP_CONF_DIR (and YARN_CONF_DIR) with quick-xml. Values are expanded the way
//! Hadoop's `Configuration.get` does: `${name}` refers to another property or, failing that, a
//! Java system property we do not have, and `${env.NAME}` to the environment; unresolvable
//! references are left as written, and expansion stops after Hadoop's 20 rounds.

use quick_xml::events::Event;
use quick_xml::Reader;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const MAX_SUBSTITUTIONS: usize = 20;
/// Files read from each directory, in order; later files override earlier ones, as Hadoop's
/// default resources do (final properties aside, which livy-rs does not need).
const SITE_FILES: &[&str] = &["core-site.xml", "hdfs-site.xml", "yarn-site.xml"];

/// The merged Hadoop configuration.
#[derive(Debug, Clone, Default)]
pub struct HadoopConf {
    props: HashMap<String, String>,
    /// The files that were read, for diagnostics.
    pub sources: Vec<PathBuf>,
}

impl HadoopConf {
    /// Loads the site files found in the given directories (missing files are skipped).
    pub fn load(dirs: &[PathBuf]) -> Result<Self, String> {
        let mut conf = HadoopConf::default();
        for dir in dirs {
            for name in SITE_FILES {
                let path = dir.join(name);
                if !path.is_file() {
                    continue;
                }
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                let props = parse_xml(&text)
                    .map_err(|e| format!("cannot parse {}: {e}", path.display()))?;
                conf.props.extend(props);
                conf.sources.push(path);
            }
        }
        Ok(conf)
    }

    /// Builds a configuration from pairs (tests, and callers that synthesise one).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        HadoopConf {
            props: pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            sources: Vec::new(),
        }
    }

    /// The expanded value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<String> {
        self.props.get(key).map(|raw| self.expand(raw))
    }

    /// The expanded value of `key` with surrounding whitespace removed (Hadoop's `getTrimmed`);
    /// an empty value counts as unset, as it does for Hadoop's address keys.
    pub fn get_trimmed(&self, key: &str) -> Option<String> {
        self.get(key)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// [`get_trimmed`](Self::get_trimmed), or `default` (the `*-default.xml` value) when unset.
    pub fn get_or(&self, key: &str, default: &str) -> String {
        self.get_trimmed(key).unwrap_or_else(|| default.to_string())
    }

    /// A comma-separated list with blanks dropped (Hadoop's `getTrimmedStrings`).
    pub fn get_list(&self, key: &str) -> Vec<String> {
        self.get(key)
            .map(|v| super::units::comma_list(&v))
            .unwrap_or_default()
    }

    /// `fs.defaultFS`, defaulting to the local file system as Hadoop does.
    pub fn default_fs(&self) -> String {
        self.get("fs.defaultFS")
            .or_else(|| self.get("fs.default.name"))
            .unwrap_or_else(|| "file:///".to_string())
    }

    fn expand(&self, raw: &str) -> String {
        let mut value = raw.to_string();
        for _ in 0..MAX_SUBSTITUTIONS {
            let Some(start) = value.find("${") else { break };
            let Some(len) = value[start..].find('}') else {
                break;
            };
            let name = &value[start + 2..start + len];
            let replacement = match name.strip_prefix("env.") {
                Some(var) => std::env::var(var).ok(),
                None => self.props.get(name).cloned(),
            };
            let Some(replacement) = replacement else {
                break;
            };
            value.replace_range(start..start + len + 1, &replacement);
        }
        value
    }
}

/// Parses `<configuration><property><name>k</name><value>v</value></property>...`.
pub(crate) fn parse_xml(text: &str) -> Result<HashMap<String, String>, String> {
    let mut reader = Reader::from_str(text);
    let mut props = HashMap::new();
    let mut path: Vec<String> = Vec::new();
    let (mut name, mut value) = (None::<String>, None::<String>);
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(tag) => {
                let tag = String::from_utf8_lossy(tag.name().as_ref()).into_owned();
                if tag == "property" {
                    name = None;
                    value = None;
                }
                path.push(tag);
            }
            Event::End(_) => {
                let closed = path.pop();
                if closed.as_deref() == Some("property") {
                    let value = value.take().unwrap_or_default();
                    if let Some(n) = name.take() {
                        props.insert(n.trim().to_string(), value);
                    }
                }
            }
            Event::Text(t) => {
                let text = t.unescape().map_err(|e| e.to_string())?.into_owned();
                append_field(&path, &mut name, &mut value, &text);
            }
            Event::CData(t) => {
                let text = String::from_utf8_lossy(&t).into_owned();
                append_field(&path, &mut name, &mut value, &text);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(props)
}

fn append_field(
    path: &[String],
    name: &mut Option<String>,
    value: &mut Option<String>,
    text: &str,
) {
    let under_property = path.len() >= 2 && path[path.len() - 2] == "property";
    match path.last().map(String::as_str) {
        Some("name") if under_property => name.get_or_insert_with(String::new).push_str(text),
        Some("value") if under_property => value.get_or_insert_with(String::new).push_str(text),
        _ => {}
    }
}

/// The directories to read Hadoop configuration from: HADOOP_CONF_DIR then YARN_CONF_DIR.
pub fn conf_dirs(hadoop_conf_dir: Option<&Path>, yarn_conf_dir: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for dir in [hadoop_conf_dir, yarn_conf_dir].into_iter().flatten() {
        if !dirs.iter().any(|d| d == dir) {
            dirs.push(dir.to_path_buf());
        }
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_expands_site_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("core-site.xml"),
            r#"<?xml version="1.0"?>
<configuration>
  <property><name>fs.defaultFS</name><value>hdfs://${nn.host}:8020</value></property>
  <property><name>nn.host</name><value>nn1.example.com</value></property>
  <property>
    <name>hadoop.security.authentication</name>
    <value>kerberos</value>
    <description>ignored</description>
  </property>
  <property><name>a.b</name><value><![CDATA[x<y]]></value></property>
</configuration>"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("yarn-site.xml"),
            "<configuration><property><name>yarn.http.policy</name><value>HTTP_ONLY</value></property></configuration>",
        )
        .unwrap();
        let conf = HadoopConf::load(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(conf.default_fs(), "hdfs://nn1.example.com:8020");
        assert_eq!(
            conf.get("hadoop.security.authentication").unwrap(),
            "kerberos"
        );
        assert_eq!(conf.get("yarn.http.policy").unwrap(), "HTTP_ONLY");
        assert_eq!(conf.get("a.b").unwrap(), "x<y");
        assert_eq!(conf.sources.len(), 2);
    }

    #[test]
    fn defaults_to_local_fs_and_keeps_unresolved_references() {
        let conf = HadoopConf::from_pairs([("x", "${missing}/y")]);
        assert_eq!(conf.default_fs(), "file:///");
        assert_eq!(conf.get("x").unwrap(), "${missing}/y");
    }

    #[test]
    fn trimmed_defaults_and_lists() {
        let conf = HadoopConf::from_pairs([("a", "  x \n"), ("empty", " "), ("l", " rm1, ,rm2 ,")]);
        assert_eq!(conf.get_trimmed("a").as_deref(), Some("x"));
        assert_eq!(conf.get_trimmed("empty"), None);
        assert_eq!(conf.get_or("empty", "d"), "d");
        assert_eq!(conf.get_or("missing", "d"), "d");
        assert_eq!(conf.get_list("l"), ["rm1", "rm2"]);
        assert!(conf.get_list("missing").is_empty());
    }

    #[test]
    fn malformed_xml_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("core-site.xml"),
            "<configuration><property>",
        )
        .unwrap();
        // An unterminated document is tolerated by quick-xml only up to EOF; a mismatched tag is not.
        std::fs::write(dir.path().join("yarn-site.xml"), "<a></b>").unwrap();
        assert!(HadoopConf::load(&[dir.path().to_path_buf()]).is_err());
    }
}
