//! Where the ResourceManager(s) and the WebHDFS NameNode(s) are, read from Hadoop's XML files
//! (yarn-site.xml, hdfs-site.xml, core-site.xml) with the keys and `*-default.xml` defaults that
//! Hadoop's own clients use, so an existing `HADOOP_CONF_DIR` works unchanged.
//!
//! Only what a REST client needs is read: HTTP(S) web addresses, HA ids, the HTTP policy and
//! whether the cluster is Kerberized. Every problem is reported at once (joined with `; `), so an
//! admin fixes a conf dir in one pass.

use crate::conf::hadoop::HadoopConf;
use reqwest::Url;

/// `yarn-default.xml`: `HTTP_ONLY` or `HTTPS_ONLY`.
pub const YARN_HTTP_POLICY: &str = "yarn.http.policy";
/// `hdfs-default.xml`: `HTTP_ONLY`, `HTTPS_ONLY` or `HTTP_AND_HTTPS`.
pub const DFS_HTTP_POLICY: &str = "dfs.http.policy";
const HTTP_POLICY_DEFAULT: &str = "HTTP_ONLY";

pub const RM_HOSTNAME: &str = "yarn.resourcemanager.hostname";
/// yarn-default.xml's value; useless to a remote client, but what Hadoop would use too.
pub const RM_HOSTNAME_DEFAULT: &str = "0.0.0.0";
pub const RM_WEBAPP_ADDRESS: &str = "yarn.resourcemanager.webapp.address";
pub const RM_WEBAPP_PORT_DEFAULT: u16 = 8088;
pub const RM_WEBAPP_HTTPS_ADDRESS: &str = "yarn.resourcemanager.webapp.https.address";
pub const RM_WEBAPP_HTTPS_PORT_DEFAULT: u16 = 8090;
pub const RM_HA_ENABLED: &str = "yarn.resourcemanager.ha.enabled";
pub const RM_HA_IDS: &str = "yarn.resourcemanager.ha.rm-ids";

pub const HADOOP_SECURITY_AUTHENTICATION: &str = "hadoop.security.authentication";

pub const FS_DEFAULT_FS: &str = "fs.defaultFS";
pub const DFS_NAMENODE_HTTP_ADDRESS: &str = "dfs.namenode.http-address";
pub const DFS_NAMENODE_HTTP_PORT_DEFAULT: u16 = 9870;
pub const DFS_NAMENODE_HTTPS_ADDRESS: &str = "dfs.namenode.https-address";
pub const DFS_NAMENODE_HTTPS_PORT_DEFAULT: u16 = 9871;
pub const DFS_NAMESERVICES: &str = "dfs.nameservices";
/// `dfs.ha.namenodes.<nameservice>`: the NameNode ids of an HA nameservice.
pub const DFS_HA_NAMENODES_PREFIX: &str = "dfs.ha.namenodes";

/// `yarn.http.policy` / `dfs.http.policy`: which web endpoint the daemons serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpPolicy {
    HttpOnly,
    HttpsOnly,
    /// HDFS only: both are served; clients use HTTP, as Hadoop's WebHDFS client does.
    HttpAndHttps,
}

impl HttpPolicy {
    fn https(self) -> bool {
        self == HttpPolicy::HttpsOnly
    }

    fn scheme(self) -> &'static str {
        if self.https() {
            "https"
        } else {
            "http"
        }
    }
}

/// `hadoop.security.authentication`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authentication {
    Simple,
    Kerberos,
}

/// One web endpoint: the RM id or NameNode id it belongs to (HA), and its base URL
/// (`http://host:port`, no trailing slash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub id: Option<String>,
    pub url: String,
}

