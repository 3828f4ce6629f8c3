//! The data volume's room for writes. A write that redb cannot make durable stops the node
//! (SECURITY.md); checking the volume before a write is taken turns the common cases, a volume
//! nearly full or mounted read-only, into a clear refusal that leaves the node serving reads.

use std::path::PathBuf;

use crate::cluster::ClusterError;

/// Where `kms.db` lives, and how much room writes need.
#[derive(Debug)]
pub(crate) struct Volume {
    pub(crate) dir: PathBuf,
    /// Writes are refused while less than this is free (`limits.min_free_mib`).
    pub(crate) min_free: u64,
}

impl Volume {
    /// `Ok` when a write may be taken; 507 when the volume is read-only or has less than
    /// `min_free` bytes free. A volume that cannot be asked (no `statvfs`) is assumed fine:
    /// the write itself will tell.
    pub(crate) fn check(&self) -> Result<(), ClusterError> {
        let Ok(stat) = rustix::fs::statvfs(&self.dir) else {
            return Ok(());
        };
        if stat.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY) {
            return Err(ClusterError::InsufficientStorage(
                "insufficient storage: the data volume is read-only; writes are refused, reads are served".into(),
            ));
        }
        let free = stat.f_bavail.saturating_mul(stat.f_frsize);
        if free < self.min_free {
            return Err(ClusterError::InsufficientStorage(format!(
                    "insufficient storage: {} MiB free on the data volume, writes need {} MiB; reads are served",
                    free >> 20,
                self.min_free >> 20
            )));
        }
        Ok(())
    }
}
