//! The last lines a session's or batch's processes wrote, kept per stream in bounded rings
//! (`livy.cache-log.size` lines each), and rendered the way Livy's `/log` shows them.

use parking_lot::Mutex;
use std::collections::VecDeque;

/// Longest line kept; the rest of a longer line is cut with a marker so one runaway line cannot
/// hold megabytes.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

#[derive(Debug, Default)]
struct Ring {
    lines: VecDeque<String>,
}

impl Ring {
    fn push(&mut self, cap: usize, line: String) {
        if cap == 0 {
            return;
        }
        if self.lines.len() == cap {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }
}

/// Output streams of one session or batch.
#[derive(Debug)]
pub struct ProcessLogs {
    cap: usize,
    inner: Mutex<(Ring, Ring, Vec<String>)>,
    /// Output can echo conf values (spark-submit --verbose, a driver printing its conf): secret
    /// ones are redacted before a line is kept, so `/log` never shows them.
    redaction: crate::launch::redact::Redactor,
}

static STDOUT_HEADER: std::sync::LazyLock<[String; 1]> =
    std::sync::LazyLock::new(|| ["stdout: ".to_string()]);
static STDERR_HEADER: std::sync::LazyLock<[String; 1]> =
    std::sync::LazyLock::new(|| ["\nstderr: ".to_string()]);

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl ProcessLogs {
    pub fn new(cap: usize) -> Self {
        ProcessLogs {
            cap,
            inner: Mutex::new((Ring::default(), Ring::default(), Vec::new())),
            redaction: Default::default(),
        }
    }

    /// Redacts by `rule` (the server's `spark.redaction.regex`) instead of Spark's default.
    pub fn redacting(mut self, rule: crate::launch::redact::Redactor) -> Self {
        self.redaction = rule;
        self
    }

    pub fn push(&self, stream: Stream, line: String) {
        let line = match self.redaction.text(&line) {
            std::borrow::Cow::Borrowed(_) => line,
            std::borrow::Cow::Owned(redacted) => redacted,
        };
        let mut inner = self.inner.lock();
        match stream {
            Stream::Stdout => inner.0.push(self.cap, line),
            Stream::Stderr => inner.1.push(self.cap, line),
        }
    }

    /// Replaces the extra section shown after the streams (e.g. YARN diagnostics, launch errors).
    pub fn set_diagnostics(&self, lines: Vec<String>) {
        self.inner.lock().2 = lines;
    }

    /// The extra section (kept in recovery records).
    pub fn diagnostics(&self) -> Vec<String> {
        self.inner.lock().2.clone()
    }

    /// Adds lines to the extra section, keeping what is there.
    pub fn add_diagnostics(&self, lines: Vec<String>) {
        self.inner.lock().2.extend(lines);
    }

    /// Livy's rendering: `stdout: `, its lines, `\nstderr: `, its lines, then diagnostics.
    pub fn lines(&self) -> Vec<String> {
        let inner = self.inner.lock();
        Self::rendered(&inner).cloned().collect()
    }

    /// The last `n` rendered lines (the `log` field of a session or batch view). Walks from the
    /// end and copies only those `n`: this runs on every GET of a view, a hot path.
    pub fn tail(&self, n: usize) -> Vec<String> {
        let inner = self.inner.lock();
        let mut out: Vec<String> = Self::rendered(&inner).rev().take(n).cloned().collect();
        out.reverse();
        out
    }

    fn rendered<'a>(
        inner: &'a (Ring, Ring, Vec<String>),
    ) -> impl DoubleEndedIterator<Item = &'a String> + 'a {
        STDOUT_HEADER
            .iter()
            .chain(inner.0.lines.iter())
            .chain(STDERR_HEADER.iter())
            .chain(inner.1.lines.iter())
            .chain(inner.2.iter())
    }
}

/// Livy's `/log` paging: `size` defaults to 100 (negative = all), `from` defaults to the start
/// of the last `size` lines. Returns (from, total, lines).
pub fn page(
    lines: Vec<String>,
    from: Option<i64>,
    size: Option<i64>,
) -> (usize, usize, Vec<String>) {
    let total = lines.len();
    let size = match size {
        Some(s) if s < 0 => total,
        Some(s) => usize::try_from(s).unwrap_or(usize::MAX),
        None => 100,
    };
    let from = match from {
        Some(f) if f >= 0 => usize::try_from(f).unwrap_or(usize::MAX),
        _ => total.saturating_sub(size),
    };
    let page = lines.into_iter().skip(from).take(size).collect();
    (from, total, page)
}

/// Cuts a line at [`MAX_LINE_BYTES`] on a character boundary, saying so.
pub fn clip_line(mut line: String) -> String {
    if line.len() > MAX_LINE_BYTES {
        let total = line.len();
        let mut cut = MAX_LINE_BYTES;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
        line.push_str(&format!(" ...[line truncated by livy-rs: {total} bytes]"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rings_keep_the_last_lines_per_stream() {
        let logs = ProcessLogs::new(2);
        for i in 0..5 {
            logs.push(Stream::Stdout, format!("out{i}"));
        }
        logs.push(Stream::Stderr, "err".into());
        assert_eq!(
            logs.lines(),
            vec!["stdout: ", "out3", "out4", "\nstderr: ", "err"]
        );
        assert_eq!(logs.tail(2), vec!["\nstderr: ", "err"]);
        logs.set_diagnostics(vec!["\nYARN Diagnostics: ".into(), "boom".into()]);
        assert_eq!(logs.tail(1), vec!["boom"]);
    }

    #[test]
    fn paging_follows_livy() {
        let lines: Vec<String> = (0..250).map(|i| i.to_string()).collect();
        let (from, total, page) = super::page(lines.clone(), None, None);
        assert_eq!(
            (from, total, page.len(), page[0].as_str()),
            (150, 250, 100, "150")
        );
        let (from, _, page) = super::page(lines.clone(), Some(10), Some(5));
        assert_eq!(
            (from, page),
            (
                10,
                vec!["10", "11", "12", "13", "14"]
                    .into_iter()
                    .map(String::from)
                    .collect()
            )
        );
        let (_, _, page) = super::page(lines.clone(), None, Some(-1));
        assert_eq!(page.len(), 250);
        let (from, _, page) = super::page(lines, Some(1000), Some(10));
        assert_eq!((from, page.len()), (1000, 0));
    }

    #[test]
    fn long_lines_are_clipped_visibly() {
        let line = clip_line("é".repeat(MAX_LINE_BYTES));
        assert!(line.len() < MAX_LINE_BYTES + 100);
        assert!(line.ends_with(&format!(
            "[line truncated by livy-rs: {} bytes]",
            2 * MAX_LINE_BYTES
        )));
        assert_eq!(clip_line("short".into()), "short");
    }
}
