//! `GET /openapi.json`: the OpenAPI 3 document of the REST API, built by `utoipa` from the
//! handlers' own request and answer types and their `#[utoipa::path]` annotations, so it
//! follows the code. The same document is committed as `docs/openapi.json`; a test fails when the
//! two differ (regenerate with `livy-server openapi > docs/openapi.json`).
//!
//! It is served behind the same authentication as every other route: Livy has no such page, so
//! nothing a Livy operator secured becomes reachable without credentials, and anyone who wants
//! the document without a server has the committed file.
//!
//! The answers every route may give whatever it does (401, 403, 406, 500, 503), and those of
//! every route that takes a body (400, 408, 413, 415) or names a session or batch (404), are
//! added to each operation by [`CommonAnswers`] rather than written on each handler.

use super::AppState;
use crate::error::Msg;
use axum::routing::get;
use axum::{Json, Router};
use std::sync::LazyLock;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{IntoParams, OpenApi};

/// Where the document is served.
pub const PATH: &str = "/openapi.json";

pub fn routes() -> Router<AppState> {
    Router::new().route(PATH, get(openapi_json))
}

/// The document as served (built once).
static DOCUMENT: LazyLock<serde_json::Value> = LazyLock::new(|| {
    serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serialises")
});

#[utoipa::path(get, path = "/openapi.json", tag = "server",
    responses((status = 200, description = "This document", content_type = "application/json",
        body = Object)))]
async fn openapi_json() -> Json<serde_json::Value> {
    Json(DOCUMENT.clone())
}

/// The document as committed in `docs/openapi.json` (pretty-printed, one final newline).
pub fn document_text() -> String {
    let mut text = serde_json::to_string_pretty(&*DOCUMENT).expect("the document serialises");
    text.push('\n');
    text
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "livy-rs REST API",
        description = "The REST API of livy-rs, a server that replaces Apache Livy: interactive \
            sessions and their statements, batches, and the Job API of Livy's programmatic clients, \
            with Livy 0.9's paths, bodies, status codes and `{\"msg\": ...}` errors.\n\n\
            Clients may send `Accept: application/vnd.livy.v0.1+json`; another version there is a \
            406. When authentication is on (`livy.server.auth.type` = `kerberos` or `ldap`) every \
            route, this document included, needs credentials; a successful login sets a signed \
            `hadoop.auth` cookie that later requests may carry instead. With \
            `livy.server.csrf-protection.enabled`, requests other than GET need an \
            `X-Requested-By` header. The web UI (`/ui`) is not part of this document.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    paths(
        super::sessions::list,
        super::sessions::create,
        super::sessions::view,
        super::sessions::delete,
        super::sessions::state,
        super::sessions::log,
        super::sessions::stop,
        super::sessions::interrupt,
        super::sessions::connect,
        super::statements::list,
        super::statements::create,
        super::statements::view,
        super::statements::cancel,
        super::statements::completion,
        super::jobs::submit_job,
        super::jobs::run_job,
        super::jobs::job_status,
        super::jobs::cancel_job,
        super::jobs::add_file,
        super::jobs::add_pyfile,
        super::jobs::add_jar,
        super::jobs::upload_file,
        super::jobs::upload_pyfile,
        super::jobs::upload_jar,
        super::batches::list,
        super::batches::create,
        super::batches::view,
        super::batches::delete,
        super::batches::state,
        super::batches::log,
        super::version::version,
        super::admin::drain,
        super::metrics::scrape,
        openapi_json,
    ),
    components(schemas(Msg, crate::statements::StatementOutput)),
    modifiers(&CommonAnswers),
    tags(
        (name = "sessions", description = "Interactive sessions"),
        (name = "statements", description = "Code run in an interactive session"),
        (name = "jobs", description = "Livy's Job API (the programmatic clients)"),
        (name = "batches", description = "Batch applications (spark-submit)"),
        (name = "server", description = "About the server"),
    )
)]
pub struct ApiDoc;

/// `from` and `size` of the session and batch lists.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // only the OpenAPI document uses the parameter types
pub struct Paging {
    /// The index of the first one to show (default 0).
    from: Option<i64>,
    /// How many to show (default 100).
    size: Option<i64>,
}

/// `from` and `size` of the logs.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct LogPaging {
    /// The index of the first line to show; a negative one counts from the end (default: the
    /// last `size` lines).
    from: Option<i64>,
    /// How many lines to show (default 100).
    size: Option<i64>,
}

/// `from`, `size` and `order` of the statements list.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct StatementPaging {
    /// The index of the first statement to show (default 0).
    from: Option<i64>,
    /// How many statements to show (default: all).
    size: Option<i64>,
    /// `desc` lists the newest first.
    order: Option<String>,
}

/// `wait` of `GET /sessions/{id}/statements/{sid}` (a livy-rs extension).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct Wait {
    /// Hold the answer up to this many seconds (at most 60) until the statement is available
    /// or cancelled; without it the answer comes at once, as in Livy.
    wait: Option<i64>,
}

/// Livy's impersonation parameter.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
#[allow(dead_code)]
pub struct DoAs {
    /// Act as this user (`livy.superusers` and the impersonation settings decide who may).
    do_as: Option<String>,
}

/// A session in a path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct SessionId {
    /// The session's id, or its name.
    #[param(example = "0")]
    id: String,
}

