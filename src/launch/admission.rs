//! Resource-aware admission (`livy.server.yarn.admission-check`): before a create is accepted on
//! YARN, the resources the application will ask for (its ApplicationMaster plus its executors)
//! are compared with what the target queue may ever hold (its maximum capacity, from the RM's
//! scheduler API). An application that can never fit would otherwise sit in ACCEPTED forever;
//! refusing it at once with the numbers is kinder. A queue that is only busy right now is not a
//! reason to refuse: YARN queues such an application and starts it when room frees up.

use crate::yarn::scheduler::queue_limit;
use crate::yarn::submit::{am_resources, SparkVersion};
use crate::yarn::{queue_headroom, Resources, RmClient};
use std::collections::BTreeMap;

/// What one application asks YARN for, in MiB and vcores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceAsk {
    pub am: Resources,
    pub executors: i64,
    pub executor: Resources,
}

impl ResourceAsk {
    pub fn total(&self) -> Resources {
        Resources {
            // Saturating: an absurd ask (huge sizes times many executors) must stay absurd, not
            // wrap round to a number that fits the queue.
            memory_mb: self
                .am
                .memory_mb
                .saturating_add(self.executors.saturating_mul(self.executor.memory_mb)),
            vcores: self
                .am
                .vcores
                .saturating_add(self.executors.saturating_mul(self.executor.vcores)),
        }
    }
}

fn size_mb(conf: &BTreeMap<String, String>, key: &str, default: &str) -> Result<i64, String> {
    let value = conf.get(key).map_or(default, String::as_str);
    crate::yarn::submit::sparkconf::bytes_as_mib(value)
        .map(|m| i64::try_from(m).unwrap_or(i64::MAX))
        .map_err(|_| format!("{key}={value:?} is not a valid size (e.g. 512m, 2g)"))
}

fn int(conf: &BTreeMap<String, String>, key: &str, default: i64) -> Result<i64, String> {
    match conf.get(key) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| format!("{key}={v:?} is not an integer")),
    }
}

/// Memory plus overhead as Spark's YARN allocator sizes a container: `<prefix>Overhead` if set,
/// else max(`<prefix>OverheadFactor` (0.1) × memory, the minimum overhead).
fn with_overhead(
    conf: &BTreeMap<String, String>,
    memory_key: &str,
    default: &str,
    min_overhead_mb: i64,
) -> Result<i64, String> {
    let memory = size_mb(conf, memory_key, default)?;
    let overhead_key = format!("{memory_key}Overhead");
    let overhead = if conf.contains_key(&overhead_key) {
        size_mb(conf, &overhead_key, "0")?
    } else {
        let factor_key = format!("{memory_key}OverheadFactor");
        let factor: f64 = match conf.get(&factor_key) {
            None => 0.1,
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| format!("{factor_key}={v:?} is not a number"))?,
        };
        ((factor * memory as f64) as i64).max(min_overhead_mb)
    };
    Ok(memory.saturating_add(overhead))
}

/// The resources a yarn application with this Spark conf asks for. Cluster mode: the AM is the
/// driver (`spark.driver.memory` + overhead, `spark.driver.cores`); client mode:
/// `spark.yarn.am.memory` (512m) + overhead, `spark.yarn.am.cores`. Executors: with dynamic
/// allocation the initial number (max of `minExecutors`, `initialExecutors`,
/// `spark.executor.instances`), else `spark.executor.instances` (YARN's default 2); each
/// `spark.executor.memory` (1g) + overhead (+ `spark.executor.pyspark.memory`) and
/// `spark.executor.cores` (1).
pub fn resource_ask(
    conf: &BTreeMap<String, String>,
    version: SparkVersion,
) -> Result<ResourceAsk, String> {
    let cluster = conf
        .get("spark.submit.deployMode")
        .is_some_and(|m| m == "cluster");
    let am = if cluster {
        let am = am_resources(conf, version).map_err(|e| e.to_string())?;
        Resources {
            memory_mb: i64::try_from(am.memory_mb.saturating_add(am.overhead_mb))
                .unwrap_or(i64::MAX),
            vcores: i64::from(am.vcores),
        }
    } else {
        Resources {
            memory_mb: with_overhead(conf, "spark.yarn.am.memory", "512m", 384)?,
            vcores: int(conf, "spark.yarn.am.cores", 1)?,
        }
    };
    let min_executor_overhead = match version {
        SparkVersion::V3_5 => 384,
        SparkVersion::V4 => size_mb(conf, "spark.executor.minMemoryOverhead", "384m")?,
    };
    let mut executor_mb =
        with_overhead(conf, "spark.executor.memory", "1g", min_executor_overhead)?;
    if conf.contains_key("spark.executor.pyspark.memory") {
        executor_mb =
            executor_mb.saturating_add(size_mb(conf, "spark.executor.pyspark.memory", "0")?);
    }
    let dynamic = conf
        .get("spark.dynamicAllocation.enabled")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let executors = if dynamic {
        int(conf, "spark.dynamicAllocation.minExecutors", 0)?
            .max(int(conf, "spark.dynamicAllocation.initialExecutors", 0)?)
            .max(int(conf, "spark.executor.instances", 0)?)
    } else {
        int(conf, "spark.executor.instances", 2)?
    };
    Ok(ResourceAsk {
        am,
        executors: executors.max(0),
        executor: Resources {
            memory_mb: executor_mb,
            vcores: int(conf, "spark.executor.cores", 1)?,
        },
    })
}

