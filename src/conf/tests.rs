use super::keys::Kind;
use super::load::staging_path;
use super::*;
use std::path::Path;

fn fake_spark_home() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("bin")).unwrap();
    std::fs::create_dir_all(dir.path().join("jars")).unwrap();
    std::fs::write(dir.path().join("bin/spark-submit"), "#!/bin/sh\n").unwrap();
    std::fs::write(dir.path().join("jars/spark-core_2.13-4.3.0.jar"), "").unwrap();
    dir
}

fn env_with(conf_dir: &Path, spark: &Path) -> Env {
    Env {
        livy_conf_dir: Some(conf_dir.to_path_buf()),
        spark_home: Some(spark.to_path_buf()),
        ..Env::default()
    }
}

#[test]
fn defaults_are_livys() {
    let spark = fake_spark_home();
    let conf_dir = tempfile::tempdir().unwrap();
    let loaded = LivyConf::load(&env_with(conf_dir.path(), spark.path())).unwrap();
    let c = loaded.conf;
    assert_eq!(c.server.host, "0.0.0.0");
    assert_eq!(c.server.port, 8998);
    assert_eq!(c.spark.master, "local");
    assert_eq!(c.spark.deploy_mode, None);
    assert_eq!(c.spark.version.as_deref(), Some("4.3.0"));
    assert_eq!(c.sessions.timeout, Duration::from_secs(3600));
    assert_eq!(c.sessions.state_retain, Duration::from_secs(600));
    assert_eq!(c.sessions.max_creation, 100);
    assert_eq!(c.sessions.cache_log_size, 200);
    assert!(c.sessions.timeout_check);
    assert!(!c.access.impersonation_enabled);
    assert_eq!(c.value("livy.rsc.launcher.port.range"), Some("10000~10010"));
    assert_eq!(
        c.duration("livy.rsc.server.connect.timeout"),
        Duration::from_secs(90)
    );
    // The custom-classpath keys are always blacklisted unless allowed.
    assert!(c.blacklist.contains("spark.submit.deployMode"));
    assert!(loaded.warnings.is_empty());
}

#[test]
fn reads_java_properties_syntax() {
    let spark = fake_spark_home();
    let conf_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        conf_dir.path().join("livy.conf"),
        "# comment\n! another comment\nlivy.server.port = 9999\nlivy.spark.master local[2]\n\
         livy.server.session.timeout:10m\nlivy.file.local-dir-whitelist = /data/a/, /data/b\n\
         livy.server.session.state-retain.sec 100ms\n",
    )
    .unwrap();
    std::fs::write(
        conf_dir.path().join("spark-blacklist.conf"),
        "# users may not pick\nspark.driver.memory\n\nspark.executor.cores\n",
    )
    .unwrap();
    let c = LivyConf::load(&env_with(conf_dir.path(), spark.path()))
        .unwrap()
        .conf;
    assert_eq!(c.server.port, 9999);
    assert_eq!(c.spark.master, "local[2]");
    assert_eq!(c.sessions.timeout, Duration::from_secs(600));
    assert_eq!(c.sessions.state_retain, Duration::from_millis(100));
    assert_eq!(c.local_dir_whitelist, vec!["/data/a/", "/data/b/"]);
    assert!(c.blacklist.contains("spark.driver.memory"));
    assert!(c.blacklist.contains("spark.executor.cores"));
}

#[test]
fn every_bad_value_is_reported_with_key_value_and_form() {
    let spark = fake_spark_home();
    let conf_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        conf_dir.path().join("livy.conf"),
        "livy.server.port = eighty\nlivy.server.session.timeout = 1 hour\n\
         livy.impersonation.enabled = yes\nlivy.file.upload.max.size = 12q\n\
         livy.spark.deploy-mode = sideways\n",
    )
    .unwrap();
    let err = LivyConf::load(&env_with(conf_dir.path(), spark.path()))
        .err()
        .unwrap();
    let text = err.to_string();
    assert_eq!(err.problems.len(), 5, "{text}");
    assert!(
        text.contains("livy.server.port: value 'eighty' is not valid; expected a 32-bit integer")
    );
    assert!(text.contains("livy.server.session.timeout: value '1 hour'"));
    assert!(text
        .contains("livy.impersonation.enabled: value 'yes' is not valid; expected true or false"));
    assert!(text.contains("livy.file.upload.max.size: value '12q'"));
    assert!(text.contains("expected client or cluster"));
}

