//! `doAs`: the user a request asks to act as (Livy's `impersonatedUser`). It is read here, once,
//! the same way for every route, and a `doAs` the caller may not use is refused before any
//! handler runs — a list, a view, a log, a create, a delete, a statement or a job alike — with
//! Livy's 403 and message (`AccessManager.checkImpersonation`). Livy itself checks it only where
//! a handler asks for the effective user, so `GET /sessions?doAs=x` answered 200 while the list
//! was empty; a check per route would be one more place to forget.
//!
//! How the parameter is read, so that no spelling slips past the check:
//! - its name in any letter case (`doAs`, `doas`, `DOAS`), as Hadoop's proxy-user filters and
//!   Livy's Thrift server read it; percent-encoded names and values are decoded first;
//! - given more than once, all values must agree, else 400: which one would a proxy in front of
//!   the server have checked?
//! - an empty value means no `doAs` (the caller acts as themselves).
//!
//! With `livy.impersonation.enabled = false` Livy ignores `doAs`, and so does this.

use super::json::Params;
use crate::auth::{AccessManager, RemoteUser};
use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The request's `doAs` (see the module doc); a 400 when its values disagree.
pub fn do_as(params: &Params) -> Result<Option<String>, ApiError> {
    let mut found: Option<&str> = None;
    for value in params.values_any_case("doAs").filter(|v| !v.is_empty()) {
        match found {
            Some(first) if first != value => {
                return Err(ApiError::BadRequest(
                    "Parameter 'doAs' is given more than once, with different values.".into(),
                ))
            }
            _ => found = Some(value),
        }
    }
    Ok(found.map(String::from))
}

/// The layer behind authentication: refuses a request whose `doAs` the caller may not use.
pub async fn refuse_forbidden_do_as(
    State(access): State<Arc<AccessManager>>,
    req: Request,
    next: Next,
) -> Response {
    let params = Params::parse(req.uri().query());
    let target = match do_as(&params) {
        Ok(target) => target,
        Err(e) => return e.into_response(),
    };
    if target.is_some() {
        let user = req
            .extensions()
            .get::<RemoteUser>()
            .and_then(|u| u.0.as_deref());
        if let Err(e) = access.check_impersonation(target.as_deref(), user) {
            tracing::info!(user, do_as = target.as_deref(), path = %req.uri().path(), "doAs refused");
            return e.into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<Option<String>, ApiError> {
        do_as(&Params::parse(Some(q)))
    }

    #[test]
    fn any_case_any_encoding_and_repeats_must_agree() {
        assert_eq!(parse("doAs=alice").unwrap().as_deref(), Some("alice"));
        assert_eq!(parse("doas=alice").unwrap().as_deref(), Some("alice"));
        assert_eq!(parse("DOAS=alice").unwrap().as_deref(), Some("alice"));
        assert_eq!(parse("do%41s=%61lice").unwrap().as_deref(), Some("alice"));
        assert_eq!(
            parse("doAs=alice&doas=alice").unwrap().as_deref(),
            Some("alice")
        );
        assert_eq!(parse("doAs=&from=1").unwrap(), None);
        assert_eq!(parse("from=1").unwrap(), None);
        assert!(matches!(
            parse("doAs=bob&doAs=alice"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse("doAs=bob&DoAs=alice"),
            Err(ApiError::BadRequest(_))
        ));
    }
}
