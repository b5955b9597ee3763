//! Helpers for unit tests.

use crate::conf::{Env, LivyConf};
use std::collections::{BTreeMap, BTreeSet};

/// A configuration over a fake Spark home (a `bin/spark-submit` that is never run), with the
/// given livy.conf entries.
pub fn conf_with(entries: &[(&str, &str)]) -> LivyConf {
    let spark = tempfile::tempdir().unwrap().keep();
    std::fs::create_dir_all(spark.join("bin")).unwrap();
    std::fs::write(spark.join("bin/spark-submit"), "#!/bin/sh\n").unwrap();
    let env = Env {
        spark_home: Some(spark),
        ..Env::default()
    };
    let raw: BTreeMap<String, String> = entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    LivyConf::from_map(raw, BTreeSet::new(), &env)
        .unwrap_or_else(|e| panic!("{e}"))
        .conf
}
