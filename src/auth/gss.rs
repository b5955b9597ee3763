//! The one place livy-rs calls the GSSAPI C library directly: MIT's `gss_acquire_cred_from`,
//! which takes an explicit *credential store* (keytab, client keytab, ccache). Three safe entry
//! points come out of it:
//!
//! - [`acceptor_from_keytab`]: the SPNEGO acceptor for clients (`livy.server.auth.kerberos.*`);
//! - [`login_from_keytab`]: `kinit -kt keytab principal` into a private ccache, without a `kinit`
//!   binary and without touching the process's default ccache (`livy.server.launch.kerberos.*`);
//! - [`initiator_from_ccache`]: initiator credentials from that private ccache, for SPNEGO
//!   towards the RM and WebHDFS.
//!
//! Why unsafe code: `libgssapi` 0.9 wraps `gss_acquire_cred` (which finds keytab and ccache only
//! through the process environment, `KRB5_KTNAME`/`KRB5_CLIENT_KTNAME`/`KRB5CCNAME`) and
//! `gss_store_cred_into`, but not `gss_acquire_cred_from`. Setting those variables in a running,
//! multi-threaded server is a data race with every thread reading the environment, would
//! redirect every other GSSAPI user in the process (acceptor and initiator would fight over
//! them), and would make the files named in livy.conf depend on the admin's environment. What
//! leaves this module is a safe [`Cred`] that releases itself; the temporary name handle is
//! released here. Nothing else in the crate may use `unsafe`.
#![allow(unsafe_code)]

use libgssapi::credential::Cred;
use libgssapi::error::{Error, MajorFlags};
use libgssapi_sys as sys;
use std::ffi::{c_void, CString};
use std::ptr;
use std::time::Duration;

/// OID 1.2.840.113554.1.2.2.1, `GSS_KRB5_NT_PRINCIPAL_NAME`: "service/host@REALM" as written.
const KRB5_NT_PRINCIPAL: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x01";

