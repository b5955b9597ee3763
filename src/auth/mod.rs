//! Who is calling and what they may do. Authentication middleware (SPNEGO, LDAP) puts a
//! [`RemoteUser`] into each request; without authentication it is empty, as Livy's
//! `getRemoteUser` is null. [`AccessManager`] is Livy's AccessManager rule for rule.
//!
//! - `filter`: the layer in front of every route (cookie, scheme, allowed-users ACL)
//! - `spnego`: the Kerberos acceptor; `gss`: the one GSSAPI FFI module (acceptor, keytab login,
//!   ccache initiator); `name_rules`: Hadoop's auth_to_local
//! - `cookie`: the signed `hadoop.auth` cookie, shared by every scheme

pub mod cookie;
pub mod filter;
pub(crate) mod gss;
pub mod name_rules;
pub mod spnego;

pub mod ldap;

pub mod hadoop;

use crate::conf::AccessConf;
use crate::error::ApiError;
use std::collections::BTreeSet;

/// The authenticated caller of a request, if authentication is on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteUser(pub Option<String>);

/// Set on a request by an outer layer when the configuration trusts the peer's address for the
/// route it asks for (`/metrics` from `livy.server.metrics.allowed-addresses`): the
/// authentication layer then lets it through without credentials. Only the server's own layers
/// can set it; nothing a client sends becomes an extension.
#[derive(Debug, Clone, Copy)]
pub struct TrustedPeer;

const WILDCARD: &str = "*";

/// Livy's access rules: superusers, modify/view/allowed ACLs and impersonation.
#[derive(Debug, Clone)]
pub struct AccessManager {
    acls_on: bool,
    impersonation: bool,
    super_acls: BTreeSet<String>,
    modify_acls: BTreeSet<String>,
    view_acls: BTreeSet<String>,
    allowed_acls: BTreeSet<String>,
}

impl AccessManager {
    pub fn new(conf: &AccessConf) -> Self {
        let union = |sets: &[&BTreeSet<String>]| -> BTreeSet<String> {
            sets.iter().flat_map(|s| s.iter().cloned()).collect()
        };
        AccessManager {
            acls_on: conf.access_control_enabled,
            impersonation: conf.impersonation_enabled,
            super_acls: conf.superusers.clone(),
            modify_acls: union(&[&conf.superusers, &conf.modify_users]),
            view_acls: union(&[&conf.superusers, &conf.modify_users, &conf.view_users]),
            allowed_acls: union(&[
                &conf.superusers,
                &conf.modify_users,
                &conf.view_users,
                &conf.allowed_users,
            ]),
        }
    }

    fn listed(acls: &BTreeSet<String>, user: Option<&str>) -> bool {
        match user {
            None => true,
            Some(u) => acls.contains(WILDCARD) || acls.contains(u),
        }
    }

    /// May this user use the server at all (`allowed-users`)?
    pub fn is_user_allowed(&self, user: Option<&str>) -> bool {
        !self.acls_on || Self::listed(&self.allowed_acls, user)
    }

    pub fn is_super_user(&self, user: Option<&str>) -> bool {
        Self::listed(&self.super_acls, user)
    }

    /// Resolves the user a session runs as: `Ok(None)` when impersonation is off (Livy then runs
    /// everything as the server user and reports no proxyUser).
    pub fn check_impersonation(
        &self,
        target: Option<&str>,
        request_user: Option<&str>,
    ) -> Result<Option<String>, ApiError> {
        if !self.impersonation {
            return Ok(None);
        }
        if let Some(target) = target {
            if !(request_user == Some(target) || self.is_super_user(request_user)) {
                return Err(ApiError::Forbidden(format!(
                    "User '{}' not allowed to impersonate '{}'.",
                    request_user.unwrap_or("null"),
                    target
                )));
            }
        }
        Ok(target.or(request_user).map(String::from))
    }

    /// View access to a session owned by `owner` and run as `proxy_user`.
    pub fn has_view_access(
        &self,
        owner: Option<&str>,
        request_user: Option<&str>,
        proxy_user: Option<&str>,
    ) -> bool {
        Self::owns(owner, request_user, proxy_user)
            || !self.acls_on
            || Self::listed(&self.view_acls, request_user)
    }

    /// Modify access (statements, delete) to a session.
    pub fn has_modify_access(
        &self,
        owner: Option<&str>,
        request_user: Option<&str>,
        proxy_user: Option<&str>,
    ) -> bool {
        Self::owns(owner, request_user, proxy_user)
            || !self.acls_on
            || Self::listed(&self.modify_acls, request_user)
    }

    /// May this user see what concerns every session (the server-wide numbers of `/metrics`)?
    /// With access control on: view-users, modify-users and superusers; otherwise anyone the
    /// authentication let in.
    pub fn may_view_all(&self, user: Option<&str>) -> bool {
        !self.acls_on || Self::listed(&self.view_acls, user)
    }

    fn owns(owner: Option<&str>, request_user: Option<&str>, proxy_user: Option<&str>) -> bool {
        request_user == owner || (proxy_user.is_some() && proxy_user == request_user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(f: impl FnOnce(&mut AccessConf)) -> AccessManager {
        let mut c = AccessConf {
            impersonation_enabled: true,
            superusers: ["admin".to_string()].into(),
            access_control_enabled: true,
            allowed_users: ["*".to_string()].into(),
            modify_users: BTreeSet::new(),
            view_users: ["auditor".to_string()].into(),
        };
        f(&mut c);
        AccessManager::new(&c)
    }

    #[test]
    fn impersonation_follows_livy() {
        let am = conf(|_| {});
        assert_eq!(
            am.check_impersonation(Some("bob"), Some("admin")).unwrap(),
            Some("bob".into())
        );
        assert_eq!(
            am.check_impersonation(None, Some("alice")).unwrap(),
            Some("alice".into())
        );
        assert_eq!(
            am.check_impersonation(Some("alice"), Some("alice"))
                .unwrap(),
            Some("alice".into())
        );
        let err = am
            .check_impersonation(Some("bob"), Some("alice"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "User 'alice' not allowed to impersonate 'bob'."
        );
        let off = conf(|c| c.impersonation_enabled = false);
        assert_eq!(
            off.check_impersonation(Some("bob"), Some("alice")).unwrap(),
            None
        );
    }

    #[test]
    fn acls_follow_livy() {
        let am = conf(|c| c.allowed_users = ["alice".to_string()].into());
        assert!(am.is_user_allowed(Some("alice")));
        assert!(am.is_user_allowed(Some("auditor")));
        assert!(!am.is_user_allowed(Some("mallory")));
        assert!(am.has_view_access(Some("alice"), Some("auditor"), None));
        assert!(!am.has_modify_access(Some("alice"), Some("auditor"), None));
        assert!(am.has_modify_access(Some("alice"), Some("admin"), None));
        assert!(am.has_modify_access(Some("alice"), Some("bob"), Some("bob")));
        assert!(!am.has_view_access(Some("alice"), Some("mallory"), None));
        assert!(am.may_view_all(Some("auditor")) && am.may_view_all(Some("admin")));
        assert!(!am.may_view_all(Some("alice")));
        assert!(conf(|c| c.access_control_enabled = false).may_view_all(Some("alice")));
    }
}