/// Why an application is refused; the text is the client's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    UnknownQueue(String),
    TooBig(String),
}

/// Checks `ask` against `queue`'s maximum capacity. `Ok(Err(refusal))` means refuse;
/// `Err(problem)` means the RM could not tell (down, odd answer, not the capacity scheduler):
/// the caller admits and logs, so an RM outage does not block users beyond what tracking does.
pub async fn check_queue(
    rm: &RmClient,
    queue: &str,
    ask: &ResourceAsk,
) -> Result<Result<(), Refusal>, String> {
    let caller = crate::yarn::Caller::NONE;
    let (scheduler, metrics) = tokio::join!(rm.scheduler(caller), rm.cluster_metrics(caller));
    let scheduler = scheduler.map_err(|e| e.to_string())?;
    let total = metrics.map_err(|e| e.to_string())?.total();
    if !scheduler.scheduler_type.is_empty() && scheduler.scheduler_type != "capacityScheduler" {
        return Err(format!(
            "the {} is not supported by the admission check",
            scheduler.scheduler_type
        ));
    }
    let Some(limit) = queue_limit(&scheduler, queue, total) else {
        return Ok(Err(Refusal::UnknownQueue(format!(
            "queue '{queue}' does not exist in YARN's scheduler"
        ))));
    };
    let available = queue_headroom(&scheduler, queue, total).unwrap_or(limit);
    let asked = ask.total();
    if asked.memory_mb > limit.memory_mb || asked.vcores > limit.vcores {
        return Ok(Err(Refusal::TooBig(format!(
            "the application asks for {} MB and {} vcores (AM {} MB/{} vcores + {} executor(s) of {} MB/{} vcores), but queue '{queue}' can hold at most {} MB and {} vcores under its maximum capacity ({} MB and {} vcores available now); it would wait in ACCEPTED forever",
            asked.memory_mb,
            asked.vcores,
            ask.am.memory_mb,
            ask.am.vcores,
            ask.executors,
            ask.executor.memory_mb,
            ask.executor.vcores,
            limit.memory_mb,
            limit.vcores,
            available.memory_mb,
            available.vcores,
        ))));
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn absurd_asks_saturate_instead_of_wrapping_round() {
        let ask = resource_ask(
            &conf(&[
                ("spark.executor.memory", "9999999999999999p"),
                ("spark.executor.instances", "2147483647"),
                ("spark.executor.cores", "9223372036854775807"),
            ]),
            SparkVersion::V4,
        )
        .unwrap();
        let total = ask.total();
        assert_eq!(total.memory_mb, i64::MAX);
        assert_eq!(total.vcores, i64::MAX);
    }

    #[test]
    fn cluster_mode_counts_the_driver_and_default_executors() {
        let ask = resource_ask(
            &conf(&[("spark.submit.deployMode", "cluster")]),
            SparkVersion::V4,
        )
        .unwrap();
        assert_eq!(
            ask.am,
            Resources {
                memory_mb: 1408,
                vcores: 1
            }
        );
        assert_eq!(ask.executors, 2);
        assert_eq!(
            ask.executor,
            Resources {
                memory_mb: 1408,
                vcores: 1
            }
        );
        assert_eq!(
            ask.total(),
            Resources {
                memory_mb: 4224,
                vcores: 3
            }
        );
    }

    #[test]
    fn explicit_sizes_and_dynamic_allocation() {
        let ask = resource_ask(
            &conf(&[
                ("spark.submit.deployMode", "cluster"),
                ("spark.driver.memory", "4g"),
                ("spark.driver.cores", "2"),
                ("spark.executor.memory", "8g"),
                ("spark.executor.memoryOverhead", "1g"),
                ("spark.executor.cores", "4"),
                ("spark.dynamicAllocation.enabled", "true"),
                ("spark.dynamicAllocation.minExecutors", "1"),
                ("spark.dynamicAllocation.initialExecutors", "3"),
            ]),
            SparkVersion::V3_5,
        )
        .unwrap();
        assert_eq!(
            ask.am,
            Resources {
                memory_mb: 4096 + 409,
                vcores: 2
            }
        );
        assert_eq!(ask.executors, 3);
        assert_eq!(
            ask.executor,
            Resources {
                memory_mb: 9216,
                vcores: 4
            }
        );
    }

    #[test]
    fn client_mode_uses_the_yarn_am_settings() {
        let ask = resource_ask(
            &conf(&[("spark.executor.instances", "0")]),
            SparkVersion::V4,
        )
        .unwrap();
        assert_eq!(
            ask.am,
            Resources {
                memory_mb: 896,
                vcores: 1
            }
        );
        assert_eq!(ask.total(), ask.am);
    }

    #[test]
    fn bad_numbers_are_named() {
        let err = resource_ask(
            &conf(&[("spark.executor.instances", "many")]),
            SparkVersion::V4,
        )
        .unwrap_err();
        assert!(err.contains("spark.executor.instances"), "{err}");
    }
}
