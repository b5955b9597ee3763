//! The state store: a small key/value interface with Livy's layout (`v1/batch/state`,
//! `v1/interactive/3`, ...) and its two implementations, a local directory and ZooKeeper.

use super::log;
use futures::future::BoxFuture;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub type StoreResult<T> = Result<T, StoreError>;
/// Records by name (what `load_dir` returns).
pub type Records = Vec<(String, Vec<u8>)>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("ZooKeeper: {0}")]
    ZooKeeper(String),
    #[error("{0}")]
    Refused(String),
}

/// What recovery needs of a store. Keys are `/`-separated, relative (`v1/batch/3`).
pub trait StateStore: Send + Sync {
    fn set<'a>(&'a self, key: &'a str, value: &'a [u8]) -> BoxFuture<'a, StoreResult<()>>;
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>>;
    /// The names directly under `key` (empty when it does not exist).
    fn children<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Vec<String>>>;
    /// Removes `key` (and what is under it); absent keys are fine.
    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<()>>;
    /// Claims the store for this server; fails if another live server holds it.
    fn claim<'a>(&'a self, owner: &'a str) -> BoxFuture<'a, StoreResult<()>>;
    /// Every record directly under `dir`, by name. A record that cannot be read is logged and
    /// left out (one bad record must not cost the others); a store that keeps a directory in
    /// one place (the filesystem store's statement logs) reads it at once.
    fn load_dir<'a>(&'a self, dir: &'a str) -> BoxFuture<'a, StoreResult<Records>> {
        load_each(self, dir)
    }
}

/// `load_dir` record by record: the names, then each record (64 reads in flight, which is what
/// makes a start with 10,000 records on ZooKeeper quick).
fn load_each<'a, S: StateStore + ?Sized>(
    store: &'a S,
    dir: &'a str,
) -> BoxFuture<'a, StoreResult<Records>> {
    use futures::stream::{self, StreamExt};
    Box::pin(async move {
        let names = store.children(dir).await?;
        Ok(stream::iter(names)
            .map(|name| async move {
                match store.get(&format!("{dir}/{name}")).await {
                    Ok(Some(bytes)) => Some((name, bytes)),
                    Ok(None) => None,
                    Err(e) => {
                        tracing::error!(dir, name, error = %e, "cannot read a recovery record; skipped");
                        None
                    }
                }
            })
            .buffer_unordered(64)
            .filter_map(|r| async move { r })
            .collect()
            .await)
    })
}

/// Livy's filesystem store on a local directory. Each record is written to a temporary file,
/// synced, then renamed over the old one (and the directory synced), so a crash leaves either
/// the old or the new record, never a torn one; a session's statements go to one append-only
/// log instead (`super::log`: one sync per statement, on every statement's `POST`). Files are
/// 0600 and directories 0700: records hold driver secrets.
pub struct FsStore {
    root: PathBuf,
    logs: log::Logs,
    /// Held for the server's life: `flock` on `v1/.owner` is how a second server on the same
    /// directory is refused; the kernel drops it when the process dies, even by kill -9.
    lock: parking_lot::Mutex<Option<nix::fcntl::Flock<std::fs::File>>>,
}

impl FsStore {
    pub fn open(root: &Path) -> StoreResult<Self> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)?;
        let mode = std::fs::metadata(root)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(dir = %root.display(), mode = format!("{:o}", mode & 0o777), "the recovery directory can be read by other users; its records hold session secrets (chmod 700 it)");
        }
        Ok(FsStore {
            root: root.to_path_buf(),
            logs: log::Logs::default(),
            lock: parking_lot::Mutex::new(None),
        })
    }

    fn path(&self, key: &str) -> StoreResult<PathBuf> {
        // Keys are built by the server from ids and fixed names; refuse anything else outright.
        if key.is_empty()
            || key
                .split('/')
                .any(|seg| seg.is_empty() || seg == "." || seg == ".." || seg.starts_with(".tmp"))
        {
            return Err(StoreError::Refused(format!("bad store key '{key}'")));
        }
        Ok(self.root.join(key))
    }
}

/// Writes one record: temp file, sync, rename over the old record, sync the directory.
pub(super) fn write_record(path: &Path, value: &[u8]) -> StoreResult<()> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("x");
    let tmp = dir.join(format!(".tmp-{name}-{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(value)?;
    f.sync_data()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

impl FsStore {
    /// Runs a statement-log operation off the runtime (it reads, writes and syncs files).
    fn in_log<T: Send + 'static>(
        &self,
        f: impl FnOnce(&log::Logs, &Path) -> StoreResult<T> + Send + 'static,
    ) -> BoxFuture<'static, StoreResult<T>> {
        let logs = self.logs.clone();
        let root = self.root.clone();
        blocking(move || f(&logs, &root))
    }
}

fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> StoreResult<T> + Send + 'static,
) -> BoxFuture<'static, StoreResult<T>> {
    Box::pin(async move {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))?
    })
}

impl StateStore for FsStore {
    fn set<'a>(&'a self, key: &'a str, value: &'a [u8]) -> BoxFuture<'a, StoreResult<()>> {
        // fsync and rename block: off the runtime, like every file system call of the store.
        let path = self.path(key);
        let value = value.to_vec();
        if let Some((session, id)) = log::statement_of(key) {
            return self.in_log(move |logs, root| logs.append(root, session, id, Some(&value)));
        }
        blocking(move || write_record(&path?, &value))
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>> {
        let path = self.path(key);
        if let Some((session, id)) = log::statement_of(key) {
            return self.in_log(move |logs, root| Ok(logs.read(root, session)?.remove(&id)));
        }
        blocking(move || match std::fs::read(path?) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        })
    }

    fn children<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Vec<String>>> {
        let path = self.path(key);
        if let Some(session) = log::session_of(key) {
            return self.in_log(move |logs, root| {
                Ok(logs
                    .read(root, session)?
                    .into_keys()
                    .map(|id| id.to_string())
                    .collect())
            });
        }
        blocking(move || {
            let mut names = Vec::new();
            let entries = match std::fs::read_dir(path?) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(names),
                Err(e) => return Err(e.into()),
            };
            for entry in entries {
                if let Some(name) = entry?.file_name().to_str() {
                    if !name.starts_with('.') {
                        names.push(name.to_string());
                    }
                }
            }
            Ok(names)
        })
    }

    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        let path = self.path(key);
        if let Some((session, id)) = log::statement_of(key) {
            return self.in_log(move |logs, root| logs.append(root, session, id, None));
        }
        if let Some(session) = log::session_of(key) {
            return self.in_log(move |logs, root| logs.remove(root, session));
        }
        blocking(move || {
            let path = path?;
            let result = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            match result {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            }
        })
    }

    fn load_dir<'a>(&'a self, dir: &'a str) -> BoxFuture<'a, StoreResult<Records>> {
        let Some(session) = log::session_of(dir) else {
            return load_each(self, dir);
        };
        // One replay of the session's log for all its statements.
        self.in_log(move |logs, root| {
            Ok(logs
                .read(root, session)?
                .into_iter()
                .map(|(id, v)| (id.to_string(), v))
                .collect())
        })
    }

    fn claim<'a>(&'a self, owner: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let dir = self.root.join("v1");
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)?;
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(dir.join(".owner"))?;
            let Ok(mut f) = nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock)
            else {
                let holder = std::fs::read_to_string(dir.join(".owner")).unwrap_or_default();
                return Err(StoreError::Refused(format!(
                    "another livy-rs server ({}) uses the recovery store {}; two servers must not own the same sessions",
                    holder.trim(),
                    self.root.display()
                )));
            };
            f.set_len(0)?;
            f.write_all(owner.as_bytes())?;
            *self.lock.lock() = Some(f);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_round_trip_privately_and_a_second_owner_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        let store = FsStore::open(&root).unwrap();
        store.claim("test:1").await.unwrap();
        store.set("v1/batch/3", b"{}").await.unwrap();
        store.set("v1/batch/state", b"{\"n\":4}").await.unwrap();
        assert_eq!(store.get("v1/batch/3").await.unwrap().unwrap(), b"{}");
        assert!(store.get("v1/batch/9").await.unwrap().is_none());
        let mut kids = store.children("v1/batch").await.unwrap();
        kids.sort();
        assert_eq!(kids, vec!["3", "state"]);
        let mode = std::fs::metadata(root.join("v1/batch/3"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let mode = std::fs::metadata(root.join("v1/batch"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        store.remove("v1/batch/3").await.unwrap();
        store.remove("v1/batch/3").await.unwrap();
        assert!(store.get("v1/batch/3").await.unwrap().is_none());
        for bad in ["../x", "v1/../../x", "", "v1//x", "v1/.tmp-x"] {
            assert!(store.set(bad, b"x").await.is_err(), "{bad}");
        }
        let second = FsStore::open(&root).unwrap();
        let err = second.claim("test:2").await.unwrap_err().to_string();
        assert!(err.contains("test:1"), "{err}");
    }
}
