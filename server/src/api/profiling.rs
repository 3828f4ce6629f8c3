//! `/v1/debug/pprof`: CPU profiles of a node, for the root. `POST` starts a sampling profiler
//! (99 samples a second of every thread), `GET` says whether one runs, `DELETE` stops it and
//! answers a zip archive holding `cpu.pprof` (pprof protobuf, what `go tool pprof` and other
//! pprof viewers read).
//!
//! Only CPU profiles exist here: heap profiles need an allocator that records allocations,
//! which this build's system allocator does not, and the Go runtime's goroutine, thread,
//! block and mutex profiles have no equivalent. A request for them is answered with what is
//! recorded, and the status says which profiles run.

use std::io::Write as _;
use std::time::SystemTime;

use bytes::Bytes;
use http::StatusCode;
use minkms_client::wire::ProfileStatusResponse;

use crate::api::error::ApiError;

/// Samples per second: not a multiple of common timer rates, so that periodic work is not
/// always or never caught.
const FREQUENCY: i32 = 99;

/// The profile being recorded, if any: one per process.
struct Session {
    guard: pprof::ProfilerGuard<'static>,
    started: SystemTime,
}

static SESSION: parking_lot::Mutex<Option<Session>> = parking_lot::Mutex::new(None);

/// `POST /v1/debug/pprof?cpu=true…`: starts recording. A second start while one runs is a
/// conflict: two operators would each stop the other's profile.
pub(crate) fn start(query: Option<&str>) -> Result<(), ApiError> {
    let wants = |name: &str| {
        query.is_some_and(|q| {
            q.split('&')
                .any(|p| p == name || p == format!("{name}=true") || p == format!("{name}=1"))
        })
    };
    if !wants("cpu") {
        return Err(ApiError::bad_request(
            "invalid request: only CPU profiles are recorded here: ask for cpu=true",
        ));
    }
    let mut session = SESSION.lock();
    if session.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "profiling already started: stop it first",
        ));
    }
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(FREQUENCY)
        // Unwinding through these from a signal handler can deadlock (pprof's advice).
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot start the profiler: {e}"),
            )
        })?;
    *session = Some(Session {
        guard,
        started: SystemTime::now(),
    });
    tracing::info!("CPU profiling started");
    Ok(())
}

/// `GET /v1/debug/pprof`.
pub(crate) fn status() -> ProfileStatusResponse {
    let session = SESSION.lock();
    ProfileStatusResponse {
        started: session
            .as_ref()
            .map(|s| prost_types::Timestamp::from(s.started)),
        cpu: session.is_some(),
        ..Default::default()
    }
}

/// `DELETE /v1/debug/pprof`: stops recording and answers the archive.
pub(crate) fn stop() -> Result<Bytes, ApiError> {
    let session = SESSION
        .lock()
        .take()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "profiling not started"))?;
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot {what} the profile: {e}"),
        )
    };
    let profile = session
        .guard
        .report()
        .build()
        .and_then(|report| report.pprof())
        .map_err(|e| failed("build", &e))?;
    drop(session); // stops the sampling timer
    let mut encoded = Vec::new();
    pprof::protos::Message::encode(&profile, &mut encoded).map_err(|e| failed("encode", &e))?;
    let mut archive = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    archive
        .start_file("cpu.pprof", options)
        .and_then(|()| archive.write_all(&encoded).map_err(Into::into))
        .map_err(|e| failed("archive", &e))?;
    let archive = archive.finish().map_err(|e| failed("archive", &e))?;
    tracing::info!(bytes = encoded.len(), "CPU profiling stopped");
    Ok(Bytes::from(archive.into_inner()))
}
