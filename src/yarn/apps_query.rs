//! The filters of the RM's `GET /apps` listing and how a long tag list is split so that no
//! URL outgrows what the RM (Jetty's 8 KiB header buffer) or a proxy in front of it accepts.
//! The monitor builds these; [`super::client::RmClient`] sends them.

use super::client::API;
#[cfg(doc)]
use super::client::MAX_APPS_URL_BYTES;
use super::types::AppState;
use reqwest::Url;

/// Filters of `GET /ws/v1/cluster/apps` (Cluster Applications API). Lists are sent
/// comma-separated, as the document specifies; empty lists and `None`s are left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppsQuery {
    pub states: Vec<AppState>,
    pub application_types: Vec<String>,
    /// Any-of match. YARN stores tags lower-cased, so they are sent lower-cased.
    pub application_tags: Vec<String>,
    pub user: Option<String>,
    pub queue: Option<String>,
    pub limit: Option<u32>,
    /// Milliseconds since the epoch.
    pub started_time_begin: Option<i64>,
}

impl AppsQuery {
    pub(super) fn append_to(&self, url: &mut Url) {
        let mut q = url.query_pairs_mut();
        if !self.states.is_empty() {
            let states: Vec<&str> = self.states.iter().map(|s| s.as_str()).collect();
            q.append_pair("states", &states.join(","));
        }
        if !self.application_types.is_empty() {
            q.append_pair("applicationTypes", &self.application_types.join(","));
        }
        if !self.application_tags.is_empty() {
            let tags: Vec<String> = self
                .application_tags
                .iter()
                .map(|t| t.trim().to_lowercase())
                .collect();
            q.append_pair("applicationTags", &tags.join(","));
        }
        if let Some(u) = &self.user {
            q.append_pair("user", u);
        }
        if let Some(queue) = &self.queue {
            q.append_pair("queue", queue);
        }
        if let Some(l) = self.limit {
            q.append_pair("limit", &l.to_string());
        }
        if let Some(t) = self.started_time_begin {
            q.append_pair("startedTimeBegin", &t.to_string());
        }
    }
}

/// Length of the `GET /apps` URL `query` makes on `base` (what [`MAX_APPS_URL_BYTES`] bounds).
pub fn apps_url_len(query: &AppsQuery, base: &Url) -> usize {
    let mut url = base.clone();
    url.set_path(&format!("{API}/apps"));
    query.append_to(&mut url);
    url.as_str().len()
}

/// What one more tag adds to an `applicationTags` value: its encoded form (lower-cased, as sent)
/// plus the encoded comma before it.
pub fn tag_url_cost(tag: &str) -> usize {
    let encoded: usize = form_urlencoded::byte_serialize(tag.trim().to_lowercase().as_bytes())
        .map(str::len)
        .sum();
    encoded + "%2C".len()
}

/// Splits `query`'s tags into queries whose URL on `base` stays within `max_url_bytes`.
/// One query (the same one) when it already fits; a tag too long to fit alone still gets its
/// own query (the RM may refuse it, but nothing is silently dropped).
pub fn split_by_url_length(query: &AppsQuery, base: &Url, max_url_bytes: usize) -> Vec<AppsQuery> {
    let url_len = |q: &AppsQuery| apps_url_len(q, base);
    if query.application_tags.len() <= 1 || url_len(query) <= max_url_bytes {
        return vec![query.clone()];
    }
    let without_tags = AppsQuery {
        application_tags: Vec::new(),
        ..query.clone()
    };
    // "&applicationTags=" plus each tag's encoded length plus "%2C" between tags.
    let fixed = url_len(&without_tags) + "&applicationTags=".len();
    let encoded = |t: &String| -> usize { tag_url_cost(t) - 3 };
    let mut chunks: Vec<AppsQuery> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut len = fixed;
    for tag in &query.application_tags {
        let cost = encoded(tag) + if current.is_empty() { 0 } else { 3 };
        if !current.is_empty() && len + cost > max_url_bytes {
            chunks.push(AppsQuery {
                application_tags: std::mem::take(&mut current),
                ..without_tags.clone()
            });
            len = fixed;
            current.push(tag.clone());
            len += encoded(tag);
        } else {
            current.push(tag.clone());
            len += cost;
        }
    }
    if !current.is_empty() {
        chunks.push(AppsQuery {
            application_tags: current,
            ..without_tags
        });
    }
    chunks
}
