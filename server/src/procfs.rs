//! What Linux's `/proc` says about a process: CPU time, resident memory, open file descriptors
//! and threads. The server reports its own (`/proc/self`) as metrics; `minkms bench` reads a
//! server's by pid to measure CPU per operation and to watch a node under a soak for growth.
//! On other systems every reading is an error.

use std::path::PathBuf;

use anyhow::Context as _;

/// A process to read: this one, or another by pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pid {
    /// `/proc/self`.
    Current,
    Other(u32),
}

impl Pid {
    fn dir(self) -> PathBuf {
        match self {
            Pid::Current => PathBuf::from("/proc/self"),
            Pid::Other(pid) => PathBuf::from(format!("/proc/{pid}")),
        }
    }

    /// The fields of `/proc/PID/stat` after the command name (which may hold spaces and
    /// parentheses, so the split is at the last `)`): index 0 is the state, field 3 of the
    /// whole line.
    fn stat(self) -> anyhow::Result<Vec<u64>> {
        let path = self.dir().join("stat");
        let stat = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
        Ok(rest
            .split_whitespace()
            .map(|v| v.parse::<u64>().unwrap_or(0))
            .collect())
    }

    /// utime + stime in microseconds (`/proc` counts in USER_HZ, 100 ticks per second on
    /// every Linux this runs on).
    pub(crate) fn cpu_us(self) -> anyhow::Result<u64> {
        let fields = self.stat()?;
        // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after ')'.
        let ticks = |i: usize| fields.get(i).copied().unwrap_or(0);
        Ok((ticks(11) + ticks(12)) * 10_000)
    }

    /// Threads (field 20 of the whole line).
    pub(crate) fn threads(self) -> anyhow::Result<u64> {
        Ok(self.stat()?.get(17).copied().unwrap_or(0))
    }

    /// Resident memory in bytes (`VmRSS` of `/proc/PID/status`).
    pub(crate) fn resident_bytes(self) -> anyhow::Result<u64> {
        let path = self.dir().join("status");
        let status = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
            .with_context(|| format!("no VmRSS in {}", path.display()))
    }

    /// Open file descriptors (entries of `/proc/PID/fd`; another user's process needs root).
    pub(crate) fn open_fds(self) -> anyhow::Result<u64> {
        let path = self.dir().join("fd");
        let entries =
            std::fs::read_dir(&path).with_context(|| format!("cannot list {}", path.display()))?;
        Ok(entries.count() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::Pid;

    #[test]
    fn readings_of_this_process_agree_with_what_it_holds() {
        let me = Pid::Other(std::process::id());
        let before = me.open_fds().unwrap();
        let files: Vec<std::fs::File> = (0..20)
            .map(|_| std::fs::File::open("/proc/self/stat").unwrap())
            .collect();
        // Other tests run in parallel threads and may open files too: at least our 20.
        assert!(me.open_fds().unwrap() >= before + 20);
        drop(files);

        // 64 MiB touched shows in the resident size. Tests in other threads free memory at the
        // same time, so one of a few tries must see the growth.
        let grew = (0..5).any(|_| {
            let rss = Pid::Current.resident_bytes().unwrap();
            let block = vec![1u8; 64 << 20];
            std::hint::black_box(&block);
            Pid::Current.resident_bytes().unwrap() >= rss + (60 << 20)
        });
        assert!(
            grew,
            "64 MiB allocated and touched never showed in the resident size"
        );

        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let extra = std::thread::spawn(move || rx.recv());
        // This test's thread and the one just started, at least.
        assert!(me.threads().unwrap() >= 2);
        drop(tx);
        let _ = extra.join();
        let cpu = Pid::Current.cpu_us().unwrap();
        let mut x = 0u64;
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_millis(300) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(Pid::Current.cpu_us().unwrap() >= cpu + 100_000);
    }

    #[test]
    fn a_missing_process_is_an_error_that_names_it() {
        let err = Pid::Other(u32::MAX).resident_bytes().unwrap_err();
        assert!(err.to_string().contains(&u32::MAX.to_string()), "{err}");
    }
}
