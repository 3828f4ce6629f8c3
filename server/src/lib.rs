//! `minkms`: the server and the admin CLI in one binary. The binary is [`main`]; this library
//! holds the rest, so that its modules have unit tests and other crates (benches, fuzz
//! targets) can use them without compiling source files in by path.
#![forbid(unsafe_code)]
// Request handling never panics: errors are answers (see SECURITY.md).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable
    )
)]

mod api;
mod baseline;
mod cli;
mod cluster;
mod logging;
mod node;
mod procfs;

use std::process::ExitCode;

use clap::Parser;

/// The process: parses the command line, runs it on the runtime [`runtime`] picks, and turns an
/// error into `Error: …` on stderr and exit status 1.
pub fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: failed to start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The number of runtime workers: `TOKIO_WORKER_THREADS` when set (tokio's own variable), else
/// one per core this process may run on (its CPU affinity and cgroup quota).
fn workers() -> usize {
    std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        })
}

/// A multi-threaded runtime, or a current-thread one when there is one worker. With one core
/// a work-stealing scheduler has nobody to hand work to and only costs: its LIFO slot runs a
/// connection's task right after each HTTP/2 stream that answered, so every answer leaves in a
/// write (and a TLS record) of its own, where a current-thread runtime runs the streams that
/// are ready first and sends their answers in one write (BENCHMARKING.md, "Runtime").
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    match workers() {
        1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    }
}