/// What the YARN and WebHDFS clients need from Hadoop's configuration, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct YarnConf {
    pub http_policy: HttpPolicy,
    pub ha_enabled: bool,
    /// One entry without HA; one per `yarn.resourcemanager.ha.rm-ids` entry, in that order, with it.
    pub resource_managers: Vec<Endpoint>,
    pub authentication: Authentication,
    /// `fs.defaultFS` (`file:///` when unset).
    pub default_fs: String,
    /// The HA or federated nameservice `fs.defaultFS` names, if it names one.
    pub nameservice: Option<String>,
    /// WebHDFS endpoints for `fs.defaultFS`; empty when it is not an HDFS file system.
    pub namenodes: Vec<Endpoint>,
}

impl YarnConf {
    /// Reads and checks the YARN/HDFS client settings; all problems are reported together.
    pub fn from_hadoop(conf: &HadoopConf) -> Result<YarnConf, String> {
        let mut problems = Vec::new();
        let http_policy = policy(conf, YARN_HTTP_POLICY, false, &mut problems);
        let ha_enabled = match conf
            .get_or(RM_HA_ENABLED, "false")
            .to_ascii_lowercase()
            .as_str()
        {
            "true" => true,
            "false" => false,
            other => {
                problems.push(format!(
                    "{RM_HA_ENABLED}: expected true or false, got {other:?}"
                ));
                false
            }
        };
        let resource_managers = rm_endpoints(conf, http_policy, ha_enabled, &mut problems);
        let authentication = match conf
            .get_or(HADOOP_SECURITY_AUTHENTICATION, "simple")
            .to_ascii_lowercase()
            .as_str()
        {
            "simple" => Authentication::Simple,
            "kerberos" => Authentication::Kerberos,
            other => {
                problems.push(format!(
                    "{HADOOP_SECURITY_AUTHENTICATION}: expected simple or kerberos, got {other:?}"
                ));
                Authentication::Simple
            }
        };
        let default_fs = conf.default_fs();
        let dfs_policy = policy(conf, DFS_HTTP_POLICY, true, &mut problems);
        let (nameservice, namenodes) =
            namenode_endpoints(conf, &default_fs, dfs_policy, &mut problems);
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        Ok(YarnConf {
            http_policy,
            ha_enabled,
            resource_managers,
            authentication,
            default_fs,
            nameservice,
            namenodes,
        })
    }
}

fn policy(conf: &HadoopConf, key: &str, hdfs: bool, problems: &mut Vec<String>) -> HttpPolicy {
    match conf.get_or(key, HTTP_POLICY_DEFAULT).as_str() {
        "HTTP_ONLY" => HttpPolicy::HttpOnly,
        "HTTPS_ONLY" => HttpPolicy::HttpsOnly,
        "HTTP_AND_HTTPS" if hdfs => HttpPolicy::HttpAndHttps,
        other => {
            let allowed = if hdfs {
                "HTTP_ONLY, HTTPS_ONLY or HTTP_AND_HTTPS"
            } else {
                "HTTP_ONLY or HTTPS_ONLY"
            };
            problems.push(format!("{key}: expected {allowed}, got {other:?}"));
            HttpPolicy::HttpOnly
        }
    }
}

