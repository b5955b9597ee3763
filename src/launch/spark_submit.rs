//! The spark-submit command line, built by a pure function so tests can assert on it.
//! Argument order and mapping follow Livy's `SparkProcessBuilder`.

use crate::conf::LivyConf;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What to launch: the prepared conf plus the options spark-submit takes as flags.
#[derive(Debug, Clone, Default)]
pub struct LaunchSpec {
    pub conf: BTreeMap<String, String>,
    /// Passed as `--proxy-user` only when impersonation is enabled.
    pub proxy_user: Option<String>,
    pub class_name: Option<String>,
    pub name: Option<String>,
    pub queue: Option<String>,
    /// The primary resource; `spark-internal` when absent, as Livy does.
    pub file: Option<String>,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// With recovery on: the directory the process's output and exit code go to, so it can
    /// outlive the server (see `launch::detached`).
    pub detach: Option<PathBuf>,
}

impl From<&LaunchSpec> for crate::yarn::submit::Submission {
    fn from(spec: &LaunchSpec) -> Self {
        crate::yarn::submit::Submission {
            conf: spec.conf.clone(),
            class_name: spec.class_name.clone(),
            name: spec.name.clone(),
            queue: spec.queue.clone(),
            file: spec.file.clone(),
            args: spec.args.clone(),
        }
    }
}

/// A ready-to-run command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparkSubmit {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl SparkSubmit {
    /// The command as a shell-quoted line, for the server log.
    pub fn display(&self) -> String {
        std::iter::once(self.program.display().to_string())
            .chain(self.args.iter().cloned())
            .map(|a| format!("'{}'", a.replace('\'', "\\'")))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Builds the spark-submit invocation for a launch.
pub fn build_command(spec: &LaunchSpec, livy: &LivyConf) -> SparkSubmit {
    let mut args = Vec::new();
    let opt = |args: &mut Vec<String>, flag: &str, value: &Option<String>| {
        if let Some(v) = value {
            args.push(flag.to_string());
            args.push(v.clone());
        }
    };
    opt(&mut args, "--name", &spec.name);
    opt(&mut args, "--class", &spec.class_name);
    for (key, value) in &spec.conf {
        if key == "spark.submit.pyFiles" {
            args.push("--py-files".into());
            args.push(value.clone());
        } else {
            args.push("--conf".into());
            args.push(format!("{key}={value}"));
        }
    }
    if livy.access.impersonation_enabled {
        opt(&mut args, "--proxy-user", &spec.proxy_user);
    }
    opt(&mut args, "--queue", &spec.queue);
    args.push(
        spec.file
            .clone()
            .unwrap_or_else(|| "spark-internal".to_string()),
    );
    args.extend(spec.args.iter().cloned());

    let mut env = spec.env.clone();
    if let Some(python) = &livy.spark.pyspark_python {
        env.push(("PYSPARK_PYTHON".into(), python.clone()));
    }
    if let Some(dir) = &livy.spark.conf_dir {
        env.push(("SPARK_CONF_DIR".into(), dir.display().to_string()));
    }
    SparkSubmit {
        program: livy.spark.spark_submit(),
        args,
        env,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::conf_with;

    #[test]
    fn maps_fields_like_livy() {
        let mut livy = conf_with(&[]);
        livy.access.impersonation_enabled = true;
        let spec = LaunchSpec {
            conf: [
                ("spark.master", "local"),
                ("spark.submit.pyFiles", "file:///d/a.py"),
                ("spark.driver.memory", "1g"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            proxy_user: Some("alice".into()),
            class_name: Some("org.Example".into()),
            name: Some("nightly".into()),
            queue: Some("etl".into()),
            file: Some("file:///d/job.jar".into()),
            args: vec!["10".into(), "x y".into()],
            env: vec![],
            detach: None,
        };
        let cmd = build_command(&spec, &livy);
        assert!(cmd.program.ends_with("bin/spark-submit"));
        assert_eq!(
            cmd.args,
            [
                "--name",
                "nightly",
                "--class",
                "org.Example",
                "--conf",
                "spark.driver.memory=1g",
                "--conf",
                "spark.master=local",
                "--py-files",
                "file:///d/a.py",
                "--proxy-user",
                "alice",
                "--queue",
                "etl",
                "file:///d/job.jar",
                "10",
                "x y"
            ]
        );
        livy.access.impersonation_enabled = false;
        let cmd = build_command(&LaunchSpec { file: None, ..spec }, &livy);
        assert!(!cmd.args.contains(&"--proxy-user".to_string()));
        assert_eq!(cmd.args[cmd.args.len() - 3], "spark-internal");
    }
}
