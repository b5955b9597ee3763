//! Tests of `client.rs` (a file of their own to keep that one readable).

use super::*;

fn base() -> Url {
    Url::parse("http://rm1.example.com:8088").unwrap()
}

#[test]
fn query_lists_are_comma_separated_and_tags_lower_cased() {
    let q = AppsQuery {
        states: vec![AppState::Accepted, AppState::Running],
        application_types: vec!["SPARK".into()],
        application_tags: vec!["Livy-Batch-1".into(), "livy-session-2".into()],
        limit: Some(10),
        ..Default::default()
    };
    let mut url = base();
    q.append_to(&mut url);
    assert_eq!(
        url.query(),
        Some("states=ACCEPTED%2CRUNNING&applicationTypes=SPARK&applicationTags=livy-batch-1%2Clivy-session-2&limit=10")
    );
}

#[test]
fn tags_are_split_only_when_the_url_would_be_too_long() {
    let tags: Vec<String> = (0..20).map(|i| format!("livy-batch-{i}-abcdef")).collect();
    let q = AppsQuery {
        application_tags: tags.clone(),
        ..Default::default()
    };
    assert_eq!(
        split_by_url_length(&q, &base(), MAX_APPS_URL_BYTES),
        vec![q.clone()]
    );

    let many: Vec<String> = (0..1000)
        .map(|i| format!("livy-batch-{i}-abcdef"))
        .collect();
    let q = AppsQuery {
        application_tags: many.clone(),
        states: vec![AppState::Running],
        ..Default::default()
    };
    let chunks = split_by_url_length(&q, &base(), MAX_APPS_URL_BYTES);
    assert!(chunks.len() > 1);
    let rejoined: Vec<String> = chunks
        .iter()
        .flat_map(|c| c.application_tags.clone())
        .collect();
    assert_eq!(rejoined, many, "every tag exactly once, in order");
    for c in &chunks {
        assert_eq!(c.states, vec![AppState::Running]);
        let mut url = base();
        url.set_path("/ws/v1/cluster/apps");
        c.append_to(&mut url);
        assert!(
            url.as_str().len() <= MAX_APPS_URL_BYTES,
            "{}",
            url.as_str().len()
        );
    }
    // Chunks are filled: merging two neighbours would exceed the limit.
    let mut url = base();
    url.set_path("/ws/v1/cluster/apps");
    let merged = AppsQuery {
        application_tags: [
            chunks[0].application_tags.clone(),
            chunks[1].application_tags[..1].to_vec(),
        ]
        .concat(),
        ..chunks[0].clone()
    };
    merged.append_to(&mut url);
    assert!(url.as_str().len() > MAX_APPS_URL_BYTES);
}

#[test]
fn app_ids_are_checked_before_they_reach_a_path() {
    assert!(check_id("application_1326815542473_0001").is_ok());
    for bad in ["", "../scheduler", "app?x=1", "a/b"] {
        assert!(check_id(bad).is_err(), "{bad}");
    }
}

#[test]
fn rm_endpoints_are_labels_without_ids() {
    let id = "application_1700000000000_0042";
    let cases = [
        (Method::GET, format!("{API}/apps/{id}/state"), "app_state"),
        (Method::PUT, format!("{API}/apps/{id}/state"), "kill"),
        (Method::GET, format!("{API}/apps/{id}"), "app"),
        (Method::GET, format!("{API}/apps"), "apps"),
        (Method::POST, format!("{API}/apps"), "submit"),
        (
            Method::POST,
            format!("{API}/apps/new-application"),
            "new_application",
        ),
        (Method::GET, format!("{API}/scheduler"), "scheduler"),
        (
            Method::GET,
            format!("{API}/apps/{id}/appattempts"),
            "app_attempts",
        ),
        (Method::GET, "/elsewhere/x".to_string(), "other"),
    ];
    for (method, path, want) in cases {
        assert_eq!(rm_endpoint(&method, &path), want, "{method} {path}");
    }
}
