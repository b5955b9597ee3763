//! The `__spark_conf__.zip` archive (`Client.createConfArchive`): the two properties files at the
//! root and the Hadoop client configuration under `__hadoop_conf__/`. YARN unpacks it into the
//! container's `__spark_conf__` directory.

use std::io::{Cursor, Write};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// Entry names inside the archive.
pub const SPARK_CONF_FILE: &str = "__spark_conf__.properties";
pub const DIST_CACHE_CONF_FILE: &str = "__spark_dist_cache__.properties";
pub const HADOOP_CONF_DIR: &str = "__hadoop_conf__";

/// Builds the archive bytes. `hadoop_conf_files` are `(file name, content)` pairs, e.g. the
/// files of `HADOOP_CONF_DIR`/`YARN_CONF_DIR` (Spark takes every plain file there, plus `*.xml`
/// of `SPARK_CONF_DIR`, the first of a name winning); names with a `/` are refused.
///
/// `extra_root_files` go to the archive's root: Spark puts `__spark_hadoop_conf__.xml` (its
/// merged Hadoop conf) there, and any log4j2 config or metrics.properties found on its classpath.
pub fn conf_archive(
    spark_conf_properties: &str,
    dist_cache_properties: &str,
    hadoop_conf_files: &[(String, Vec<u8>)],
    extra_root_files: &[(String, Vec<u8>)],
) -> zip::result::ZipResult<Vec<u8>> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    // Spark stores the entries uncompressed (deflate level 0); compressing them is harmless.
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    let invalid = |name: &str| name.is_empty() || name.contains('/') || name.contains("..");

    for (name, bytes) in extra_root_files {
        if invalid(name) {
            return Err(zip::result::ZipError::InvalidArchive(
                "conf archive entry names must be plain file names".into(),
            ));
        }
        zip.start_file(name.as_str(), options)?;
        zip.write_all(bytes)?;
    }
    zip.add_directory(HADOOP_CONF_DIR, options)?;
    for (name, bytes) in hadoop_conf_files {
        if invalid(name) {
            return Err(zip::result::ZipError::InvalidArchive(
                "Hadoop conf file names must be plain file names".into(),
            ));
        }
        zip.start_file(format!("{HADOOP_CONF_DIR}/{name}"), options)?;
        zip.write_all(bytes)?;
    }
    zip.start_file(SPARK_CONF_FILE, options)?;
    zip.write_all(spark_conf_properties.as_bytes())?;
    zip.start_file(DIST_CACHE_CONF_FILE, options)?;
    zip.write_all(dist_cache_properties.as_bytes())?;
    Ok(zip.finish()?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn archive_holds_properties_and_hadoop_conf() {
        let bytes = conf_archive(
            "a=1\n",
            "b=2\n",
            &[("core-site.xml".into(), b"<configuration/>".to_vec())],
            &[(
                "__spark_hadoop_conf__.xml".into(),
                b"<configuration/>".to_vec(),
            )],
        )
        .unwrap();
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let names: Vec<String> = zip.file_names().map(String::from).collect();
        for expected in [
            "__hadoop_conf__/",
            "__hadoop_conf__/core-site.xml",
            "__spark_conf__.properties",
            "__spark_dist_cache__.properties",
            "__spark_hadoop_conf__.xml",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} in {names:?}"
            );
        }
        let mut text = String::new();
        zip.by_name("__spark_conf__.properties")
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "a=1\n");
    }

    #[test]
    fn nested_names_are_refused() {
        assert!(conf_archive("", "", &[("../x".into(), vec![])], &[]).is_err());
        assert!(conf_archive("", "", &[], &[("a/b".into(), vec![])]).is_err());
    }
}
