//! Statements of an interactive session: Livy's ids (0, 1, 2, ... per session), states
//! (waiting → running → available, or cancelling → cancelled), outputs as the driver produced them,
//! progress and timestamps. The session owns its [`Statements`]; the driver link moves them along.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Livy's `StatementState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatementState {
    Waiting,
    Running,
    Available,
    Cancelling,
    Cancelled,
}

impl StatementState {
    pub fn is_done(self) -> bool {
        matches!(self, StatementState::Available | StatementState::Cancelled)
    }
}

/// One statement, serialised exactly as Livy's REST API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Statement {
    pub id: u32,
    pub code: String,
    pub state: StatementState,
    /// Null until the statement is available (and after a cancel).
    #[schema(value_type = Option<StatementOutput>)]
    pub output: Option<Value>,
    pub progress: f64,
    pub started: i64,
    pub completed: i64,
    /// The kind the statement runs as (kept for recovery; not part of Livy's view).
    #[serde(skip_serializing, default)]
    #[schema(ignore)]
    pub kind: String,
    /// What its recovery record carried across a rolling upgrade (kept for the record; not
    /// part of Livy's view).
    #[serde(skip)]
    #[schema(ignore)]
    pub upgrade: crate::recovery::Upgrade,
}

/// A statement's output as the driver (or the server, for a statement that could not finish)
/// writes it, and as Livy's REST API shows it. Only the OpenAPI document uses this type: the
/// output is kept as the driver's JSON, whose `data` holds whatever MIME types it produced.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum StatementOutput {
    /// The code ran: `data` maps MIME types (`text/plain`, `application/json`, `image/png`, ...)
    /// to their content.
    Ok {
        execution_count: i64,
        data: BTreeMap<String, Value>,
    },
    /// The code failed (or could not run): the exception's name, message and traceback lines.
    Error {
        execution_count: i64,
        ename: String,
        evalue: String,
        traceback: Vec<String>,
    },
}

/// The statements of one session, oldest first, bounded by `livy.rsc.retained-statements`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Statements {
    items: BTreeMap<u32, Statement>,
    next_id: u32,
    #[serde(default)]
    retain: usize,
    /// Statements changed since the recovery writer last took them (each is its own record,
    /// so a statement's change costs one small write, however long the session's history).
    #[serde(skip)]
    dirty: std::collections::BTreeSet<u32>,
    /// Statements evicted since then (their records are removed).
    #[serde(skip)]
    evicted: Vec<u32>,
}

impl Statements {
    pub fn new(retain: usize) -> Self {
        Statements {
            items: BTreeMap::new(),
            next_id: 0,
            retain,
            dirty: Default::default(),
            evicted: Vec::new(),
        }
    }

    /// Adds a waiting statement and returns it.
    pub fn add(&mut self, code: String, kind: String) -> Statement {
        let id = self.next_id;
        self.next_id += 1;
        let statement = Statement {
            id,
            code,
            state: StatementState::Waiting,
            output: None,
            progress: 0.0,
            started: 0,
            completed: 0,
            kind,
            upgrade: Default::default(),
        };
        self.items.insert(id, statement.clone());
        self.dirty.insert(id);
        self.trim();
        crate::metrics::get().statement_started();
        statement
    }

    /// Drops the oldest finished statements beyond the retention limit (never unfinished ones).
    fn trim(&mut self) {
        if self.retain == 0 {
            return;
        }
        while self.items.len() > self.retain {
            let Some(oldest_done) = self
                .items
                .values()
                .find(|s| s.state.is_done())
                .map(|s| s.id)
            else {
                break;
            };
            self.items.remove(&oldest_done);
            self.dirty.remove(&oldest_done);
            self.evicted.push(oldest_done);
        }
    }

    pub fn get(&self, id: u32) -> Option<&Statement> {
        self.items.get(&id)
    }

    pub fn get_mut(&mut self, id: u32) -> Option<&mut Statement> {
        self.dirty.insert(id);
        self.items.get_mut(&id)
    }