#[test]
fn unknown_and_deprecated_keys_warn() {
    let spark = fake_spark_home();
    let conf_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        conf_dir.path().join("livy.conf"),
        "livy.server.bogus = 1\nspark.driver.memory = 1g\nlivy.spark.deployMode = cluster\n\
         livy.server.auth.custom.class = x.Y\n",
    )
    .unwrap();
    let loaded = LivyConf::load(&env_with(conf_dir.path(), spark.path())).unwrap();
    assert_eq!(loaded.conf.spark.deploy_mode.as_deref(), Some("cluster"));
    let w = loaded.warnings.join("\n");
    assert_eq!(loaded.warnings.len(), 4, "{w}");
    assert!(w.contains("unknown key 'livy.server.bogus'"));
    assert!(w.contains("'spark.driver.memory' is ignored"));
    assert!(w.contains("'livy.spark.deployMode' is deprecated"));
    assert!(w.contains("'livy.server.auth.custom.class' is not supported by livy-rs"));
}

thread_local! {
    /// The livy.conf keys `from_map` looked up on this thread, while recording.
    static READS: std::cell::RefCell<Option<BTreeSet<String>>> = const { std::cell::RefCell::new(None) };
}

/// Called by `from_map` for every key it reads (test builds only).
pub(super) fn record_read(name: &str) {
    READS.with(|r| {
        if let Some(set) = r.borrow_mut().as_mut() {
            set.insert(name.to_string());
        }
    });
}

/// The keys `from_map` reads when loading `livy_conf` with the Hadoop files `hadoop_files`.
fn keys_read(livy_conf: &str, hadoop_files: &[(&str, &str)]) -> BTreeSet<String> {
    let spark = fake_spark_home();
    let conf_dir = tempfile::tempdir().unwrap();
    let hadoop = tempfile::tempdir().unwrap();
    std::fs::write(conf_dir.path().join("livy.conf"), livy_conf).unwrap();
    for (name, text) in hadoop_files {
        std::fs::write(hadoop.path().join(name), text).unwrap();
    }
    let env = Env {
        hadoop_conf_dir: Some(hadoop.path().to_path_buf()),
        ..env_with(conf_dir.path(), spark.path())
    };
    READS.with(|r| *r.borrow_mut() = Some(BTreeSet::new()));
    // Problems (a keytab that does not exist, ...) do not matter: only what is read does.
    let _ = LivyConf::load(&env);
    READS.with(|r| r.borrow_mut().take().unwrap())
}

/// Keys `LivyConf::from_map` leaves to the subsystem that uses them (through `LivyConf::value`).
const READ_LATER: &[(&str, &str)] = &[(keys::PYSPARK_ARCHIVES, "yarn::submit")];

