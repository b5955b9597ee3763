//! The two GSSAPI calls the safe `libgssapi` API does not offer: MIT's `gss_acquire_cred_from`
//! with a *credential store*, which (a) logs in from a keytab into a named credential cache —
//! what `kinit -kt keytab principal` does, without a `kinit` binary and without touching the
//! process's default ccache — and (b) opens initiator credentials from that private ccache.
//!
//! Why unsafe: `libgssapi` 0.9 wraps `gss_acquire_cred` (default ccache only) and
//! `gss_store_cred_into`, but not `gss_acquire_cred_from`; the only safe alternative is setting
//! `KRB5CCNAME`/`KRB5_CLIENT_KTNAME` for the whole server process, which would also redirect the
//! ccache of every other GSSAPI user in it (the SPNEGO acceptor). The unsafe code is confined
//! here; what leaves this module is a safe [`Cred`] that releases itself.
#![allow(unsafe_code)]

use libgssapi::credential::Cred;
use libgssapi::error::{Error, MajorFlags};
use libgssapi_sys as sys;
use std::ffi::CString;
use std::ptr;
use std::time::Duration;

/// OID 1.2.840.113554.1.2.2.1, `GSS_KRB5_NT_PRINCIPAL_NAME`: "service/host@REALM" as written.
const KRB5_NT_PRINCIPAL: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x01";
/// `GSS_C_INITIATE`.
const INITIATE: sys::gss_cred_usage_t = 1;
/// `GSS_C_INDEFINITE`: as long as the KDC allows.
const INDEFINITE: u32 = u32::MAX;

/// A failure of a GSSAPI call (its major/minor status renders as the library's messages).
fn failed(major: u32, minor: u32) -> Error {
    Error {
        major: MajorFlags::from_bits_retain(major),
        minor,
    }
}

/// A string the C library can take; a NUL inside is a bad name, not a panic.
fn c_string(s: &str) -> Result<CString, Error> {
    CString::new(s).map_err(|_| failed(sys::_GSS_S_BAD_NAME, 0))
}

/// Obtains a fresh TGT for `principal` from `keytab` into the credential cache `ccache`
/// (e.g. `FILE:/private/dir/cc`), like `kinit -kt`. Returns the ticket's remaining lifetime.
/// Blocking (talks to the KDC): call it from `spawn_blocking`.
pub fn login_from_keytab(principal: &str, keytab: &str, ccache: &str) -> Result<Duration, Error> {
    let (cred, lifetime) = acquire(
        Some(principal),
        &[("client_keytab", keytab), ("ccache", ccache)],
    )?;
    drop(cred);
    Ok(lifetime)
}

/// Initiator credentials read from `ccache` only (no keytab: a missing or expired ticket is an
/// error here, and the login task's business). Blocking.
pub fn initiator_from_ccache(ccache: &str) -> Result<Cred, Error> {
    acquire(None, &[("ccache", ccache)]).map(|(cred, _)| cred)
}

fn acquire(principal: Option<&str>, store: &[(&str, &str)]) -> Result<(Cred, Duration), Error> {
    let owned: Vec<(CString, CString)> = store
        .iter()
        .map(|(k, v)| Ok((c_string(k)?, c_string(v)?)))
        .collect::<Result<_, Error>>()?;
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
    let mut minor: u32 = 0;
    let mut cred: sys::gss_cred_id_t = ptr::null_mut();
    let mut time_rec: u32 = 0;
    // SAFETY: every pointer passed lives until the call returns (`owned`, `elements`, `store`,
    // `name`); the out-pointers are valid locals; a null mech set means "the default mechanisms".
    let major = unsafe {
        sys::gss_acquire_cred_from(
            &mut minor,
            name.as_ref().map_or(ptr::null_mut(), |n| n.0),
            INDEFINITE,
            ptr::null_mut(),
            INITIATE,
            &store,
            &mut cred,
            ptr::null_mut(),
            &mut time_rec,
        )
    };
    if major != 0 {
        return Err(failed(major, minor));
    }
    // `Cred` owns the handle from here on and releases it when dropped.
    let cred = Cred::from(cred);
    let lifetime = if time_rec == INDEFINITE {
        Duration::MAX
    } else {
        Duration::from_secs(u64::from(time_rec))
    };
    Ok((cred, lifetime))
}

/// A `gss_name_t` released on drop.
struct ImportedName(sys::gss_name_t);

impl ImportedName {
    fn krb5_principal(principal: &str) -> Result<Self, Error> {
        let mut oid = sys::gss_OID_desc {
            length: KRB5_NT_PRINCIPAL.len() as u32,
            elements: KRB5_NT_PRINCIPAL.as_ptr() as *mut std::ffi::c_void,
        };
        let mut buffer = sys::gss_buffer_desc {
            length: principal.len(),
            value: principal.as_ptr() as *mut std::ffi::c_void,
        };
        let mut minor: u32 = 0;
        let mut name: sys::gss_name_t = ptr::null_mut();
        // SAFETY: `buffer` and `oid` point at live byte slices that gss_import_name only reads
        // (it copies them); `name` is a valid out-pointer.
        let major = unsafe { sys::gss_import_name(&mut minor, &mut buffer, &mut oid, &mut name) };
        if major != 0 {
            return Err(failed(major, minor));
        }
        Ok(ImportedName(name))
    }
}

impl Drop for ImportedName {
    fn drop(&mut self) {
        let mut minor: u32 = 0;
        // SAFETY: the name came from gss_import_name and is released exactly once.
        unsafe {
            sys::gss_release_name(&mut minor, &mut self.0);
        }
    }
}