    pub fn all(&self) -> impl DoubleEndedIterator<Item = &Statement> + ExactSizeIterator {
        self.items.values()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The oldest statement still waiting to run.
    pub fn next_waiting(&self) -> Option<&Statement> {
        self.items
            .values()
            .find(|s| s.state == StatementState::Waiting)
    }

    /// Whether a statement is running or being cancelled.
    pub fn running(&self) -> Option<&Statement> {
        self.items.values().find(|s| {
            matches!(
                s.state,
                StatementState::Running | StatementState::Cancelling
            )
        })
    }

    pub fn started(&mut self, id: u32, at: i64) {
        if self.items.contains_key(&id) {
            self.dirty.insert(id);
        }
        if let Some(s) = self.items.get_mut(&id) {
            if s.state == StatementState::Waiting {
                s.state = StatementState::Running;
            }
            s.started = at;
        }
    }

    pub fn progress(&mut self, id: u32, progress: f64) {
        if self.items.contains_key(&id) {
            self.dirty.insert(id);
        }
        if let Some(s) = self.items.get_mut(&id) {
            if !s.state.is_done() && progress.is_finite() {
                s.progress = progress.clamp(0.0, 1.0);
            }
        }
    }

    /// Records a result: `available`, or `cancelled` when a cancel was asked for (the output is
    /// kept either way, as Livy does).
    pub fn finished(&mut self, id: u32, completed: i64, output: Value) {
        if self.items.contains_key(&id) {
            self.dirty.insert(id);
        }
        if let Some(s) = self.items.get_mut(&id) {
            let was_done = s.state.is_done();
            s.state = if matches!(
                s.state,
                StatementState::Cancelling | StatementState::Cancelled
            ) {
                StatementState::Cancelled
            } else {
                StatementState::Available
            };
            let outcome = if s.state == StatementState::Cancelled {
                "cancelled"
            } else if output.get("status").and_then(Value::as_str) == Some("error") {
                "error"
            } else {
                "ok"
            };
            s.output = Some(output);
            s.progress = 1.0;
            if s.completed == 0 {
                s.completed = completed;
            }
            if s.started == 0 {
                s.started = completed;
            }
            if !was_done {
                counted_end(s, outcome);
            }
        }
        self.trim();
    }

    /// Cancel as Livy: a waiting statement is cancelled at once; a running one goes to
    /// `cancelling` (returns true: the driver must be told); a finished one is left alone.
    pub fn cancel(&mut self, id: u32, now: i64) -> bool {
        if self.items.contains_key(&id) {
            self.dirty.insert(id);
        }
        let Some(s) = self.items.get_mut(&id) else {
            return false;
        };
        match s.state {
            StatementState::Waiting => {
                s.state = StatementState::Cancelled;
                s.completed = now;
                s.progress = 1.0;
                counted_end(s, "cancelled");
                false
            }
            StatementState::Running => {
                s.state = StatementState::Cancelling;
                true
            }
            _ => false,
        }
    }

    /// Livy's `job-cancel.timeout`: a statement still `cancelling` becomes `cancelled` (its
    /// output comes later, if ever). Returns whether it did.
    pub fn cancel_timed_out(&mut self, id: u32, now: i64) -> bool {
        if self.items.contains_key(&id) {
            self.dirty.insert(id);
        }
        match self.items.get_mut(&id) {
            Some(s) if s.state == StatementState::Cancelling => {
                s.state = StatementState::Cancelled;
                s.completed = now;
                s.progress = 1.0;
                counted_end(s, "cancelled");
                true
            }
            _ => false,
        }
    }

    /// When the driver is gone: statements that can no longer run end as cancelled, with an
    /// error output saying why, so clients polling them stop waiting.
    pub fn abandon(&mut self, reason: &str, now: i64) {
        for s in self.items.values_mut() {
            if !s.state.is_done() {
                self.dirty.insert(s.id);
                s.state = StatementState::Cancelled;
                s.completed = now;
                s.output = Some(serde_json::json!({
                    "status": "error",
                    "execution_count": s.id,
                    "ename": "SessionDead",
                    "evalue": reason,
                    "traceback": [],
                }));
                counted_end(s, "lost");
            }
        }
    }
}

/// Counts a statement that just ended (each one once: callers check it was not done before),
/// with its run time when it ran.
fn counted_end(s: &Statement, outcome: &'static str) {
    let ran = (s.started > 0 && s.completed >= s.started)
        .then(|| std::time::Duration::from_millis((s.completed - s.started) as u64));
    crate::metrics::get().statement_finished(outcome, ran);
}

/// Room the server leaves above `livy.server.statement.output-max-size` before it refuses an
/// output: the driver cuts each text part (the text, and an error's message and its traceback)
/// at the cap and adds a marker line, and JSON escaping adds a little. What is larger is not
/// text the driver cut (a huge `%json` value, an image) or comes from a driver that does not cut.
fn output_limit(cap: usize) -> usize {
    cap.saturating_mul(2).saturating_add(64 * 1024)
}

/// The output of statement `id` as it is kept: one larger than the cap allows (see
/// [`output_limit`]; 0 = no cap) becomes an `error` output saying so, so the statement ends
/// clearly and the session stays usable, and memory per retained statement stays bounded.
pub fn capped_output(id: u32, output: Value, cap: usize) -> Value {
    if cap == 0 {
        return output;
    }
    let mut size = ByteCount(0);
    if serde_json::to_writer(&mut size, &output).is_ok() && size.0 <= output_limit(cap) {
        return output;
    }
    serde_json::json!({
        "status": "error",
        "execution_count": id,
        "ename": "OutputTooLarge",
        "evalue": format!(
            "The statement's output is {} bytes of JSON, more than livy-rs keeps (livy.server.statement.output-max-size is {cap} bytes); it was dropped.",
            size.0
        ),
        "traceback": [],
    })
}

/// Counts what would be written, to size a value without building its text.
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Statements {
    /// After a server restart, aligns the stored statements with a driver that dialed back
    /// (its results were re-sent just before). The store may lag the driver by the last few
    /// changes, so a statement the driver received can still be stored as `waiting`:
    /// - the one the driver runs now is `running` (never sent again: code runs once);
    /// - ones it never received wait to be sent (again);
    /// - ones it received but has no result for any more get an error output saying so.
    ///
    /// Returns the ids of those lost.
    pub fn reconcile(
        &mut self,
        running: Option<u32>,
        last_received: Option<u32>,
        now: i64,
    ) -> Vec<u32> {
        let mut lost = Vec::new();
        for s in self.items.values_mut() {
            let unfinished = matches!(
                s.state,
                StatementState::Waiting | StatementState::Running | StatementState::Cancelling
            );
            if !unfinished {
                continue;
            }
            if Some(s.id) == running {
                if s.state == StatementState::Waiting {
                    s.state = StatementState::Running;
                    s.started = now;
                    self.dirty.insert(s.id);
                }
                continue;
            }
            if last_received.is_none_or(|last| s.id > last) {
                if s.state == StatementState::Cancelling {
                    // Its cancel was asked for before the driver got it: it never runs.
                    s.state = StatementState::Cancelled;
                    s.completed = now;
                    self.dirty.insert(s.id);
                } else if s.state != StatementState::Waiting {
                    s.state = StatementState::Waiting;
                    s.started = 0;
                    self.dirty.insert(s.id);
                }
                continue;
            }
            self.dirty.insert(s.id);
            s.state = StatementState::Available;
            s.completed = now;
            s.progress = 1.0;
            s.output = Some(serde_json::json!({
                "status": "error",
                "execution_count": s.id,
                "ename": "StatementLost",
                "evalue": "the statement's result was lost while the livy-rs server restarted",
                "traceback": [],
            }));
            counted_end(s, "lost");
            lost.push(s.id);
        }
        lost
    }

    /// The id the next statement gets (kept in the session's record).
    pub fn next_id(&self) -> u32 {
        self.next_id
    }

    /// The statements changed or evicted since the last call: each one's record is to be
    /// written (or removed) through its own key.
    pub fn take_changed_ids(&mut self) -> Vec<u32> {
        let mut ids: Vec<u32> = std::mem::take(&mut self.dirty).into_iter().collect();
        ids.append(&mut self.evicted);
        ids
    }

    /// One statement's record as it is now, for the recovery writer.
    pub fn record(&self, id: u32) -> Option<StatementRecord> {
        self.items.get(&id).map(|s| StatementRecord {
            kind: s.kind.clone(),
            statement: s.clone(),
            upgrade: s.upgrade.rewritten(),
        })
    }

    /// Statements back from their records.
    pub fn from_records(records: Vec<StatementRecord>, next_id: u32, retain: usize) -> Self {
        let items: BTreeMap<u32, Statement> = records
            .into_iter()
            .map(|r| {
                let mut s = r.statement;
                s.kind = r.kind;
                s.upgrade = r.upgrade;
                (s.id, s)
            })
            .collect();
        let next_id = items
            .keys()
            .next_back()
            .map_or(next_id, |last| next_id.max(last + 1));
        Statements {
            items,
            next_id,
            retain,
            dirty: Default::default(),
            evicted: Vec::new(),
        }
    }
}

/// One statement's recovery record (`v1/statement/<session>/<id>`): its REST view, its kind
/// (the view has none), and, as session and batch records, the format version and the fields
/// of a newer livy-rs (kept when this one rewrites it; see [`crate::recovery::RECORD_VERSION`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatementRecord {
    #[serde(flatten)]
    pub statement: Statement,
    pub kind: String,
    /// After `statement`: what the view's fields leave of the record is the newer fields.
    #[serde(flatten)]
    pub upgrade: crate::recovery::Upgrade,
}

