//! `livy.ui.basePath`: the path a reverse proxy serves livy-rs under. It is written into the UI's
//! pages (every link and request of the UI starts with it) and into the `Location` of the
//! redirect from `/`, so it is checked here, once, to be a plain URL path.

use super::keys;

/// The checked base path: empty, or `/segment[/segment...]` without a trailing slash (Livy
/// appends `/ui` to it, so `/gateway/livy/` would make `//ui`).
pub fn base_path(raw: Option<&str>, problems: &mut Vec<String>) -> String {
    let Some(raw) = raw.map(str::trim).filter(|v| !v.is_empty()) else {
        return String::new();
    };
    // RFC 3986's unreserved characters and '%' escapes: nothing that could end an HTML
    // attribute, a header or the path itself ('?', '#'), and no "//" that a browser would read
    // as another host.
    let plain = |c: char| c.is_ascii_alphanumeric() || "/-._~%".contains(c);
    if !raw.starts_with('/') || raw.contains("//") || !raw.chars().all(plain) {
        problems.push(format!(
            "{}: '{}' is not a URL path; expected e.g. /gateway/livy (letters, digits and - . _ ~ % / only)",
            keys::UI_BASE_PATH,
            raw.escape_debug()
        ));
        return String::new();
    }
    raw.trim_end_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use super::base_path;

    fn check(raw: &str) -> Result<String, Vec<String>> {
        let mut problems = Vec::new();
        let path = base_path(Some(raw), &mut problems);
        if problems.is_empty() {
            Ok(path)
        } else {
            Err(problems)
        }
    }

    #[test]
    fn plain_paths_are_kept_without_the_trailing_slash() {
        assert_eq!(check("/gateway/livy/").unwrap(), "/gateway/livy");
        assert_eq!(check("/livy").unwrap(), "/livy");
        assert_eq!(check("/").unwrap(), "");
        assert_eq!(check("  ").unwrap(), "");
        assert_eq!(base_path(None, &mut Vec::new()), "");
    }

    #[test]
    fn anything_that_could_leave_the_path_is_refused() {
        for bad in [
            "livy",
            "//evil.example/x",
            "/a\"><script>",
            "/a b",
            "/a?x=1",
            "/a#x",
            "/a\r\nX-Injected: 1",
            "/it's",
            "https://proxy/livy",
        ] {
            let problems = check(bad).unwrap_err();
            assert!(
                problems[0].starts_with("livy.ui.basePath"),
                "{bad}: {problems:?}"
            );
        }
    }
}