#[test]
fn every_key_either_works_or_is_not_read_at_all() {
    // Between them these configurations take every branch of the loader: local and YARN
    // masters, both submitters, each authentication scheme, a Kerberized Hadoop.
    let kerberized = "<configuration><property><name>hadoop.security.authentication</name>\
                      <value>kerberos</value></property></configuration>";
    let mut read = keys_read("", &[]);
    read.extend(keys_read(
        "livy.spark.master = yarn\nlivy.server.yarn.submit = rest\n\
         livy.server.auth.type = ldap\nlivy.server.auth.ldap.url = ldap://x.test\n",
        &[("core-site.xml", kerberized)],
    ));
    read.extend(keys_read(
        "livy.spark.master = yarn\nlivy.server.auth.type = kerberos\n\
         livy.server.launch.kerberos.principal = livy/_HOST@X.TEST\n\
         livy.server.launch.kerberos.keytab = /nonexistent/livy.keytab\n",
        &[("core-site.xml", kerberized)],
    ));
    // Recovery in ZooKeeper, with every key of its store.
    read.extend(keys_read(
        "livy.server.recovery.mode = recovery\n\
         livy.server.recovery.state-store = zookeeper\n\
         livy.server.recovery.state-store.url = zk1:2181\n\
         livy.server.zookeeper.url = zk1:2181\n\
         livy.server.recovery.zk-state-store.digest = livy:pw\n",
        &[],
    ));
    read.extend(READ_LATER.iter().map(|(k, _)| k.to_string()));

    let mut wrong = Vec::new();
    for key in keys::KEYS {
        match key.support {
            keys::Support::Works if !read.contains(key.name) => wrong.push(format!(
                "{} is marked as working but is never read",
                key.name
            )),
            keys::Support::NoEffect(_) if read.contains(key.name) => wrong.push(format!(
                "{} is read but marked as having no effect",
                key.name
            )),
            _ => {}
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let names: BTreeSet<&str> = keys::KEYS.iter().map(|k| k.name).collect();
    assert_eq!(names.len(), keys::KEYS.len(), "a key is listed twice");
}

#[test]
fn every_key_without_effect_is_named_in_a_warning_without_its_value() {
    let value = |kind: Kind| match kind {
        Kind::Bool => "true",
        Kind::Int => "7",
        Kind::Duration => "7s",
        Kind::Size => "7k",
        Kind::Str | Kind::List => "value-that-may-be-a-password",
    };
    let unused: Vec<&keys::Key> = keys::KEYS
        .iter()
        .filter(|k| matches!(k.support, keys::Support::NoEffect(_)))
        .collect();
    assert!(unused.len() > 100, "{}", unused.len());
    let text: String = unused
        .iter()
        .map(|k| format!("{} = {}\n", k.name, value(k.kind)))
        .collect();
    let loaded = load_with(&text).unwrap();
    for key in unused {
        let keys::Support::NoEffect(why) = key.support else {
            unreachable!()
        };
        let named = format!(
            "livy.conf: '{}' is not supported by livy-rs and has no effect: {why}",
            key.name
        );
        assert!(
            loaded.warnings.contains(&named),
            "no warning for {}",
            key.name
        );
    }
    let all = loaded.warnings.join("\n");
    assert!(!all.contains("value-that-may-be-a-password"), "{all}");
    // Set to Livy's defaults, the keys that work give no warning at all.
    assert!(
        load_with("livy.ui.enabled = true\nlivy.server.port = 8998\n")
            .unwrap()
            .warnings
            .is_empty()
    );
}

#[test]
fn pyspark_archives_work_only_with_the_rest_submitter() {
    let w = load_with("livy.pyspark.archives = hdfs:///a.zip\n")
        .unwrap()
        .warnings
        .join("\n");
    assert!(
        w.contains("'livy.pyspark.archives' has no effect unless"),
        "{w}"
    );
}

#[test]
fn missing_spark_home_stops_the_server() {
    let conf_dir = tempfile::tempdir().unwrap();
    let env = Env {
        livy_conf_dir: Some(conf_dir.path().to_path_buf()),
        ..Env::default()
    };
    let err = LivyConf::load(&env).err().unwrap();
    assert!(err.to_string().contains("SPARK_HOME is not set"));
}

#[test]
fn allow_custom_classpath_lifts_the_built_in_blacklist() {
    let spark = fake_spark_home();
    let conf_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        conf_dir.path().join("livy.conf"),
        "livy.server.session.allow-custom-classpath = true\n",
    )
    .unwrap();
    let c = LivyConf::load(&env_with(conf_dir.path(), spark.path()))
        .unwrap()
        .conf;
    assert!(!c.blacklist.contains("spark.submit.deployMode"));
}

#[test]
fn shipped_template_documents_known_keys_with_their_defaults() {
    let template = include_str!("../../conf/livy.conf.template");
    let mut seen = 0;
    let mut profile_example = String::from("livy.impersonation.enabled = true\n");
    for line in template.lines() {
        let Some(entry) = line.strip_prefix("# livy.") else {
            continue;
        };
        let Some((key, value)) = entry.split_once(" =") else {
            continue;
        };
        if key.contains(' ') {
            continue;
        }
        let key = format!("livy.{key}");
        let value = value.trim();
        // Pool profiles are open-ended keys: their example must load (below).
        if key.starts_with(pool::PROFILE_PREFIX) {
            profile_example.push_str(&format!("{key} = {value}\n"));
            continue;
        }
        let known = keys::find(&key).unwrap_or_else(|| panic!("template names unknown key {key}"));
        let default = known.default.unwrap_or("");
        assert!(
            value == default || (value.is_empty() && default.is_empty()),
            "template shows {key} = {value:?} but the default is {default:?}"
        );
        seen += 1;
    }
    assert!(seen > 80, "only {seen} keys documented");
    let example = load_with(&profile_example)
        .unwrap_or_else(|e| panic!("the template's pool profile example: {e}\n{profile_example}"))
        .conf;
    let profiles = example.pool.map(|p| p.profiles).unwrap_or_default();
    assert_eq!(profiles.len(), 1, "{profile_example}");
    assert_eq!(profiles[0].proxy_users.len(), 2);
}

fn load_with(livy_conf: &str) -> Result<Loaded, ConfError> {
    let spark = fake_spark_home();
    let conf_dir = tempfile::tempdir().unwrap();
    std::fs::write(conf_dir.path().join("livy.conf"), livy_conf).unwrap();
    LivyConf::load(&env_with(conf_dir.path(), spark.path()))
}

#[test]
fn ldap_settings_are_typed_when_auth_type_is_ldap() {
    let c = load_with("livy.server.port = 9999\n").unwrap().conf;
    assert!(matches!(c.auth.scheme, auth::AuthScheme::None));
    let c = load_with(
        "livy.server.auth.type = ldap\n\
         livy.server.auth.ldap.url = ldap://a.test:389 ldap://b.test\n\
         livy.server.auth.ldap.base-dn = ou=people,dc=livy,dc=test\n\
         livy.server.auth.ldap.enable-start-tls = true\n",
    )
    .unwrap()
    .conf;
    let auth::AuthScheme::Ldap(ldap) = c.auth.scheme else {
        panic!("not ldap: {:?}", c.auth.scheme)
    };
    let urls: Vec<_> = ldap.urls.iter().map(|u| u.as_str().to_string()).collect();
    assert_eq!(urls, ["ldap://a.test:389", "ldap://b.test"]);
    assert_eq!(ldap.base_dn.as_deref(), Some("ou=people,dc=livy,dc=test"));
    assert_eq!(ldap.username_domain, None);
    assert!(ldap.start_tls);
    assert!(matches!(ldap.trust, ldap::LdapTrust::SystemRoots));
    assert_eq!(ldap.timeout, Duration::from_secs(10));
}

#[test]
fn bad_ldap_settings_are_all_reported() {
    let err = load_with(
        "livy.server.auth.type = ldap\n\
         livy.server.auth.ldap.url = ldaps://x.test http:/nohost\n\
         livy.server.auth.ldap.enable-start-tls = true\n\
         livy.server.auth.ldap.security-authentication = GSSAPI\n\
         livy.server.auth.ldap.ca-file = /nonexistent/ca.pem\n\
         livy.server.auth.ldap.timeout = 0s\n",
    )
    .err()
    .unwrap();
    let text = err.to_string();
    assert_eq!(err.problems.len(), 5, "{text}");
    assert!(text.contains("value 'http:/nohost' is not valid; expected ldap://"));
    assert!(text.contains("Can not use ldaps and StartTLS option at the same time"));
    assert!(text.contains("'GSSAPI' is not supported"));
    assert!(text.contains("livy.server.auth.ldap.ca-file: cannot read CA certificates"));
    assert!(text.contains("livy.server.auth.ldap.timeout: must be longer than 0"));
    let err = load_with("livy.server.auth.type = ldap\n").err().unwrap();
    assert!(err
        .to_string()
        .contains("livy.server.auth.ldap.url: must be set"));
}

#[test]
fn kerberos_auth_is_typed_with_host_expanded() {
    let spark = fake_spark_home();
    let conf_dir = tempfile::tempdir().unwrap();
    let keytab = conf_dir.path().join("http.keytab");
    std::fs::write(&keytab, b"\x05\x02").unwrap();
    std::fs::write(
        conf_dir.path().join("livy.conf"),
        format!(
            "livy.server.host = Edge1.Example.com\nlivy.server.auth.type = kerberos\n\
             livy.server.auth.kerberos.principal = HTTP/_HOST@EXAMPLE.COM\n\
             livy.server.auth.kerberos.keytab = {}\n\
             livy.server.auth.kerberos.name_rules = RULE:[1:$1]/L \\\n    DEFAULT\n\
             livy.server.auth.token.validity = 5m\n",
            keytab.display()
        ),
    )
    .unwrap();
    let c = LivyConf::load(&env_with(conf_dir.path(), spark.path()))
        .unwrap()
        .conf;
    let auth::AuthScheme::Kerberos(k) = &c.auth.scheme else {
        panic!("not kerberos: {:?}", c.auth.scheme)
    };
    assert_eq!(k.principal, "HTTP/edge1.example.com@EXAMPLE.COM");
    assert_eq!(k.keytab, keytab);
    assert_eq!(c.auth.token_validity, Duration::from_secs(300));
    // The deprecated name_rules key and a continued line both work; DEFAULT uses the realm.
    assert_eq!(
        k.name_rules
            .short_name("Bob@ELSEWHERE", &k.default_realm)
            .unwrap(),
        "bob"
    );
}

#[test]
fn auth_problems_are_reported_like_livy() {
    let spark = fake_spark_home();
    let conf_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        conf_dir.path().join("livy.conf"),
        "livy.server.auth.type = kerberos\nlivy.server.auth.kerberos.name-rules = RULE:[x]\n",
    )
    .unwrap();
    let err = LivyConf::load(&env_with(conf_dir.path(), spark.path()))
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(
        text.contains("Kerberos auth requires livy.server.auth.kerberos.principal to be provided."),
        "{text}"
    );
    assert!(
        text.contains("Kerberos auth requires livy.server.auth.kerberos.keytab to be provided."),
        "{text}"
    );
    assert!(
        text.contains("livy.server.auth.kerberos.name-rules: invalid auth_to_local rule"),
        "{text}"
    );

    std::fs::write(
        conf_dir.path().join("livy.conf"),
        "livy.server.auth.type = basic\n",
    )
    .unwrap();
    let text = LivyConf::load(&env_with(conf_dir.path(), spark.path()))
        .err()
        .unwrap()
        .to_string();
    assert!(
        text.contains("livy.server.auth.type: Invalid auth type: basic"),
        "{text}"
    );

    std::fs::write(
        conf_dir.path().join("livy.conf"),
        "livy.server.access-control.enabled = true\n",
    )
    .unwrap();
    let text = LivyConf::load(&env_with(conf_dir.path(), spark.path()))
        .err()
        .unwrap()
        .to_string();
    assert!(text.contains("Access control was requested but could not be enabled, since authentication is disabled"), "{text}");
}