/// The RM web endpoints: per-id keys under HA (ResourceManagerHA.md: the per-id address overrides
/// `yarn.resourcemanager.hostname.<id>`), the plain keys without.
fn rm_endpoints(
    conf: &HadoopConf,
    policy: HttpPolicy,
    ha: bool,
    problems: &mut Vec<String>,
) -> Vec<Endpoint> {
    let (key, port) = if policy.https() {
        (RM_WEBAPP_HTTPS_ADDRESS, RM_WEBAPP_HTTPS_PORT_DEFAULT)
    } else {
        (RM_WEBAPP_ADDRESS, RM_WEBAPP_PORT_DEFAULT)
    };
    if !ha {
        let (from, address) = match conf.get_trimmed(key) {
            Some(a) => (key.to_string(), a),
            None => (
                RM_HOSTNAME.to_string(),
                format!("{}:{port}", conf.get_or(RM_HOSTNAME, RM_HOSTNAME_DEFAULT)),
            ),
        };
        return endpoint(None, &from, &address, policy.scheme(), problems)
            .into_iter()
            .collect();
    }
    let ids = conf.get_list(RM_HA_IDS);
    if ids.is_empty() {
        problems.push(format!(
            "{RM_HA_ENABLED} is true but {RM_HA_IDS} lists no RM ids"
        ));
    }
    let mut out = Vec::new();
    for id in ids {
        let id_key = format!("{key}.{id}");
        let host_key = format!("{RM_HOSTNAME}.{id}");
        let (from, address) = match (conf.get_trimmed(&id_key), conf.get_trimmed(&host_key)) {
            (Some(a), _) => (id_key, a),
            (None, Some(host)) => (host_key, format!("{host}:{port}")),
            (None, None) => {
                problems.push(format!(
                    "RM id {id}: neither {id_key} nor {host_key} is set"
                ));
                continue;
            }
        };
        out.extend(endpoint(
            Some(&id),
            &from,
            &address,
            policy.scheme(),
            problems,
        ));
    }
    out
}

/// The WebHDFS endpoints of `fs.defaultFS`: `webhdfs://`/`swebhdfs://` name them directly;
/// `hdfs://<nameservice>` resolves through `dfs.ha.namenodes.<ns>` and the per-NameNode
/// `dfs.namenode.http(s)-address.<ns>.<nn>`; `hdfs://host:port` uses `dfs.namenode.http(s)-address`
/// (its wildcard host replaced by the host of `fs.defaultFS`, as Hadoop does).
fn namenode_endpoints(
    conf: &HadoopConf,
    default_fs: &str,
    policy: HttpPolicy,
    problems: &mut Vec<String>,
) -> (Option<String>, Vec<Endpoint>) {
    let Ok(uri) = Url::parse(default_fs) else {
        problems.push(format!("{FS_DEFAULT_FS}: not a URI: {default_fs:?}"));
        return (None, Vec::new());
    };
    let host = uri.host_str().unwrap_or_default().to_string();
    let direct = |scheme: &str, port: u16| Endpoint {
        id: None,
        url: format!("{scheme}://{host}:{}", uri.port().unwrap_or(port)),
    };
    match uri.scheme() {
        "webhdfs" if !host.is_empty() => {
            return (None, vec![direct("http", DFS_NAMENODE_HTTP_PORT_DEFAULT)])
        }
        "swebhdfs" if !host.is_empty() => {
            return (None, vec![direct("https", DFS_NAMENODE_HTTPS_PORT_DEFAULT)])
        }
        "hdfs" if !host.is_empty() => {}
        _ => return (None, Vec::new()),
    }
    let (key, port) = if policy.https() {
        (DFS_NAMENODE_HTTPS_ADDRESS, DFS_NAMENODE_HTTPS_PORT_DEFAULT)
    } else {
        (DFS_NAMENODE_HTTP_ADDRESS, DFS_NAMENODE_HTTP_PORT_DEFAULT)
    };
    let scheme = policy.scheme();
    if conf.get_list(DFS_NAMESERVICES).contains(&host) && uri.port().is_none() {
        let ns = host;
        let nn_ids = conf.get_list(&format!("{DFS_HA_NAMENODES_PREFIX}.{ns}"));
        if nn_ids.is_empty() {
            // A federated, non-HA nameservice: one NameNode under the nameservice's key.
            let ns_key = format!("{key}.{ns}");
            let found = match conf.get_trimmed(&ns_key) {
                Some(a) => endpoint(None, &ns_key, &a, scheme, problems),
                None => {
                    problems.push(format!("nameservice {ns}: {ns_key} is not set"));
                    None
                }
            };
            return (Some(ns), found.into_iter().collect());
        }
        let mut out = Vec::new();
        for nn in nn_ids {
            let nn_key = format!("{key}.{ns}.{nn}");
            match conf.get_trimmed(&nn_key) {
                Some(a) => out.extend(endpoint(Some(&nn), &nn_key, &a, scheme, problems)),
                None => problems.push(format!("NameNode {nn} of {ns}: {nn_key} is not set")),
            }
        }
        return (Some(ns), out);
    }
    let address = conf.get_or(key, &format!("0.0.0.0:{port}"));
    let address = match address.strip_prefix("0.0.0.0:") {
        Some(p) => format!("{host}:{p}"),
        None => address,
    };
    (
        None,
        endpoint(None, key, &address, scheme, problems)
            .into_iter()
            .collect(),
    )
}

