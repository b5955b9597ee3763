//! livy.conf, then spark-blacklist.conf after a line `%%`, as the server reads them at start.
#![no_main]
use libfuzzer_sys::fuzz_target;
use livy_rs::conf::Env;
use std::sync::LazyLock;

/// A Spark home with a `bin/spark-submit` (never run), kept for the whole run.
static ENV: LazyLock<Env> = LazyLock::new(|| {
    let spark = tempfile::tempdir().unwrap().keep();
    std::fs::create_dir_all(spark.join("bin")).unwrap();
    std::fs::write(spark.join("bin/spark-submit"), "not a program\n").unwrap();
    Env {
        spark_home: Some(spark),
        ..Env::default()
    }
});

fuzz_target!(|data: &[u8]| {
    let (conf, blacklist) = match data.windows(4).position(|w| w == b"\n%%\n") {
        Some(at) => (&data[..at], &data[at + 4..]),
        None => (data, &[][..]),
    };
    livy_rs::fuzzing::livy_conf(conf, blacklist, &ENV);
});
