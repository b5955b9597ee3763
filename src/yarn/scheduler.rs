//! The capacity scheduler's queue tree (ResourceManagerRest.md, "Cluster Scheduler API") and the
//! headroom of a queue: how much more memory and how many more vcores a new application there
//! could get right now, so a submitter can refuse or queue work instead of letting YARN park it in
//! ACCEPTED forever.

use super::types::{one_or_many, Resources};
use serde::de::Deserializer;
use serde::Deserialize;

/// `GET /ws/v1/cluster/scheduler` → `scheduler.schedulerInfo`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SchedulerInfo {
    /// `capacityScheduler`, `fifoScheduler` or `fairScheduler`.
    #[serde(rename = "type")]
    pub scheduler_type: String,
    #[serde(deserialize_with = "lenient_f64")]
    pub capacity: f64,
    #[serde(deserialize_with = "lenient_f64")]
    pub used_capacity: f64,
    #[serde(deserialize_with = "lenient_f64")]
    pub max_capacity: f64,
    /// `root` for the capacity scheduler.
    pub queue_name: Option<String>,
    #[serde(deserialize_with = "queue_list")]
    pub queues: Vec<QueueInfo>,
}

/// A capacity-scheduler queue (parent or leaf). Percentages are as the RM reports them.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueueInfo {
    pub queue_name: String,
    /// `root.a.a1` on Hadoop 3; absent on older RMs.
    pub queue_path: Option<String>,
    /// `capacitySchedulerLeafQueueInfo` for leaves.
    #[serde(rename = "type")]
    pub queue_type: Option<String>,
    pub state: Option<String>,
    /// Percent of the parent.
    #[serde(deserialize_with = "lenient_f64")]
    pub capacity: f64,
    #[serde(deserialize_with = "lenient_f64")]
    pub max_capacity: f64,
    #[serde(deserialize_with = "lenient_f64")]
    pub used_capacity: f64,
    /// Percent of the whole cluster.
    #[serde(deserialize_with = "lenient_f64")]
    pub absolute_capacity: f64,
    #[serde(deserialize_with = "lenient_f64")]
    pub absolute_max_capacity: f64,
    #[serde(deserialize_with = "lenient_f64")]
    pub absolute_used_capacity: f64,
    pub num_applications: i64,
    pub num_active_applications: i64,
    pub num_pending_applications: i64,
    pub resources_used: Option<Resources>,
    #[serde(deserialize_with = "queue_list")]
    pub queues: Vec<QueueInfo>,
}

impl QueueInfo {
    pub fn is_leaf(&self) -> bool {
        self.queues.is_empty()
    }