#[test]
fn a_kerberized_hadoop_needs_the_launch_principal_and_keytab_like_livy() {
    let spark = fake_spark_home();
    let conf_dir = tempfile::tempdir().unwrap();
    let hadoop = tempfile::tempdir().unwrap();
    std::fs::write(
        hadoop.path().join("core-site.xml"),
        "<configuration><property><name>hadoop.security.authentication</name><value>kerberos</value></property></configuration>",
    )
    .unwrap();
    let env = Env {
        hadoop_conf_dir: Some(hadoop.path().to_path_buf()),
        ..env_with(conf_dir.path(), spark.path())
    };
    let err = LivyConf::load(&env).err().unwrap().to_string();
    assert!(
        err.contains("Kerberos requires livy.server.launch.kerberos.keytab to be provided.")
            && err.contains(
                "Kerberos requires livy.server.launch.kerberos.principal to be provided."
            ),
        "{err}"
    );

    std::fs::write(
        conf_dir.path().join("livy.conf"),
        "livy.server.host = Edge.Example.com\n\
         livy.server.launch.kerberos.principal = livy/_HOST@EXAMPLE.COM\n\
         livy.server.launch.kerberos.keytab = /etc/livy.keytab\n\
         livy.server.launch.kerberos.kinit-fail-threshold = 0\n",
    )
    .unwrap();
    let id = LivyConf::load(&env).unwrap().conf.launch_kerberos.unwrap();
    assert_eq!(id.principal, "livy/edge.example.com@EXAMPLE.COM");
    assert_eq!(id.keytab, PathBuf::from("/etc/livy.keytab"));
    assert_eq!(id.refresh_interval, Duration::from_secs(3600));
    assert_eq!(id.fail_threshold, 1, "at least one attempt before failing");

    // Without Hadoop security the keys are not used, as in Livy.
    let plain = LivyConf::load(&env_with(conf_dir.path(), spark.path())).unwrap();
    assert!(plain.conf.launch_kerberos.is_none());
}

