//! Human and JSON output of the client commands.

use std::io::IsTerminal as _;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// Writes to stdout like `print!`, but a closed pipe (`minkms ls-key | head`) ends the process
/// quietly with status 0 where `print!` would panic, and another write error ends it with 1.
pub(crate) fn write_out(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("Error: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

/// `println!` through [`write_out`].
macro_rules! outln {
    () => { $crate::cli::output::write_out(format_args!("\n")) };
    ($($arg:tt)*) => {
        $crate::cli::output::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}
/// `print!` through [`write_out`].
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::output::write_out(format_args!($($arg)*)) };
}
pub(crate) use {out, outln};

/// Whether stdout is a terminal: symbols only then (CLI.md).
pub(crate) fn tty() -> bool {
    std::io::stdout().is_terminal()
}

/// `text` in colour (an ANSI SGR code: 31 red, 32 green) on a terminal, unless `NO_COLOR` is
/// set (no-color.org); plain otherwise.
pub(crate) fn paint(code: u8, text: &str) -> String {
    if tty() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// `✔ text` on a terminal, `text` otherwise.
pub(crate) fn ok(text: &str) {
    if tty() {
        outln!("{} {text}", paint(32, "✔"));
    } else {
        outln!("{text}");
    }
}

/// A progress line on stderr for a long operation, shown only when stderr is a terminal and
/// the output is not JSON: a spinner with the time so far, and the bytes moved when
/// `bytes` (then `inc` the bar by bytes). Finish it with [`finish`].
pub(crate) fn progress(json: bool, message: String, bytes: bool) -> indicatif::ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let template = if bytes {
        "{spinner} {msg} {bytes} ({bytes_per_sec}, {elapsed})"
    } else {
        "{spinner} {msg} ({elapsed})"
    };
    let bar = indicatif::ProgressBar::new_spinner().with_message(message);
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// Removes a progress line before the command prints its result.
pub(crate) fn finish(bar: &indicatif::ProgressBar) {
    bar.finish_and_clear();
}

/// Prints aligned `label  value` lines.
pub(crate) fn fields(rows: &[(&str, String)]) {
    let width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0) + 2;
    for (label, value) in rows {
        outln!("{label:<width$}{value}");
    }
}

/// Prints a table with a header.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        outln!("{}", s.trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row.clone());
    }
}

/// Prints a listing: a JSON array with `--json`, else a table with `header`.
pub(crate) fn listing<T>(
    as_json: bool,
    items: &[T],
    json_of: impl Fn(&T) -> serde_json::Value,
    header: &[&str],
    row_of: impl Fn(&T) -> Vec<String>,
) {
    if as_json {
        json(&serde_json::Value::Array(
            items.iter().map(json_of).collect(),
        ));
    } else {
        table(header, &items.iter().map(row_of).collect::<Vec<_>>());
    }
}

/// Prints a JSON value, pretty.
pub(crate) fn json(value: &serde_json::Value) {
    outln!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// RFC 3339 time of a protobuf timestamp, "" if none.
pub(crate) fn time(t: &Option<prost_types::Timestamp>) -> String {
    let Some(t) = t else { return String::new() };
    time::OffsetDateTime::from_unix_timestamp(t.seconds)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// A duration as minkms stat shows it: 5m, 2h3m, 4d1h.
pub(crate) fn uptime(d: &Option<prost_types::Duration>) -> String {
    let secs = d.as_ref().map_or(0, |d| d.seconds.max(0));
    let (days, hours, mins) = (secs / 86400, secs % 86400 / 3600, secs % 3600 / 60);
    match (days, hours, mins) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h{m}m"),
        (d, h, _) => format!("{d}d{h}h"),
    }
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// A byte count for people: `512 B`, `3.2 MiB`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// `der` as a PEM block. Zeroized on drop: it may hold a private key.
pub(crate) fn pem(label: &str, der: &[u8]) -> zeroize::Zeroizing<String> {
    use base64::Engine as _;
    let b64 = zeroize::Zeroizing::new(base64::prelude::BASE64_STANDARD.encode(der));
    let mut out = zeroize::Zeroizing::new(format!("-----BEGIN {label}-----\n"));
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
