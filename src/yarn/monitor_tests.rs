//! Tests of `monitor.rs` (a file of their own to keep that one readable).

use super::*;

const SERVER: &str = "livy-server-edge-8998";

fn base() -> reqwest::Url {
    reqwest::Url::parse("http://rm1.example.com:8088").unwrap()
}

fn tag(i: usize) -> String {
    format!("livy-batch-{i}-abcdefgh")
}

fn wanted(n: usize, sighting: impl Fn(usize) -> Sighting) -> Vec<(String, Sighting)> {
    let mut w: Vec<(String, Sighting)> = (0..n).map(|i| (tag(i), sighting(i))).collect();
    w.sort_by(|a, b| a.0.cmp(&b.0));
    w
}

fn plan(w: &[(String, Sighting)], server: Option<&str>, cursor: usize) -> TickQuery {
    plan_tick(w, server, cursor, &base(), MAX_APPS_URL_BYTES)
}

fn seen(started: i64, server_tagged: bool) -> Sighting {
    Sighting::Seen {
        started,
        server_tagged,
    }
}

#[test]
fn few_apps_are_asked_for_by_their_own_tags() {
    for n in [1, 100] {
        let w = wanted(n, |_| Sighting::Unseen { not_before: None });
        match plan(&w, Some(SERVER), 0) {
            TickQuery::ByTags(q) => {
                assert_eq!(q.application_tags.len(), n);
                assert_eq!(q.started_time_begin, None);
            }
            other => panic!("{n} apps: {other:?}"),
        }
    }
}

#[test]
fn many_apps_are_one_server_tag_request_bounded_by_the_earliest_start() {
    // 1000 seen apps, all carrying the server tag: just the server tag, bounded.
    let w = wanted(1000, |i| seen(1_000_000 + i as i64, true));
    let TickQuery::ServerTag { query, rotated } = plan(&w, Some(SERVER), 0) else {
        panic!("expected the server tag");
    };
    assert_eq!(query.application_tags, vec![SERVER.to_string()]);
    assert_eq!(query.started_time_begin, Some(1_000_000));
    assert_eq!(rotated, 0);

    // Unseen apps bound the start by their floor minus the margin.
    let w = wanted(1000, |i| {
        if i == 7 {
            Sighting::Unseen {
                not_before: Some(5_000_000_000),
            }
        } else {
            seen(6_000_000_000, true)
        }
    });
    let TickQuery::ServerTag { query, .. } = plan(&w, Some(SERVER), 0) else {
        panic!("expected the server tag");
    };
    assert_eq!(
        query.started_time_begin,
        Some(5_000_000_000 - START_BOUND_MARGIN_MS)
    );
    // An unseen app with no known floor: no bound at all (it could have started any time).
    let w = wanted(1000, |i| {
        if i == 7 {
            Sighting::Unseen { not_before: None }
        } else {
            seen(6_000_000_000, true)
        }
    });
    let TickQuery::ServerTag { query, .. } = plan(&w, Some(SERVER), 0) else {
        panic!("expected the server tag");
    };
    assert_eq!(query.started_time_begin, None);
    assert!(query.application_tags.contains(&tag(7)));
}

#[test]
fn apps_without_the_server_tag_are_named_and_unseen_ones_in_turns() {
    // 3 seen without the server tag, 997 unseen.
    let w = wanted(1000, |i| {
        if i < 3 {
            seen(1, false)
        } else {
            Sighting::Unseen { not_before: None }
        }
    });
    let mut named_unseen = std::collections::HashSet::new();
    let mut cursor = 0;
    let mut ticks = 0;
    while named_unseen.len() < 997 {
        let TickQuery::ServerTag { query, rotated } = plan(&w, Some(SERVER), cursor) else {
            panic!("expected the server tag");
        };
        assert!(apps_url_len(&query, &base()) <= MAX_APPS_URL_BYTES);
        assert_eq!(query.application_tags[0], SERVER);
        for i in 0..3 {
            assert!(query.application_tags.contains(&tag(i)), "every tick");
        }
        assert_eq!(query.application_tags.len(), 4 + rotated);
        assert!(rotated > 100, "the URL is filled: {rotated}");
        named_unseen.extend(query.application_tags[4..].iter().cloned());
        cursor += rotated;
        ticks += 1;
    }
    assert!(ticks <= 6, "every unseen app named within {ticks} ticks");
}

#[test]
fn too_many_apps_without_the_server_tag_are_named_in_turns_too() {
    let w = wanted(1000, |_| seen(1, false));
    let mut named = std::collections::HashSet::new();
    let mut cursor = 0;
    for _ in 0..6 {
        let TickQuery::ServerTag { query, rotated } = plan(&w, Some(SERVER), cursor) else {
            panic!("expected the server tag");
        };
        assert!(apps_url_len(&query, &base()) <= MAX_APPS_URL_BYTES);
        named.extend(query.application_tags[1..].iter().cloned());
        cursor += rotated;
    }
    assert_eq!(named.len(), 1000, "every app named within 6 ticks");
}

#[test]
fn without_a_server_tag_many_apps_fall_back_to_chunks() {
    let w = wanted(1000, |_| Sighting::Unseen { not_before: None });
    let TickQuery::Chunked(chunks) = plan(&w, None, 0) else {
        panic!("expected chunks");
    };
    assert!(chunks.len() > 1);
    let all: usize = chunks.iter().map(|c| c.application_tags.len()).sum();
    assert_eq!(all, 1000);
}
