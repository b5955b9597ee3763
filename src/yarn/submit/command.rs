//! The ApplicationMaster command line, as `Client.createContainerLaunchContext` assembles it for
//! cluster mode. YARN runs it with `bash -c`, after expanding `{{JAVA_HOME}}`, `{{PWD}}`,
//! `<LOG_DIR>` and `<CPS>` on the NodeManager.

use super::env::{cluster_path, prefer_ipv6};
use super::input::{PrimaryResource, SparkVersion, SubmissionInput};
use super::sparkconf::{file_name, flag, with_prepended, PWD};
use std::collections::BTreeMap;

/// `JavaModuleOptions.defaultModuleOptions()` of Spark 3.5.9.
pub const MODULE_OPTIONS_3_5: &[&str] = &[
    "-XX:+IgnoreUnrecognizedVMOptions",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.invoke=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.net=ALL-UNNAMED",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.cs=ALL-UNNAMED",
    "--add-opens=java.base/sun.security.action=ALL-UNNAMED",
    "--add-opens=java.base/sun.util.calendar=ALL-UNNAMED",
    "--add-opens=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
    "-Djdk.reflect.useDirectMethodHandle=false",
];

/// `JavaModuleOptions.defaultModuleOptions()` of Spark 4.3.0. The list has changed between 4.x
/// releases; an AM of another 4.x release gets these, which JDK 17 accepts (options it does not
/// know are ignored under `-XX:+IgnoreUnrecognizedVMOptions`, checked with Debian's JDK 17).
pub const MODULE_OPTIONS_4: &[&str] = &[
    "-XX:+IgnoreUnrecognizedVMOptions",
    "--add-modules=jdk.incubator.vector",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.invoke=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.net=ALL-UNNAMED",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.cs=ALL-UNNAMED",
    "--add-opens=java.base/sun.security.action=ALL-UNNAMED",
    "--add-opens=java.base/sun.util.calendar=ALL-UNNAMED",
    "--add-opens=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dio.netty.allocator.type=pooled",
    "-Dio.netty.handler.ssl.defaultEndpointVerificationAlgorithm=NONE",
    "--sun-misc-unsafe-memory-access=allow",
    "--enable-native-access=ALL-UNNAMED",
];

const AM_CLASS: &str = "org.apache.spark.deploy.yarn.ApplicationMaster";
const PYTHON_RUNNER: &str = "org.apache.spark.deploy.PythonRunner";