/// Checks a `host:port` value and turns it into a base URL.
fn endpoint(
    id: Option<&str>,
    key: &str,
    address: &str,
    scheme: &str,
    problems: &mut Vec<String>,
) -> Option<Endpoint> {
    let parsed = address
        .rsplit_once(':')
        .filter(|(host, _)| !host.is_empty() && !host.contains('/'))
        .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)));
    match parsed {
        Some((host, port)) => Some(Endpoint {
            id: id.map(String::from),
            url: format!("{scheme}://{host}:{port}"),
        }),
        None => {
            problems.push(format!("{key}: expected host:port, got {address:?}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(files: &[(&str, &str)]) -> Result<YarnConf, String> {
        let dir = tempfile::tempdir().unwrap();
        for (name, props) in files {
            let xml =
                format!("<?xml version=\"1.0\"?>\n<configuration>\n{props}\n</configuration>\n");
            std::fs::write(dir.path().join(name), xml).unwrap();
        }
        YarnConf::from_hadoop(&HadoopConf::load(&[dir.path().to_path_buf()]).unwrap())
    }

    fn prop(name: &str, value: &str) -> String {
        format!("  <property><name>{name}</name><value>{value}</value></property>\n")
    }

    fn urls(eps: &[Endpoint]) -> Vec<(Option<&str>, &str)> {
        eps.iter()
            .map(|e| (e.id.as_deref(), e.url.as_str()))
            .collect()
    }

    #[test]
    fn empty_conf_gives_hadoop_defaults() {
        let c = load(&[]).unwrap();
        assert_eq!(c.http_policy, HttpPolicy::HttpOnly);
        assert!(!c.ha_enabled);
        assert_eq!(urls(&c.resource_managers), [(None, "http://0.0.0.0:8088")]);
        assert_eq!(c.authentication, Authentication::Simple);
        assert_eq!(c.default_fs, "file:///");
        assert!(c.namenodes.is_empty(), "no WebHDFS for a local default FS");
    }

    #[test]
    fn single_rm_from_hostname_or_address() {
        let c = load(&[("yarn-site.xml", &prop(RM_HOSTNAME, "rm.example.com"))]).unwrap();
        assert_eq!(
            urls(&c.resource_managers),
            [(None, "http://rm.example.com:8088")]
        );

        let yarn = prop(RM_HOSTNAME, "rm.example.com")
            + &prop(
                RM_WEBAPP_ADDRESS,
                " ${yarn.resourcemanager.hostname}:18088 ",
            );
        let c = load(&[("yarn-site.xml", &yarn)]).unwrap();
        assert_eq!(
            urls(&c.resource_managers),
            [(None, "http://rm.example.com:18088")]
        );
    }

    #[test]
    fn https_only_uses_the_https_address_and_port() {
        let yarn = prop(YARN_HTTP_POLICY, "HTTPS_ONLY") + &prop(RM_HOSTNAME, "rm");
        let c = load(&[("yarn-site.xml", &yarn)]).unwrap();
        assert_eq!(urls(&c.resource_managers), [(None, "https://rm:8090")]);

        let yarn = prop(YARN_HTTP_POLICY, "HTTPS_ONLY")
            + &prop(RM_WEBAPP_ADDRESS, "rm:8088")
            + &prop(RM_WEBAPP_HTTPS_ADDRESS, "rm:9443");
        let c = load(&[("yarn-site.xml", &yarn)]).unwrap();
        assert_eq!(urls(&c.resource_managers), [(None, "https://rm:9443")]);
    }

    /// The sample from ResourceManagerHA.md, plus an id that only has a hostname.
    #[test]
    fn ha_rm_ids_with_per_id_addresses_and_hostname_fallback() {
        let yarn = [
            prop(RM_HA_ENABLED, "true"),
            prop("yarn.resourcemanager.cluster-id", "cluster1"),
            prop(RM_HA_IDS, "rm1, rm2,rm3"),
            prop("yarn.resourcemanager.hostname.rm1", "master1"),
            prop("yarn.resourcemanager.hostname.rm2", "master2"),
            prop("yarn.resourcemanager.hostname.rm3", "master3"),
            prop("yarn.resourcemanager.webapp.address.rm1", "master1:8088"),
            prop("yarn.resourcemanager.webapp.address.rm2", "master2:18088"),
        ]
        .concat();
        let c = load(&[("yarn-site.xml", &yarn)]).unwrap();
        assert!(c.ha_enabled);
        assert_eq!(
            urls(&c.resource_managers),
            [
                (Some("rm1"), "http://master1:8088"),
                (Some("rm2"), "http://master2:18088"),
                (Some("rm3"), "http://master3:8088"),
            ]
        );
        let https = yarn + &prop(YARN_HTTP_POLICY, "HTTPS_ONLY");
        let c = load(&[("yarn-site.xml", &https)]).unwrap();
        assert_eq!(c.resource_managers[0].url, "https://master1:8090");
    }

    #[test]
    fn all_problems_are_reported_together() {
        let yarn = [
            prop(YARN_HTTP_POLICY, "HTTP_AND_HTTPS"),
            prop(RM_HA_ENABLED, "true"),
            prop(RM_HA_IDS, "rm1,rm2"),
            prop("yarn.resourcemanager.webapp.address.rm1", "master1"),
        ]
        .concat();
        let core = prop(HADOOP_SECURITY_AUTHENTICATION, "ldap");
        let err = load(&[("yarn-site.xml", &yarn), ("core-site.xml", &core)]).unwrap_err();
        for needle in [
            "yarn.http.policy: expected HTTP_ONLY or HTTPS_ONLY, got \"HTTP_AND_HTTPS\"",
            "yarn.resourcemanager.webapp.address.rm1: expected host:port, got \"master1\"",
            "RM id rm2: neither yarn.resourcemanager.webapp.address.rm2 nor yarn.resourcemanager.hostname.rm2 is set",
            "hadoop.security.authentication: expected simple or kerberos, got \"ldap\"",
        ] {
            assert!(err.contains(needle), "{needle:?} missing from {err}");
        }
        let err = load(&[("yarn-site.xml", &prop(RM_HA_ENABLED, "true"))]).unwrap_err();
        assert!(err.contains("lists no RM ids"), "{err}");
    }

    #[test]
    fn kerberos_is_recognised() {
        let core = prop(HADOOP_SECURITY_AUTHENTICATION, "Kerberos");
        let c = load(&[("core-site.xml", &core)]).unwrap();
        assert_eq!(c.authentication, Authentication::Kerberos);
    }

    #[test]
    fn webhdfs_default_fs_names_the_namenode() {
        let core = prop(FS_DEFAULT_FS, "webhdfs://127.0.0.1:35997");
        let c = load(&[("core-site.xml", &core)]).unwrap();
        assert_eq!(urls(&c.namenodes), [(None, "http://127.0.0.1:35997")]);
        let core = prop(FS_DEFAULT_FS, "swebhdfs://nn.example.com");
        let c = load(&[("core-site.xml", &core)]).unwrap();
        assert_eq!(urls(&c.namenodes), [(None, "https://nn.example.com:9871")]);
    }

    #[test]
    fn hdfs_default_fs_uses_the_http_address_and_replaces_a_wildcard_host() {
        let core = prop(FS_DEFAULT_FS, "hdfs://nn1.example.com:8020");
        let c = load(&[("core-site.xml", &core)]).unwrap();
        assert_eq!(urls(&c.namenodes), [(None, "http://nn1.example.com:9870")]);

        let hdfs = prop(DFS_NAMENODE_HTTP_ADDRESS, "web.example.com:50070");
        let c = load(&[("core-site.xml", &core), ("hdfs-site.xml", &hdfs)]).unwrap();
        assert_eq!(urls(&c.namenodes), [(None, "http://web.example.com:50070")]);

        let hdfs = prop(DFS_HTTP_POLICY, "HTTPS_ONLY")
            + &prop(DFS_NAMENODE_HTTPS_ADDRESS, "web.example.com:50470");
        let c = load(&[("core-site.xml", &core), ("hdfs-site.xml", &hdfs)]).unwrap();
        assert_eq!(
            urls(&c.namenodes),
            [(None, "https://web.example.com:50470")]
        );
    }

    #[test]
    fn hdfs_ha_nameservice_lists_each_namenode() {
        let core = prop(FS_DEFAULT_FS, "hdfs://mycluster");
        let hdfs = [
            prop(DFS_NAMESERVICES, "mycluster,other"),
            prop("dfs.ha.namenodes.mycluster", "nn1,nn2"),
            prop(
                "dfs.namenode.rpc-address.mycluster.nn1",
                "machine1.example.com:8020",
            ),
            prop(
                "dfs.namenode.http-address.mycluster.nn1",
                "machine1.example.com:9870",
            ),
            prop(
                "dfs.namenode.http-address.mycluster.nn2",
                "machine2.example.com:9870",
            ),
            prop(
                "dfs.namenode.https-address.mycluster.nn1",
                "machine1.example.com:9871",
            ),
            prop(
                "dfs.namenode.https-address.mycluster.nn2",
                "machine2.example.com:9871",
            ),
        ]
        .concat();
        let c = load(&[("core-site.xml", &core), ("hdfs-site.xml", &hdfs)]).unwrap();
        assert_eq!(c.nameservice.as_deref(), Some("mycluster"));
        assert_eq!(
            urls(&c.namenodes),
            [
                (Some("nn1"), "http://machine1.example.com:9870"),
                (Some("nn2"), "http://machine2.example.com:9870"),
            ]
        );
        let hdfs_https = hdfs.clone() + &prop(DFS_HTTP_POLICY, "HTTPS_ONLY");
        let c = load(&[("core-site.xml", &core), ("hdfs-site.xml", &hdfs_https)]).unwrap();
        assert_eq!(c.namenodes[1].url, "https://machine2.example.com:9871");

        let broken = hdfs.replace("machine2.example.com:9870", "");
        let err = load(&[("core-site.xml", &core), ("hdfs-site.xml", &broken)]).unwrap_err();
        assert!(
            err.contains(
                "NameNode nn2 of mycluster: dfs.namenode.http-address.mycluster.nn2 is not set"
            ),
            "{err}"
        );
    }

    #[test]
    fn federated_nameservice_without_ha() {
        let core = prop(FS_DEFAULT_FS, "hdfs://ns2");
        let hdfs = prop(DFS_NAMESERVICES, "ns1,ns2")
            + &prop("dfs.namenode.http-address.ns2", "nn-ns2:9870");
        let c = load(&[("core-site.xml", &core), ("hdfs-site.xml", &hdfs)]).unwrap();
        assert_eq!(urls(&c.namenodes), [(None, "http://nn-ns2:9870")]);
    }

    #[test]
    fn non_hdfs_default_fs_has_no_namenodes() {
        for fs in ["s3a://bucket", "file:///", "viewfs://cluster/"] {
            let c = load(&[("core-site.xml", &prop(FS_DEFAULT_FS, fs))]).unwrap();
            assert!(c.namenodes.is_empty(), "{fs}");
        }
    }
}
