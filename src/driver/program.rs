//! The driver program as the server ships it: a small entry program (`livy_rs_driver.py`, the
//! primary resource spark-submit runs), its package `livy_rs_driver_lib` (one zip) and the
//! Scala bridge, all embedded so the server binary needs nothing else.
//!
//! Why one zip in `spark.files` (not `--py-files`, not loose files): on YARN a `spark.files`
//! entry is localized into the container's working directory as a file, by its file name and
//! flat (not unpacked, unlike `spark.archives`), so a package directory cannot travel as such
//! but one zip of it can, and the entry program puts that zip on `sys.path` itself (Python
//! imports from a zip). `spark.submit.pyFiles` would also go to the executors' PYTHONPATH, which
//! never need the driver's code, and it is the user's setting (a warm pool adds a request's
//! pyFiles to the running context). Locally the same zip sits beside the program in the run dir.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

/// The entry program's file name (also what process checks look for in command lines).
pub const DRIVER_FILE: &str = "livy_rs_driver.py";

/// The entry program: it finds the package and runs it.
pub const DRIVER_PY: &str = include_str!("python/livy_rs_driver.py");

/// The package's name, and the zip it travels in beside the program.
pub const DRIVER_PACKAGE: &str = "livy_rs_driver_lib";
pub const DRIVER_PACKAGE_ZIP: &str = "livy_rs_driver_lib.zip";

/// Every module of the package: (file name, source).
pub const DRIVER_MODULES: &[(&str, &str)] = &[
    (
        "__init__.py",
        include_str!("python/livy_rs_driver_lib/__init__.py"),
    ),
    (
        "additions.py",
        include_str!("python/livy_rs_driver_lib/additions.py"),
    ),
    (
        "cancel.py",
        include_str!("python/livy_rs_driver_lib/cancel.py"),
    ),
    (
        "channel.py",
        include_str!("python/livy_rs_driver_lib/channel.py"),
    ),
    (
        "driver.py",
        include_str!("python/livy_rs_driver_lib/driver.py"),
    ),
    ("jobs.py", include_str!("python/livy_rs_driver_lib/jobs.py")),
    ("main.py", include_str!("python/livy_rs_driver_lib/main.py")),
    (
        "output.py",
        include_str!("python/livy_rs_driver_lib/output.py"),
    ),
    (
        "process.py",
        include_str!("python/livy_rs_driver_lib/process.py"),
    ),
    (
        "python_repl.py",
        include_str!("python/livy_rs_driver_lib/python_repl.py"),
    ),
    (
        "scala_repl.py",
        include_str!("python/livy_rs_driver_lib/scala_repl.py"),
    ),
    (
        "sql_repl.py",
        include_str!("python/livy_rs_driver_lib/sql_repl.py"),
    ),
    (
        "statements.py",
        include_str!("python/livy_rs_driver_lib/statements.py"),
    ),
];

/// The Scala half of the `spark` kind, which the driver's Scala REPL interprets at start-up; it
/// is written beside the program (and shipped with it on YARN), where the program looks for it.
pub const SCALA_BRIDGE: &str = include_str!("python/livy_rs_bridge.scala");
/// Its file name beside the program.
pub const SCALA_BRIDGE_FILE: &str = "livy_rs_bridge.scala";

/// The package as a zip: `livy_rs_driver_lib/<module>` entries, stored (zipimport reads them
/// without zlib) and with the zip format's fixed default time, so the bytes never change.
pub fn package_zip() -> zip::result::ZipResult<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .unix_permissions(0o644);
    for (name, source) in DRIVER_MODULES {
        zip.start_file(format!("{DRIVER_PACKAGE}/{name}"), options)?;
        zip.write_all(source.as_bytes())?;
    }
    Ok(zip.finish()?.into_inner())
}

/// Writes the program, its package zip and the Scala bridge into `dir`; returns the program's
/// path (spark-submit's primary resource).
pub fn write_program(dir: &Path) -> anyhow::Result<PathBuf> {
    let program = dir.join(DRIVER_FILE);
    std::fs::write(&program, DRIVER_PY)?;
    std::fs::write(dir.join(DRIVER_PACKAGE_ZIP), package_zip()?)?;
    std::fs::write(dir.join(SCALA_BRIDGE_FILE), SCALA_BRIDGE)?;
    Ok(program)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// A module added to the package but not to the table would be missing where the driver
    /// runs; the table must list exactly the package directory's files.
    #[test]
    fn every_module_of_the_package_is_embedded() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/driver/python")
            .join(DRIVER_PACKAGE);
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".py"))
            .collect();
        on_disk.sort();
        let embedded: Vec<String> = DRIVER_MODULES.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn the_zip_holds_the_package_and_the_program_is_written_beside_it() {
        let tmp = tempfile::tempdir().unwrap();
        let program = write_program(tmp.path()).unwrap();
        assert_eq!(program, tmp.path().join(DRIVER_FILE));
        assert_eq!(std::fs::read_to_string(&program).unwrap(), DRIVER_PY);
        assert!(tmp.path().join(SCALA_BRIDGE_FILE).is_file());
        let bytes = std::fs::read(tmp.path().join(DRIVER_PACKAGE_ZIP)).unwrap();
        assert_eq!(bytes, package_zip().unwrap(), "the same bytes every time");
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        for (name, source) in DRIVER_MODULES {
            let mut text = String::new();
            zip.by_name(&format!("{DRIVER_PACKAGE}/{name}"))
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
            assert_eq!(&text, source);
        }
        assert_eq!(zip.len(), DRIVER_MODULES.len());
    }
}