#[test]
fn the_pool_is_off_by_default_and_its_unknown_keys_are_refused() {
    let c = load_with("livy.server.port = 9999\n").unwrap().conf;
    assert_eq!(c.pool, None);
    let c = load_with("livy.server.session.pool.size = 3\nlivy.server.session.pool.kind = sql\n")
        .unwrap()
        .conf;
    let pool = c.pool.unwrap();
    let default = &pool.profiles[0];
    assert_eq!(
        (default.size, default.kind),
        (3, crate::sessions::Kind::Sql)
    );
    assert_eq!(default.ttl, Duration::from_secs(3600));
    let Err(e) = load_with("livy.server.session.pool.sise = 3\n") else {
        panic!("a misspelt pool key must be refused")
    };
    assert!(
        e.to_string()
            .contains("livy.server.session.pool.sise: unknown pool key"),
        "{e}"
    );
    let Err(e) = load_with("livy.server.session.pool.kind = sparkr\n") else {
        panic!("sparkr pools must be refused")
    };
    assert!(
        e.to_string().contains("livy.server.session.pool.kind"),
        "{e}"
    );
}

#[test]
fn a_pool_profile_is_checked_like_a_users_request() {
    let profile = "livy.server.session.pool.profile.etl";
    let c = load_with(&format!(
        "{profile}.size = 1\n{profile}.driver-memory = 2g\n{profile}.conf.spark.sql.shuffle.partitions = 4\n"
    ))
    .unwrap()
    .conf;
    assert_eq!(c.pool.unwrap().profiles[0].name, "etl");
    for (line, says) in [
        (
            "conf.spark.submit.proxyUser.allowCustomClasspathInClusterMode = true",
            "Blacklisted",
        ),
        (
            "conf.spark.jars = /etc/secret.jar",
            "cannot be added to user sessions",
        ),
        ("driver-memory = lots", "driverMemory"),
    ] {
        let Err(e) = load_with(&format!(
            "{profile}.size = 1\n{profile}.{line}\nlivy.file.local-dir-whitelist = /tmp\n"
        )) else {
            panic!("{line} must be refused")
        };
        assert!(e.to_string().contains(profile), "{e}");
        assert!(e.to_string().contains(says), "{line}: {e}");
    }
}

#[test]
fn session_staging_dir_is_a_path_on_the_default_fs() {
    let fs = "hdfs://nn.example.com:8020";
    assert_eq!(staging_path("/livy/staging/", fs).unwrap(), "/livy/staging");
    assert_eq!(staging_path("hdfs:///livy", fs).unwrap(), "/livy");
    assert_eq!(
        staging_path("hdfs://nn.example.com:8020/livy", fs).unwrap(),
        "/livy"
    );
    for bad in [
        "relative/dir",
        "s3a://bucket/livy",
        "hdfs://other:8020/livy",
        "/livy/../etc",
        "/livy/a#b",
    ] {
        assert!(staging_path(bad, fs).is_err(), "{bad}");
    }
    // Local sessions keep uploads on the server: the key is named in a warning.
    let w = load_with("livy.session.staging-dir = /livy\n")
        .unwrap()
        .warnings
        .join("\n");
    assert!(
        w.contains("'livy.session.staging-dir' has no effect unless livy.spark.master is yarn"),
        "{w}"
    );
}