/// A batch in a path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct BatchId {
    /// The batch's id, or its name.
    #[param(example = "0")]
    id: String,
}

/// A statement in a path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct StatementId {
    /// The statement's id within its session.
    #[param(example = 0)]
    sid: u32,
}

/// A Job API job in a path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct JobId {
    /// The job's id within its session.
    #[param(example = 0)]
    job: u64,
}

/// Adds the security schemes and the answers shared by many routes (see the module's doc).
struct CommonAnswers;

/// The shared answers: name, status and when it is given.
const ANSWERS: &[(&str, &str, &str)] = &[
    ("BadRequest", "400", "A malformed request: a body that is not the JSON object the route takes, a parameter that is not an integer, or (with `livy.server.csrf-protection.enabled`) a request other than GET without `X-Requested-By`"),
    ("Unauthorized", "401", "Authentication is on and the request carries no valid credentials; the answer carries a `WWW-Authenticate` challenge"),
    ("Forbidden", "403", "The caller is not allowed: not among `livy.server.access-control.allowed-users`, a `doAs` user it may not impersonate, or a request another site's page sent"),
    ("NotFound", "404", "No such session, batch, statement or job"),
    ("NotAcceptable", "406", "`Accept: application/vnd.livy.v<version>+json` names a version other than 0.1"),
    ("RequestTimeout", "408", "The request body did not arrive in time"),
    ("PayloadTooLarge", "413", "The body is larger than the route takes (`livy.rsc.rpc.max.size`)"),
    ("UnsupportedMediaType", "415", "A form or text body (the bodies another site's page can send): send JSON with `Content-Type: application/json`, or no Content-Type"),
    ("InternalServerError", "500", "A fault of the server; the detail is in its log"),
    ("ServiceUnavailable", "503", "The server is at one of its bounds (bodies being read, Kerberos handshakes) or cannot reach the LDAP server; try again"),
];

impl utoipa::Modify for CommonAnswers {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "negotiate",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Negotiate)
                    .description(Some(
                        "SPNEGO (Kerberos), with `livy.server.auth.type = kerberos`",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "A user and password checked against LDAP, with `livy.server.auth.type = ldap`",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "hadoopAuthCookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "hadoop.auth",
                "The signed cookie set after a successful login",
            ))),
        );
        for (name, _, description) in ANSWERS {
            components.responses.insert(
                (*name).to_string(),
                RefOr::T(
                    ResponseBuilder::new()
                        .description(format!("{description}."))
                        .content(
                            "application/json",
                            ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name("Msg")))
                                .build(),
                        )
                        .build(),
                ),
            );
        }
        // Authentication is off by default (the empty requirement), else one of the schemes.
        let requirements = [
            None,
            Some("negotiate"),
            Some("basic"),
            Some("hadoopAuthCookie"),
        ];
        doc.security = Some(
            requirements
                .iter()
                .map(|scheme| match scheme {
                    None => utoipa::openapi::security::SecurityRequirement::default(),
                    Some(s) => utoipa::openapi::security::SecurityRequirement::new::<
                        &str,
                        [&str; 0],
                        &str,
                    >(*s, []),
                })
                .collect(),
        );
        for item in doc.paths.paths.values_mut() {
            let methods = [
                (&mut item.get, false),
                (&mut item.post, true),
                (&mut item.delete, true),
                (&mut item.put, true),
            ];
            for (operation, changes) in methods {
                if let Some(operation) = operation.as_mut() {
                    add_common(operation, changes);
                }
            }
        }
    }
}

/// Adds the shared answers that apply to `operation` (`changes`: not a GET), and makes its
/// operation id unique: utoipa names it after the handler, and each resource module has its
/// own `list`, `view`, ...; the tag says which.
fn add_common(operation: &mut Operation, changes: bool) {
    if let (Some(id), Some(tag)) = (&operation.operation_id, operation.tags.as_deref()) {
        if let Some(tag) = tag.first() {
            operation.operation_id = Some(format!("{tag}_{id}"));
        }
    }
    let params = operation.parameters.as_deref().unwrap_or_default();
    let has_path = params
        .iter()
        .any(|p| matches!(p.parameter_in, ParameterIn::Path));
    let has_int_query = params.iter().any(|p| {
        matches!(p.parameter_in, ParameterIn::Query) && ["from", "size", "wait"].contains(&&*p.name)
    });
    let has_body = operation.request_body.is_some();
    let mut wanted = vec!["401", "403", "406", "500", "503"];
    if has_path {
        wanted.push("404");
    }
    if has_int_query || changes {
        wanted.push("400");
    }
    if changes {
        wanted.push("415");
    }
    if has_body {
        wanted.extend(["408", "413"]);
    }
    for (name, status, _) in ANSWERS {
        if wanted.contains(status) && !operation.responses.responses.contains_key(*status) {
            operation.responses.responses.insert(
                (*status).to_string(),
                RefOr::Ref(Ref::from_response_name(*name)),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/openapi.json` is the served document; regenerate it with
    /// `cargo run --release --bin livy-server -- openapi > docs/openapi.json`.
    #[test]
    fn the_committed_document_is_the_generated_one() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == document_text(),
            "docs/openapi.json differs from the document the server generates; run \
             `cargo run --release --bin livy-server -- openapi > docs/openapi.json` and commit it"
        );
    }
}