    /// What the queue and everything below it uses: its `resourcesUsed`, or the sum of its
    /// children's when the RM leaves it out.
    pub fn used(&self) -> Resources {
        self.resources_used
            .unwrap_or_else(|| sum_used(&self.queues))
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct SchedulerEnvelope {
    pub scheduler: SchedulerWrapper,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SchedulerWrapper {
    #[serde(rename = "schedulerInfo")]
    pub scheduler_info: SchedulerInfo,
}

/// The headroom of `queue` (leaf name like `b1`, or path like `root.b.b1`) on a cluster whose
/// total resources are `cluster_total` (from `/ws/v1/cluster/metrics`; the capacity scheduler's
/// answer only has percentages).
///
/// For every queue from the root down to `queue`, the room left is its absolute maximum capacity
/// of the cluster minus what it uses; the headroom is the smallest of those, so a busy sibling of
/// a parent counts. User limits, AM-resource limits and node labels are not modelled: this is an
/// upper bound, which is what "can this possibly start now?" needs. `None` if the queue does not
/// exist or the scheduler is not the capacity scheduler.
pub fn queue_headroom(
    info: &SchedulerInfo,
    queue: &str,
    cluster_total: Resources,
) -> Option<Resources> {
    smallest_room(info, queue, cluster_total, true)
}

/// The most `queue` may ever hold: its absolute maximum capacity of the cluster (the smallest
/// along its path from the root), whatever is running now. An application asking for more than
/// this waits in ACCEPTED forever. `None` like [`queue_headroom`].
pub fn queue_limit(
    info: &SchedulerInfo,
    queue: &str,
    cluster_total: Resources,
) -> Option<Resources> {
    smallest_room(info, queue, cluster_total, false)
}

/// The smallest room along the path from the root to `queue`, each level's room being its
/// absolute maximum capacity minus (when `count_used`) what it uses.
fn smallest_room(
    info: &SchedulerInfo,
    queue: &str,
    cluster_total: Resources,
    count_used: bool,
) -> Option<Resources> {
    if !info.scheduler_type.is_empty() && info.scheduler_type != "capacityScheduler" {
        return None;
    }
    let mut path = Vec::new();
    if !find(&info.queues, queue, "root", &mut path) {
        return None;
    }
    let used = |r: Resources| if count_used { r } else { Resources::default() };
    let root_max = if info.max_capacity > 0.0 {
        info.max_capacity
    } else {
        100.0
    };
    let mut smallest = room(cluster_total, root_max, used(sum_used(&info.queues)));
    for q in path {
        let r = room(cluster_total, q.absolute_max_capacity, used(q.used()));
        smallest.memory_mb = smallest.memory_mb.min(r.memory_mb);
        smallest.vcores = smallest.vcores.min(r.vcores);
    }
    Some(smallest)
}

/// The numbers come from the RM's JSON, so any i64 may appear: the sums saturate rather than
/// overflow (a panic in a debug build, a wrapped and so wrong headroom in a release one).
fn room(total: Resources, absolute_max_pct: f64, used: Resources) -> Resources {
    let limit = |t: i64| (t as f64 * absolute_max_pct / 100.0).floor() as i64;
    Resources {
        memory_mb: limit(total.memory_mb).saturating_sub(used.memory_mb).max(0),
        vcores: limit(total.vcores).saturating_sub(used.vcores).max(0),
    }
}

fn sum_used(queues: &[QueueInfo]) -> Resources {
    queues
        .iter()
        .map(QueueInfo::used)
        .fold(Resources::default(), |a, b| Resources {
            memory_mb: a.memory_mb.saturating_add(b.memory_mb),
            vcores: a.vcores.saturating_add(b.vcores),
        })
}

/// Depth-first search for `wanted`; fills `path` with the queues from the top level down to it.
fn find<'a>(
    queues: &'a [QueueInfo],
    wanted: &str,
    parent: &str,
    path: &mut Vec<&'a QueueInfo>,
) -> bool {
    for q in queues {
        let own_path = q
            .queue_path
            .clone()
            .unwrap_or_else(|| format!("{parent}.{}", q.queue_name));
        path.push(q);
        let hit = q.queue_name == wanted
            || own_path == wanted
            || own_path.strip_prefix("root.") == Some(wanted);
        if hit || find(&q.queues, wanted, &own_path, path) {
            return true;
        }
        path.pop();
    }
    false
}

/// `{"queue": [...]}` (or a single object, or null) → the list.
fn queue_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<QueueInfo>, D::Error> {
    #[derive(Deserialize)]
    struct Queues {
        #[serde(default, deserialize_with = "one_or_many")]
        queue: Vec<QueueInfo>,
    }
    Ok(Option::<Queues>::deserialize(d)?
        .map(|q| q.queue)
        .unwrap_or_default())
}

/// A number, or a string such as the FIFO scheduler's `"NaN"` (→ 0).
fn lenient_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(serde_json::Value::String(s)) => s
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .unwrap_or(0.0),
        _ => 0.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trimmed copy of the capacity scheduler JSON example of ResourceManagerRest.md
    /// (root → a(10.5/50) → a1(30/50) → a1a; root → b(89.5/100) → b1, b2), with some usage.
    const EXAMPLE: &str = r#"{
    "scheduler": {
        "schedulerInfo": {
            "capacity": 100.0,
            "maxCapacity": 100.0,
            "queueName": "root",
            "queues": {
                "queue": [
                    {
                        "absoluteCapacity": 10.5,
                        "absoluteMaxCapacity": 50.0,
                        "absoluteUsedCapacity": 0.0,
                        "capacity": 10.5,
                        "maxCapacity": 50.0,
                        "numApplications": 0,
                        "queueName": "a",
                        "queues": {
                            "queue": [
                                {
                                    "absoluteCapacity": 3.15,
                                    "absoluteMaxCapacity": 25.0,
                                    "capacity": 30.000002,
                                    "maxCapacity": 50.0,
                                    "queueName": "a1",
                                    "queues": {
                                        "queue": [
                                            {
                                                "absoluteCapacity": 2.6775,
                                                "absoluteMaxCapacity": 25.0,
                                                "capacity": 85.0,
                                                "maxCapacity": 100.0,
                                                "queueName": "a1a",
                                                "resourcesUsed": {"memory": 2048, "vCores": 2},
                                                "state": "RUNNING",
                                                "type": "capacitySchedulerLeafQueueInfo",
                                                "usedResources": "<memory:2048, vCores:2>",
                                                "users": null
                                            }
                                        ]
                                    },
                                    "resourcesUsed": {"memory": 2048, "vCores": 2},
                                    "state": "RUNNING"
                                }
                            ]
                        },
                        "resourcesUsed": {"memory": 2048, "vCores": 2},
                        "state": "RUNNING"
                    },
                    {
                        "absoluteCapacity": 89.5,
                        "absoluteMaxCapacity": 100.0,
                        "capacity": 89.5,
                        "maxCapacity": 100.0,
                        "queueName": "b",
                        "queues": {
                            "queue": [
                                {
                                    "absoluteCapacity": 53.7,
                                    "absoluteMaxCapacity": 100.0,
                                    "capacity": 60.000004,
                                    "maxCapacity": 100.0,
                                    "queueName": "b1",
                                    "resourcesUsed": {"memory": 8192, "vCores": 4},
                                    "type": "capacitySchedulerLeafQueueInfo",
                                    "users": {"user": [{"username": "user1", "resourcesUsed": {"memory": 8192, "vCores": 4}}]}
                                },
                                {
                                    "absoluteCapacity": 35.3525,
                                    "absoluteMaxCapacity": 100.0,
                                    "capacity": 39.5,
                                    "maxCapacity": 100.0,
                                    "queueName": "b2",
                                    "resourcesUsed": {"memory": 0, "vCores": 0},
                                    "type": "capacitySchedulerLeafQueueInfo",
                                    "users": null
                                }
                            ]
                        },
                        "resourcesUsed": {"memory": 8192, "vCores": 4},
                        "state": "RUNNING"
                    }
                ]
            },
            "type": "capacityScheduler",
            "usedCapacity": 0.0
        }
    }
}"#;

