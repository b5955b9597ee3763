//! JSON in and out the way Livy's Jackson setup behaves: unknown fields and type mismatches are
//! 400s in Livy's `{"msg": ...}` shape (the fields' own coercion is in `crate::coerce`, next to
//! no HTTP, so the request types of sessions and batches need nothing from this layer).

use super::body_limit::{is_over_limit, BodyLimit, BodyLimits, BudgetFor, BODY_READ_DEADLINE};
use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

/// A JSON request body, rejected in Livy's shape when malformed. Its size limit is the one the
/// body-limit layer set (Livy's default `livy.rsc.rpc.max.size` where no layer did).
pub struct LivyJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for LivyJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let limit = req
            .extensions()
            .get::<BodyLimit>()
            .copied()
            .unwrap_or_else(|| BodyLimits::new(DEFAULT_RPC_MAX, 0).json_limit());
        // Room in the server-wide budget for what this body may hold: its declared length, or
        // the whole limit when it declares none. A body known to be empty needs none.
        let permit = match req.extensions().get::<BudgetFor>().cloned() {
            Some(BudgetFor(budget)) => {
                use axum::body::HttpBody as _;
                let hint = req.body().size_hint();
                match hint.exact() {
                    Some(0) => None,
                    Some(n) => Some(budget.reserve(n.min(limit.bytes as u64) as usize).await?),
                    None => Some(budget.reserve(limit.bytes).await?),
                }
            }
            None => None,
        };
        let read = tokio::time::timeout(
            BODY_READ_DEADLINE,
            axum::body::to_bytes(req.into_body(), limit.bytes),
        )
        .await
        .map_err(|_| {
            ApiError::RequestTimeout(format!(
                "The request body did not arrive within {} seconds.",
                BODY_READ_DEADLINE.as_secs()
            ))
        })?;
        let body = read.map_err(|e| {
            if is_over_limit(&e) {
                limit.too_large()
            } else {
                ApiError::BadRequest("Cannot read the request body.".into())
            }
        })?;
        let parsed = parse_body(&body).map(LivyJson);
        drop(body);
        drop(permit);
        parsed
    }
}

/// `livy.rsc.rpc.max.size`'s default.
const DEFAULT_RPC_MAX: usize = 50 * 1024 * 1024;

/// Parses a request body; the error names what is wrong and where.
pub fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest(
            "Request body is empty; expected a JSON object.".into(),
        ));
    }
    // Every Livy request body is an object; serde would also build a struct from an array.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::BadRequest(
            "Invalid request body: expected a JSON object.".into(),
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("Invalid request body: {e}")))
}

/// Query parameters, parsed once per request.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(query: Option<&str>) -> Self {
        Params(
            query
                .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a parameter whose name matches `name` in any letter case, in order.
    pub fn values_any_case<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// An integer parameter; a value that is not one is a 400 naming it.
    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|v| {
                v.trim().parse::<i64>().map_err(|_| {
                    ApiError::BadRequest(format!(
                        "Invalid value for parameter '{name}': '{v}' is not an integer."
                    ))
                })
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coerce::{opt_int, opt_string, string_list, string_map};
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct T {
        #[serde(default, deserialize_with = "opt_int")]
        n: Option<i32>,
        #[serde(default, deserialize_with = "opt_string")]
        s: Option<String>,
        #[serde(default, deserialize_with = "string_list")]
        l: Vec<String>,
        #[serde(default, deserialize_with = "string_map")]
        m: BTreeMap<String, String>,
    }

    fn parse(body: &str) -> Result<T, ApiError> {
        parse_body(&Bytes::from(body.to_string()))
    }

    #[test]
    fn coerces_like_jackson() {
        let t = parse(r#"{"n":"2","s":512,"l":["a",1],"m":{"k":3,"b":true}}"#).unwrap();
        assert_eq!(t.n, Some(2));
        assert_eq!(t.s.as_deref(), Some("512"));
        assert_eq!(t.l, vec!["a", "1"]);
        assert_eq!(t.m["k"], "3");
        assert_eq!(t.m["b"], "true");
        // An integer written with a zero fraction is an integer (JSON Schema, Jackson).
        assert_eq!(parse(r#"{"n":9008627.0}"#).unwrap().n, Some(9008627));
        let t = parse(r#"{"n":null,"l":null,"m":null}"#).unwrap();
        assert_eq!((t.n, t.l.len(), t.m.len()), (None, 0, 0));
    }

    #[test]
    fn rejects_what_jackson_rejects() {
        for body in [
            r#"{"n":"two"}"#,
            r#"{"n":1.5}"#,
            r#"{"n":99999999999}"#,
            r#"{"l":"a"}"#,
            r#"{"m":[1]}"#,
            r#"{"m":{"k":{"x":1}}}"#,
            r#"{"unknown":1}"#,
            r#"{"n":1"#,
            "",
            "[]",
        ] {
            let err = parse(body)
                .err()
                .unwrap_or_else(|| panic!("{body} was accepted"));
            assert!(matches!(err, ApiError::BadRequest(_)), "{body}: {err:?}");
        }
        let msg = parse(r#"{"bogus":1}"#).unwrap_err().to_string();
        assert!(msg.contains("unknown field `bogus`"), "{msg}");
    }

    #[test]
    fn params_parse_and_reject_non_integers() {
        let p = Params::parse(Some("from=5&size=abc&doAs=a%20b"));
        assert_eq!(p.int("from").unwrap(), Some(5));
        assert!(p.int("size").is_err());
        assert_eq!(p.get("doAs"), Some("a b"));
        assert_eq!(p.int("missing").unwrap(), None);
    }
}
