//! Messages of the driver channel (docs/DRIVER_PROTOCOL.md): frames of a 4-byte big-endian length
//! and a UTF-8 JSON object with a `type`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Messages the server sends.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToDriver {
    Challenge {
        nonce: String,
    },
    Welcome {
        mac: String,
    },
    Execute {
        id: u32,
        kind: String,
        code: String,
    },
    Cancel {
        id: u32,
    },
    Complete {
        req: u64,
        kind: String,
        code: String,
        cursor: i64,
    },
    Job {
        req: u64,
        job: String,
        job_type: crate::sessions::interactive::JobKind,
        job_id: String,
    },
    CancelJob {
        req: u64,
        job_id: String,
    },
    AddFile {
        req: u64,
        uri: String,
    },
    AddPyfile {
        req: u64,
        uri: String,
    },
    AddJar {
        req: u64,
        uri: String,
    },
    /// Answered by `ack`; see [`crate::sessions::commands::LinkCommand::SetConf`].
    SetConf {
        req: u64,
        conf: std::collections::BTreeMap<String, String>,
        check_only: bool,
    },
    /// The driver channels (`host:port`) of the service's live servers (active/active): sent
    /// once the driver is connected and again whenever a server joins or leaves, so a driver
    /// whose servers all died dials back to one that joined after its launch. Not answered;
    /// a driver that does not know the type logs and ignores it (section 2 of the protocol).
    Servers {
        servers: Vec<String>,
    },
    Shutdown,
}

/// Messages a driver sends.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromDriver {
    Hello {
        session_id: u32,
        protocol: u32,
    },
    Auth {
        mac: String,
        nonce: String,
    },
    Ready {
        #[serde(default)]
        spark_version: Option<String>,
        #[serde(default)]
        scala_version: Option<String>,
        #[serde(default)]
        app_id: Option<String>,
        #[serde(default)]
        spark_ui_url: Option<String>,
    },
    Error {
        message: String,
    },
    Started {
        id: u32,
        at: i64,
    },
    Progress {
        id: u32,
        progress: f64,
    },
    Result {
        id: u32,
        completed: i64,
        output: Value,
    },
    Completion {
        req: u64,
        candidates: Vec<String>,
    },
    JobResult {
        req: u64,
        #[serde(default)]
        result: Option<String>,
        #[serde(default)]
        error: Option<String>,
    },
    Ack {
        req: u64,
        #[serde(default)]
        error: Option<String>,
    },
    /// Sent by a driver that dialed back to a restarted server, after it re-sent the results
    /// the old server may not have recorded: where it stands.
    Resumed {
        /// Its SparkSession is up (a driver still starting sends `ready` later).
        ready: bool,
        /// The statement it is running now.
        #[serde(default)]
        running: Option<u32>,
        /// The highest statement id it ever received.
        #[serde(default)]
        last_received: Option<u32>,
        /// The Job API jobs it is running now.
        #[serde(default)]
        running_jobs: Vec<u64>,
    },
}

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection closed")]
    Closed,
    #[error("I/O error on the driver channel: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame of {size} bytes exceeds livy.rsc.rpc.max.size ({max})")]
    TooLarge { size: usize, max: usize },
    #[error("malformed message: {0}")]
    Malformed(String),
}

/// Reads one frame and decodes it.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> Result<FromDriver, FrameError> {
    let value = read_value(reader, max).await?;
    serde_json::from_value(value).map_err(|e| FrameError::Malformed(e.to_string()))
}

/// Reads one frame as raw JSON (used where unknown message types must be skipped, not fatal).
pub async fn read_value<R: AsyncRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> Result<Value, FrameError> {
    let len = match reader.read_u32().await {
        Ok(n) => n as usize,
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(e.into()),
    };
    if len > max {
        return Err(FrameError::TooLarge { size: len, max });
    }
    // Grows with the bytes that really arrive: a length prefix alone reserves nothing.
    let mut buf = Vec::with_capacity(len.min(64 * 1024));
    let got = (&mut *reader)
        .take(len as u64)
        .read_to_end(&mut buf)
        .await?;
    if got < len {
        return Err(FrameError::Closed);
    }
    serde_json::from_slice(&buf).map_err(|e| FrameError::Malformed(e.to_string()))
}

/// Encodes and writes one frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    message: &ToDriver,
    max: usize,
) -> Result<(), FrameError> {
    let body = serde_json::to_vec(message).map_err(|e| FrameError::Malformed(e.to_string()))?;
    if body.len() > max {
        return Err(FrameError::TooLarge {
            size: body.len(),
            max,
        });
    }
    let len = u32::try_from(body.len()).map_err(|_| FrameError::TooLarge {
        size: body.len(),
        max,
    })?;
    writer.write_u32(len).await?;
    writer.write_all(&body).await?;
    writer.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_are_bounded() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        let msg = ToDriver::Execute {
            id: 3,
            kind: "pyspark".into(),
            code: "1 + 1".into(),
        };
        write_frame(&mut a, &msg, 1000).await.unwrap();
        let v = read_value(&mut b, 1000).await.unwrap();
        assert_eq!(v["type"], "execute");
        assert_eq!(v["code"], "1 + 1");
        assert!(matches!(
            write_frame(&mut a, &msg, 10).await,
            Err(FrameError::TooLarge { .. })
        ));
        a.write_u32(5000).await.unwrap();
        assert!(matches!(
            read_value(&mut b, 1000).await,
            Err(FrameError::TooLarge { size: 5000, .. })
        ));
        drop(a);
        let (mut c, d) = tokio::io::duplex(64);
        drop(d);
        assert!(matches!(
            read_value(&mut c, 10).await,
            Err(FrameError::Closed)
        ));
    }

    #[test]
    fn driver_messages_decode() {
        let m: FromDriver = serde_json::from_str(
            r#"{"type":"result","id":0,"completed":5,"output":{"status":"ok","execution_count":0,"data":{"text/plain":"2"}}}"#,
        )
        .unwrap();
        assert!(matches!(m, FromDriver::Result { id: 0, .. }));
        let m: FromDriver = serde_json::from_str(r#"{"type":"ready","app_id":"local-1"}"#).unwrap();
        assert!(matches!(m, FromDriver::Ready { .. }));
    }
}