/// Milliseconds since the epoch, as Livy's `started`/`completed`.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lifecycle_and_view() {
        let mut s = Statements::new(100);
        let a = s.add("1 + 1".into(), "pyspark".into());
        assert_eq!((a.id, a.state), (0, StatementState::Waiting));
        assert_eq!(s.next_waiting().unwrap().id, 0);
        s.started(0, 10);
        assert_eq!(s.running().unwrap().id, 0);
        s.progress(0, 0.5);
        s.finished(
            0,
            20,
            json!({"status": "ok", "execution_count": 0, "data": {"text/plain": "2"}}),
        );
        let v = serde_json::to_value(s.get(0).unwrap()).unwrap();
        assert_eq!(
            v,
            json!({"id": 0, "code": "1 + 1", "state": "available", "progress": 1.0, "started": 10,
                   "completed": 20, "output": {"status": "ok", "execution_count": 0, "data": {"text/plain": "2"}}})
        );
    }

    #[test]
    fn cancel_follows_livy() {
        let mut s = Statements::new(100);
        s.add("a".into(), "pyspark".into());
        s.add("b".into(), "pyspark".into());
        s.started(0, 1);
        assert!(s.cancel(0, 5));
        assert!(!s.cancel(1, 5));
        assert_eq!(s.get(1).unwrap().state, StatementState::Cancelled);
        s.finished(0, 9, json!({"status": "error"}));
        assert_eq!(s.get(0).unwrap().state, StatementState::Cancelled);
        assert!(!s.cancel(0, 10));
        assert!(s.next_waiting().is_none());
    }

    #[test]
    fn outputs_past_the_cap_become_an_error_output() {
        let cap = 1024;
        let text = json!({"status": "ok", "execution_count": 4,
                          "data": {"text/plain": "x".repeat(cap + 80)}});
        assert_eq!(
            capped_output(4, text.clone(), cap),
            text,
            "driver-cut text is kept"
        );
        assert_eq!(capped_output(4, text.clone(), 0), text, "0 means no cap");
        let huge = json!({"status": "ok", "execution_count": 4,
                          "data": {"application/json": vec![1; 100_000]}});
        let out = capped_output(4, huge, cap);
        assert_eq!(out["status"], "error");
        assert_eq!(out["ename"], "OutputTooLarge");
        assert_eq!(out["execution_count"], 4);
        assert!(out["evalue"]
            .as_str()
            .unwrap()
            .contains("output-max-size is 1024 bytes"));
    }

    #[test]
    fn retention_keeps_unfinished_statements() {
        let mut s = Statements::new(2);
        for i in 0..3 {
            s.add(format!("{i}"), "sql".into());
        }
        assert_eq!(s.len(), 3, "unfinished statements are never dropped");
        s.started(0, 1);
        s.finished(0, 2, json!({}));
        assert_eq!(s.len(), 2);
        assert!(s.get(0).is_none());
        s.abandon("gone", 3);
        assert!(s.all().all(|st| st.state == StatementState::Cancelled));
    }

    /// The store lags the driver by its last changes: whatever it says, code the driver
    /// received runs once, and what it never received is (re)sent.
    #[test]
    fn reconcile_trusts_the_driver_over_a_lagging_store() {
        let mut s = Statements::new(100);
        for code in [
            "ran",
            "runs now",
            "sent, stored waiting",
            "never sent",
            "cancel asked",
        ] {
            s.add(code.into(), "pyspark".into());
        }
        s.started(0, 1); // stored running, its result lost beyond the driver's buffer
        s.started(4, 2);
        s.cancel(4, 3); // cancelling, but the driver never got it (last_received = 2)
                        // 1 is still stored `waiting` though the driver runs it; 2 and 3 are `waiting` too.
        let lost = s.reconcile(Some(1), Some(2), 50);
        let state = |id| s.get(id).unwrap().state;
        assert_eq!(lost, vec![0, 2]);
        assert_eq!(state(0), StatementState::Available);
        assert_eq!(
            s.get(0).unwrap().output.as_ref().unwrap()["ename"],
            "StatementLost"
        );
        assert_eq!(
            state(1),
            StatementState::Running,
            "runs in the driver, never sent again"
        );
        assert_eq!(
            state(2),
            StatementState::Available,
            "received, no result: lost, not re-run"
        );
        assert_eq!(state(3), StatementState::Waiting);
        assert_eq!(state(4), StatementState::Cancelled);
        assert_eq!(s.next_waiting().unwrap().id, 3);
    }

    /// Rolling upgrades: a statement record carries the format version, and a field a newer
    /// livy-rs wrote survives this one's rewrite (a state change after an adoption); the REST
    /// view shows neither.
    #[test]
    fn a_statement_record_keeps_a_newer_field_and_carries_the_version() {
        let old = json!({"id": 3, "code": "1 + 1", "state": "running", "output": null,
                         "progress": 0.0, "started": 10, "completed": 0, "kind": "pyspark",
                         "placement": {"zone": "b"}});
        let records = crate::recovery::decode_records(
            "statement",
            vec![(3, serde_json::to_vec(&old).unwrap())],
            |r: &StatementRecord| r.statement.id,
        );
        assert_eq!(records[0].upgrade.version, 0, "absent before versions");
        let mut s = Statements::from_records(records, 4, 100);
        s.finished(
            3,
            20,
            json!({"status": "ok", "execution_count": 3, "data": {}}),
        );
        let rewritten = serde_json::to_value(s.record(3).unwrap()).unwrap();
        assert_eq!(rewritten["placement"], json!({"zone": "b"}));
        assert_eq!(
            rewritten["recordVersion"],
            json!(crate::recovery::RECORD_VERSION)
        );
        assert_eq!(
            (rewritten["state"].as_str(), rewritten["kind"].as_str()),
            (Some("available"), Some("pyspark"))
        );
        let view = serde_json::to_value(s.get(3).unwrap()).unwrap();
        assert!(view.get("placement").is_none() && view.get("recordVersion").is_none());
        let added = s.add("2".into(), "sql".into()).id;
        let fresh = serde_json::to_value(s.record(added).unwrap());
        assert_eq!(
            fresh.unwrap()["recordVersion"],
            json!(crate::recovery::RECORD_VERSION)
        );
    }
}
