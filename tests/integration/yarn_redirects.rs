//! Where the RM and WebHDFS clients send the server's credentials: a ResourceManager that
//! redirects to a host that is not a configured RM is not followed (nothing reaches that host),
//! a DataNode step of WebHDFS carries no SPNEGO, and an endless answer is cut off.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures::future::BoxFuture;
use livy_rs::yarn::{
    AppsQuery, Caller, CreateOptions, Endpoint, RequestAuth, RmClient, WebHdfs, YarnError,
};
use reqwest::{RequestBuilder, Url};
use std::sync::{Arc, Mutex};

/// What a server saw: method, path and whether it got our credentials.
#[derive(Default)]
struct Seen(Mutex<Vec<(String, String, bool)>>);

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// A host that records everything and answers 200 `{}`.
async fn recorder() -> (String, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .fallback(
            |State(seen): State<Arc<Seen>>, req: Request<Body>| async move {
                let auth = req.headers().contains_key("authorization");
                seen.0.lock().unwrap().push((
                    req.method().to_string(),
                    req.uri().path().to_string(),
                    auth,
                ));
                (StatusCode::CREATED, "{}")
            },
        )
        .with_state(seen.clone());
    (serve(app).await, seen)
}

/// A server that answers every request with `status` and `headers`.
async fn pointing(status: StatusCode, headers: Vec<(&'static str, String)>) -> String {
    let app = Router::new().fallback(move || {
        let headers = headers.clone();
        async move {
            let mut map = HeaderMap::new();
            for (k, v) in headers {
                map.insert(k, v.parse().unwrap());
            }
            (status, map, "{}").into_response()
        }
    });
    serve(app).await
}

struct Negotiate;
impl RequestAuth for Negotiate {
    fn authorize<'a>(
        &'a self,
        request: RequestBuilder,
        _target: &'a Url,
    ) -> BoxFuture<'a, Result<RequestBuilder, YarnError>> {
        Box::pin(async move { Ok(request.header("Authorization", "Negotiate c2VjcmV0")) })
    }
}

fn rm(url: &str) -> RmClient {
    RmClient::builder(vec![Endpoint {
        id: None,
        url: url.to_string(),
    }])
    .auth(Arc::new(Negotiate))
    .build()
    .unwrap()
}

#[tokio::test]
async fn a_redirect_to_a_host_that_is_not_a_configured_rm_is_not_followed() {
    let (foreign, seen) = recorder().await;
    for (status, header, value) in [
        (
            StatusCode::TEMPORARY_REDIRECT,
            "location",
            format!("{foreign}/ws/v1/cluster/apps"),
        ),
        (
            StatusCode::OK,
            "refresh",
            format!("3; url={foreign}/ws/v1/cluster/apps"),
        ),
    ] {
        let standby = pointing(status, vec![(header, value)]).await;
        let err = rm(&standby)
            .apps(&AppsQuery::default(), Caller::NONE)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("not a configured ResourceManager"),
            "{err}"
        );
    }
    assert!(
        seen.0.lock().unwrap().is_empty(),
        "the foreign host got {:?}",
        seen.0.lock().unwrap()
    );
}

#[tokio::test]
async fn the_datanode_step_of_webhdfs_carries_no_credentials() {
    let (datanode, seen) = recorder().await;
    let namenode = pointing(
        StatusCode::TEMPORARY_REDIRECT,
        vec![(
            "location",
            format!("{datanode}/webhdfs/v1/tmp/x?op=CREATE&delegation=TOKEN"),
        )],
    )
    .await;
    let hdfs = WebHdfs::builder(vec![Endpoint {
        id: None,
        url: namenode,
    }])
    .auth(Arc::new(Negotiate))
    .build()
    .unwrap();
    hdfs.create(
        "/tmp/x",
        b"data".to_vec(),
        &CreateOptions::default(),
        Caller::NONE,
    )
    .await
    .unwrap();
    let seen = seen.0.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![("PUT".to_string(), "/webhdfs/v1/tmp/x".to_string(), false)]
    );
}

#[tokio::test]
async fn an_endless_answer_is_cut_off() {
    let app = Router::new().fallback(|| async {
        let chunk = Bytes::from(vec![b' '; 1 << 20]);
        let stream =
            futures::stream::iter(std::iter::repeat(chunk).map(Ok::<_, std::convert::Infallible>));
        Response::new(Body::from_stream(stream))
    });
    let url = serve(app).await;
    let err = rm(&url)
        .apps(&AppsQuery::default(), Caller::NONE)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("larger than"), "{err}");
}