    const TOTAL: Resources = Resources {
        memory_mb: 32768,
        vcores: 32,
    };

    fn example() -> SchedulerInfo {
        serde_json::from_str::<SchedulerEnvelope>(EXAMPLE)
            .unwrap()
            .scheduler
            .scheduler_info
    }

    /// Found by the rm_json fuzz target: queue usages near i64::MAX in the RM's answer
    /// overflowed the sums (a panic with overflow checks; without them the root's usage wrapped
    /// round to -1 and a full cluster showed room).
    #[test]
    fn extreme_queue_usage_from_the_rm_does_not_overflow() {
        let info: SchedulerInfo = serde_json::from_str(
            r#"{"type": "capacityScheduler", "queues": {"queue": [
                {"queueName": "a", "absoluteMaxCapacity": 50.0,
                 "resourcesUsed": {"memory": 9223372036854775807, "vCores": 1}},
                {"queueName": "c", "absoluteMaxCapacity": 50.0,
                 "resourcesUsed": {"memory": 9223372036854775807, "vCores": 1}},
                {"queueName": "b", "absoluteMaxCapacity": 50.0,
                 "resourcesUsed": {"memory": 1, "vCores": -9223372036854775808}}]}}"#,
        )
        .unwrap();
        let room = queue_headroom(&info, "b", TOTAL).unwrap();
        assert_eq!(room.memory_mb, 0, "the cluster is full");
        assert!(queue_limit(&info, "b", TOTAL).is_some());
    }

    #[test]
    fn parses_the_queue_tree() {
        let info = example();
        assert_eq!(info.scheduler_type, "capacityScheduler");
        assert_eq!(info.queues.len(), 2);
        let a1a = &info.queues[0].queues[0].queues[0];
        assert_eq!(a1a.queue_name, "a1a");
        assert!(a1a.is_leaf());
        assert_eq!(a1a.absolute_max_capacity, 25.0);
        assert_eq!(
            a1a.used(),
            Resources {
                memory_mb: 2048,
                vcores: 2
            }
        );
    }

    #[test]
    fn leaf_headroom_is_its_absolute_max_minus_usage() {
        // a1a: 25% of 32768 MB / 32 vcores = 8192 / 8, minus 2048 / 2 used.
        assert_eq!(
            queue_headroom(&example(), "a1a", TOTAL),
            Some(Resources {
                memory_mb: 6144,
                vcores: 6
            })
        );
        assert_eq!(
            queue_headroom(&example(), "root.a.a1.a1a", TOTAL),
            queue_headroom(&example(), "a1a", TOTAL)
        );
    }

    #[test]
    fn siblings_usage_limits_a_queue_through_the_root() {
        // b2 may use 100% of the cluster, but a and b1 already hold 10240 MB / 6 vcores.
        assert_eq!(
            queue_headroom(&example(), "b2", TOTAL),
            Some(Resources {
                memory_mb: 32768 - 10240,
                vcores: 32 - 6
            })
        );
    }

    #[test]
    fn a_full_parent_leaves_no_room_and_never_negative() {
        let mut info = example();
        info.queues[0].resources_used = Some(Resources {
            memory_mb: 40000,
            vcores: 40,
        });
        assert_eq!(
            queue_headroom(&info, "a1a", TOTAL),
            Some(Resources::default())
        );
    }

    #[test]
    fn unknown_queue_or_other_scheduler_has_no_headroom() {
        assert_eq!(queue_headroom(&example(), "nope", TOTAL), None);
        let fifo: SchedulerInfo = serde_json::from_str(
            r#"{"type":"fifoScheduler","capacity":1,"usedCapacity":"NaN","qstate":"RUNNING"}"#,
        )
        .unwrap();
        assert_eq!(fifo.used_capacity, 0.0);
        assert_eq!(queue_headroom(&fifo, "default", TOTAL), None);
    }
}