/// Why no credential could be acquired. The texts name what was attempted and the library's
/// reason; never key material (the store holds only file names).
#[derive(Debug, thiserror::Error)]
pub enum CredError {
    #[error("the principal, keytab or credential cache name contains a NUL byte")]
    Nul,
    #[error("cannot parse the principal: {0}")]
    Name(Error),
    #[error("cannot acquire {what}: {source}")]
    Acquire { what: &'static str, source: Error },
}

/// An acceptor credential for `principal` (e.g. `HTTP/host@REALM`) from the keytab at `keytab`
/// (a path, or a `TYPE:residual` keytab name). With `principal` `None`, any key in the keytab
/// may accept (Hadoop's principal `*`).
pub fn acceptor_from_keytab(principal: Option<&str>, keytab: &str) -> Result<Cred, CredError> {
    let keytab = keytab_name(keytab);
    let (cred, _) = acquire(
        principal,
        Usage::Accept,
        &[("keytab", &keytab)],
        "an acceptor credential from the keytab",
    )?;
    Ok(cred)
}

/// Obtains a fresh TGT for `principal` from `keytab` (a path or `TYPE:residual`) into the
/// credential cache `ccache` (e.g. `FILE:/private/dir/cc`), like `kinit -kt`. Returns the
/// ticket's remaining lifetime. Blocking (talks to the KDC): call it from `spawn_blocking`.
pub fn login_from_keytab(
    principal: &str,
    keytab: &str,
    ccache: &str,
) -> Result<Duration, CredError> {
    let keytab = keytab_name(keytab);
    let (_cred, lifetime) = acquire(
        Some(principal),
        Usage::Initiate,
        &[("client_keytab", &keytab), ("ccache", ccache)],
        "a ticket from the keytab",
    )?;
    Ok(lifetime)
}

/// Initiator credentials read from `ccache` only (no keytab: a missing or expired ticket is an
/// error here, and the login task's business). Blocking.
pub fn initiator_from_ccache(ccache: &str) -> Result<Cred, CredError> {
    acquire(
        None,
        Usage::Initiate,
        &[("ccache", ccache)],
        "initiator credentials from the credential cache",
    )
    .map(|(cred, _)| cred)
}

/// `FILE:<path>` unless the name already carries a keytab type (`FILE:`, `MEMORY:` ...).
pub fn keytab_name(keytab: &str) -> String {
    if keytab.starts_with('/') || !keytab.contains(':') {
        format!("FILE:{keytab}")
    } else {
        keytab.to_string()
    }
}

#[derive(Clone, Copy)]
enum Usage {
    Accept,
    Initiate,
}

/// The shared call: `gss_acquire_cred_from(name, usage, store)`; returns the credential and its
/// lifetime (`Duration::MAX` when the library says "indefinite").
fn acquire(
    principal: Option<&str>,
    usage: Usage,
    store: &[(&str, &str)],
    what: &'static str,
) -> Result<(Cred, Duration), CredError> {
    let owned: Vec<(CString, CString)> = store
        .iter()
        .map(|(k, v)| Ok((CString::new(*k)?, CString::new(*v)?)))
        .collect::<Result<_, std::ffi::NulError>>()
        .map_err(|_| CredError::Nul)?;
    let mut elements: Vec<sys::gss_key_value_element_desc> = owned
        .iter()
        .map(|(k, v)| sys::gss_key_value_element_desc {
            key: k.as_ptr(),
            value: v.as_ptr(),
        })
        .collect();
    let store = sys::gss_key_value_set_desc {
        count: elements.len() as u32,
        elements: elements.as_mut_ptr(),
    };
    let name = match principal {
        Some(p) => Some(ImportedName::krb5_principal(p)?),
        None => None,
    };
    let usage = match usage {
        Usage::Accept => sys::GSS_C_ACCEPT,
        Usage::Initiate => sys::GSS_C_INITIATE,
    } as sys::gss_cred_usage_t;
    let mut minor: sys::OM_uint32 = 0;
    let mut cred: sys::gss_cred_id_t = ptr::null_mut();
    let mut time_rec: sys::OM_uint32 = 0;
    // SAFETY: every pointer passed lives until the call returns (`owned`, `elements`, `store`,
    // `name`); the out-pointers are valid locals; a null mech set means "the default mechanisms".
    let major = unsafe {
        sys::gss_acquire_cred_from(
            &mut minor,
            name.as_ref().map_or(ptr::null_mut(), |n| n.0),
            sys::_GSS_C_INDEFINITE,
            ptr::null_mut(),
            usage,
            &store,
            &mut cred,
            ptr::null_mut(),
            &mut time_rec,
        )
    };
    drop(name);
    if major != sys::GSS_S_COMPLETE {
        return Err(CredError::Acquire {
            what,
            source: failed(major, minor),
        });
    }
    // `Cred` owns the handle from here on and releases it when dropped.
    let cred = Cred::from(cred);
    let lifetime = if time_rec == sys::_GSS_C_INDEFINITE {
        Duration::MAX
    } else {
        Duration::from_secs(u64::from(time_rec))
    };
    Ok((cred, lifetime))
}

/// A failure of a GSSAPI call (its major/minor status renders as the library's messages).
fn failed(major: u32, minor: u32) -> Error {
    Error {
        major: MajorFlags::from_bits_retain(major),
        minor,
    }
}

/// A `gss_name_t` released on drop.
struct ImportedName(sys::gss_name_t);

impl ImportedName {
    fn krb5_principal(principal: &str) -> Result<Self, CredError> {
        if principal.contains('\0') {
            return Err(CredError::Nul);
        }
        let mut oid = sys::gss_OID_desc {
            length: KRB5_NT_PRINCIPAL.len() as u32,
            elements: KRB5_NT_PRINCIPAL.as_ptr() as *mut c_void,
        };
        let mut buffer = sys::gss_buffer_desc {
            length: principal.len(),
            value: principal.as_ptr() as *mut c_void,
        };
        let mut minor: sys::OM_uint32 = 0;
        let mut name: sys::gss_name_t = ptr::null_mut();
        // SAFETY: `buffer` and `oid` point at live byte slices that gss_import_name only reads
        // (it copies them); `name` is a valid out-pointer.
        let major = unsafe { sys::gss_import_name(&mut minor, &mut buffer, &mut oid, &mut name) };
        if major != sys::GSS_S_COMPLETE {
            return Err(CredError::Name(failed(major, minor)));
        }
        Ok(ImportedName(name))
    }
}

impl Drop for ImportedName {
    fn drop(&mut self) {
        let mut minor: sys::OM_uint32 = 0;
        // SAFETY: the name came from gss_import_name and is released exactly once.
        unsafe {
            sys::gss_release_name(&mut minor, &mut self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keytab_paths_become_file_names() {
        assert_eq!(keytab_name("/etc/livy.keytab"), "FILE:/etc/livy.keytab");
        assert_eq!(keytab_name("livy.keytab"), "FILE:livy.keytab");
        assert_eq!(keytab_name("FILE:/k"), "FILE:/k");
        assert_eq!(keytab_name("/dir:with/colon"), "FILE:/dir:with/colon");
    }

    #[test]
    fn a_nul_byte_is_an_error_not_a_panic() {
        assert!(matches!(
            initiator_from_ccache("FILE:/tmp/a\0b"),
            Err(CredError::Nul)
        ));
        assert!(matches!(
            login_from_keytab("a\0b@R", "/nonexistent", "FILE:/nonexistent"),
            Err(CredError::Nul)
        ));
    }

    #[test]
    fn a_missing_keytab_is_an_error_naming_the_attempt() {
        let err = acceptor_from_keytab(None, "/nonexistent/http.keytab").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot acquire an acceptor credential from the keytab"),
            "{err}"
        );
    }
}
