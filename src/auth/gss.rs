//! The one place livy-rs calls the GSSAPI C library directly: acquiring an acceptor credential
//! from an explicit keytab with MIT's `gss_acquire_cred_from`.
//!
//! Why unsafe code: the `libgssapi` crate only offers `gss_acquire_cred`, which finds the keytab
//! through the process environment (`KRB5_KTNAME`). Setting that variable from a running,
//! multi-threaded server is a data race with every other thread reading the environment, and it
//! would make the keytab named in livy.conf depend on the environment the admin started us in.
//! `gss_acquire_cred_from` takes the keytab (a "credential store") as an argument instead. The
//! returned handle is handed to `libgssapi::credential::Cred`, which owns and releases it; the
//! temporary name handle is released here. Nothing else in the crate may use `unsafe`.
#![allow(unsafe_code)]

use libgssapi::credential::Cred;
use libgssapi::error::{Error, MajorFlags};
use libgssapi_sys as sys;
use std::ffi::CString;
use std::ptr;

/// The Kerberos principal name type, 1.2.840.113554.1.2.2.1 (GSS_KRB5_NT_PRINCIPAL_NAME).
const KRB5_PRINCIPAL_OID: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x01";

/// Why no credential could be acquired.
#[derive(Debug, thiserror::Error)]
pub enum CredError {
    #[error("the principal or keytab path contains a NUL byte")]
    Nul,
    #[error("cannot parse the principal: {0}")]
    Name(Error),
    #[error("cannot acquire an acceptor credential from the keytab: {0}")]
    Acquire(Error),
}

fn error(major: u32, minor: u32) -> Error {
    Error {
        major: MajorFlags::from_bits_retain(major),
        minor,
    }
}

/// An acceptor credential for `principal` (e.g. `HTTP/host@REALM`) from the keytab at `keytab`
/// (a path, or a `TYPE:residual` keytab name). With `principal` `None`, any key in the keytab
/// may accept (Hadoop's principal `*`).
pub fn acceptor_from_keytab(principal: Option<&str>, keytab: &str) -> Result<Cred, CredError> {
    let keytab = if keytab.contains(':') && !keytab.starts_with('/') {
        keytab.to_string()
    } else {
        format!("FILE:{keytab}")
    };
    let key = CString::new("keytab").map_err(|_| CredError::Nul)?;
    let value = CString::new(keytab).map_err(|_| CredError::Nul)?;
    let mut elements = [sys::gss_key_value_element_struct {
        key: key.as_ptr(),
        value: value.as_ptr(),
    }];
    let store = sys::gss_key_value_set_struct {
        count: 1,
        elements: elements.as_mut_ptr(),
    };

    let mut minor: sys::OM_uint32 = 0;
    let mut name: sys::gss_name_t = ptr::null_mut();
    if let Some(principal) = principal {
        let mut oid_bytes = KRB5_PRINCIPAL_OID.to_vec();
        let mut oid = sys::gss_OID_desc_struct {
            length: oid_bytes.len() as sys::OM_uint32,
            elements: oid_bytes.as_mut_ptr().cast(),
        };
        let mut text = principal.as_bytes().to_vec();
        let mut buffer = sys::gss_buffer_desc_struct {
            length: text.len(),
            value: text.as_mut_ptr().cast(),
        };
        // SAFETY: every pointer refers to a live local for the duration of the call; the
        // library copies the buffer and OID and returns a name we release below.
        let major = unsafe { sys::gss_import_name(&mut minor, &mut buffer, &mut oid, &mut name) };
        if major != sys::GSS_S_COMPLETE {
            return Err(CredError::Name(error(major, minor)));
        }
    }

    let mut cred: sys::gss_cred_id_t = ptr::null_mut();
    // SAFETY: `name` is null or the handle imported above, `store` and its strings are live
    // locals, and `cred` receives a new handle that `Cred` takes ownership of.
    let major = unsafe {
        sys::gss_acquire_cred_from(
            &mut minor,
            name,
            sys::_GSS_C_INDEFINITE,
            ptr::null_mut(),
            sys::GSS_C_ACCEPT as sys::gss_cred_usage_t,
            &store,
            &mut cred,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    if !name.is_null() {
        let mut release_minor: sys::OM_uint32 = 0;
        // SAFETY: `name` was returned by gss_import_name and is released exactly once.
        unsafe { sys::gss_release_name(&mut release_minor, &mut name) };
    }
    if major != sys::GSS_S_COMPLETE {
        return Err(CredError::Acquire(error(major, minor)));
    }
    Ok(Cred::from(cred))
}
