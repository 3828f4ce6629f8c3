//! `minkms`: the server and the admin CLI in one binary (the code is the `minkms` library).
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    minkms::main()
}