/// `YarnSparkHadoopUtil.escapeForShell` (Unix): single quotes, with `$`, `"` and `'` escaped
/// for the `bash -c "..."` YARN wraps the command in.
pub fn escape_for_shell(arg: &str) -> String {
    let mut out = String::from("'");
    for c in arg.chars() {
        match c {
            '$' => out.push_str("\\$"),
            '"' => out.push_str("\\\""),
            '\'' => out.push_str("'\\''"),
            _ => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `Utils.splitCommandString`: whitespace-separated words; single quotes keep text literally,
/// double quotes allow `\x` escapes, a backslash outside quotes is an ordinary character.
pub fn split_command_string(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let (mut in_word, mut in_single, mut in_double) = (false, false, false);
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if in_double {
            match c {
                '"' => in_double = false,
                '\\' => word.extend(chars.next()),
                _ => word.push(c),
            }
        } else if in_single {
            match c {
                '\'' => in_single = false,
                _ => word.push(c),
            }
        } else if c == '"' {
            (in_word, in_double) = (true, true);
        } else if c == '\'' {
            (in_word, in_single) = (true, true);
        } else if !c.is_whitespace() {
            word.push(c);
            in_word = true;
        } else if in_word {
            words.push(std::mem::take(&mut word));
            in_word = false;
        }
    }
    if in_word || in_double || in_single {
        words.push(word);
    }
    words
}

/// `Client.createLibraryPathPrefix` on Linux: `LD_LIBRARY_PATH=\"<paths>:$LD_LIBRARY_PATH\"`.
pub fn library_path_prefix(conf: &BTreeMap<String, String>, paths: &str) -> String {
    let quoted = paths.replace('"', "\\\\\\\"");
    cluster_path(
        conf,
        &format!("LD_LIBRARY_PATH=\\\"{quoted}:$LD_LIBRARY_PATH\\\""),
    )
}

/// The JVM options before the class name, in Spark's order.
fn java_options(
    conf: &BTreeMap<String, String>,
    input: &SubmissionInput,
    am_memory_mb: u64,
    am_cores: u32,
) -> Vec<String> {
    let mut opts = Vec::new();
    let module_options = match input.spark_version {
        SparkVersion::V3_5 => MODULE_OPTIONS_3_5,
        SparkVersion::V4 => {
            // Spark 4.2+: spark.driver.limitActiveProcessorCount.enabled (default false).
            if flag(
                conf,
                "spark.driver.limitActiveProcessorCount.enabled",
                false,
            ) {
                opts.push(format!("-XX:ActiveProcessorCount={am_cores}"));
            }
            MODULE_OPTIONS_4
        }
    };
    opts.push(format!(
        "-Djava.net.preferIPv6Addresses={}",
        prefer_ipv6(input)
    ));
    opts.push(module_options.join(" "));
    opts.push(format!("-Xmx{am_memory_mb}m"));
    opts.push(format!("-Djava.io.tmpdir={PWD}/tmp"));
    if let Some(driver_opts) = with_prepended(
        conf,
        "spark.driver.defaultJavaOptions",
        "spark.driver.extraJavaOptions",
        " ",
    ) {
        opts.extend(
            split_command_string(&driver_opts)
                .iter()
                .map(|o| escape_for_shell(&o.replace("{{APP_ID}}", &input.application_id))),
        );
    }
    opts.push("-Dspark.yarn.app.container.log.dir=<LOG_DIR>".into());
    opts
}

/// The command YARN runs in the AM container, words joined with single spaces (YARN joins the
/// command list the same way).
pub fn am_command(
    conf: &BTreeMap<String, String>,
    input: &SubmissionInput,
    am_memory_mb: u64,
    am_cores: u32,
) -> String {
    let mut words = Vec::new();
    if let Some(lib) = conf.get("spark.driver.extraLibraryPath") {
        words.push(library_path_prefix(conf, lib));
    }
    words.push("{{JAVA_HOME}}/bin/java".to_string());
    words.push("-server".to_string());
    words.extend(java_options(conf, input, am_memory_mb, am_cores));
    words.push(AM_CLASS.to_string());
    match &input.primary {
        PrimaryResource::Jar { uri, class_name } => {
            words.extend(["--class".into(), escape_for_shell(class_name)]);
            words.extend(["--jar".into(), uri.clone()]);
        }
        PrimaryResource::Python { uri } => {
            words.extend(["--class".into(), escape_for_shell(PYTHON_RUNNER)]);
            words.extend(["--primary-py-file".into(), file_name(uri).to_string()]);
        }
    }
    for arg in &input.args {
        words.extend(["--arg".into(), escape_for_shell(arg)]);
    }
    words.extend([
        "--properties-file".into(),
        format!("{PWD}/__spark_conf__/__spark_conf__.properties"),
        "--dist-cache-conf".into(),
        format!("{PWD}/__spark_conf__/__spark_dist_cache__.properties"),
        "1>".into(),
        "<LOG_DIR>/stdout".into(),
        "2>".into(),
        "<LOG_DIR>/stderr".into(),
    ]);
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values printed by Spark's own Utils.splitCommandString,
    // YarnSparkHadoopUtil.escapeForShell and Client.createLibraryPathPrefix (3.5.9 and 4.3.0 agree).
    #[test]
    fn split_like_spark() {
        assert_eq!(
            split_command_string(r#"-Da=1 "-Db=two words" '-Dc=$x \"q\"' -Dd=a\ b x"y z"w"#),
            [
                "-Da=1",
                "-Db=two words",
                r#"-Dc=$x \"q\""#,
                r"-Dd=a\",
                "b",
                "xy zw"
            ]
        );
    }

    #[test]
    fn escape_like_spark() {
        assert_eq!(
            escape_for_shell(r#"it's $HOME "q""#),
            r#"'it'\''s \$HOME \"q\"'"#
        );
    }

    #[test]
    fn library_prefix_like_spark() {
        assert_eq!(
            library_path_prefix(&BTreeMap::new(), "/opt/a\"b:/x"),
            r#"LD_LIBRARY_PATH=\"/opt/a\\\"b:/x:$LD_LIBRARY_PATH\""#
        );
    }
}
