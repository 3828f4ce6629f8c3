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

/// The process: parses the command line, runs it on a multi-threaded runtime, and turns an
/// error into `Error: …` on stderr and exit status 1.
pub fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
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
