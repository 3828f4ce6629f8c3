//! Files and directories that hold key material or sealed state: readable by their owner only
//! (0600 and 0700), whatever the process's umask. The database, its temporary copies, audit
//! logs and backups are created through here, so no other local user can read names, the
//! cluster id or sealed root-key blobs; with a leaked soft HSM key, a readable backup would be
//! a full compromise.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Mode of every file created here.
pub const FILE_MODE: u32 = 0o600;
/// Mode of every directory created here.
pub const DIR_MODE: u32 = 0o700;

/// Creates `dir` and its missing parents, owner-only. An existing `dir` is narrowed to 0700 as
/// well (it may have been made by hand or by an older version); its parents are left alone.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(dir)?;
    restrict(dir, DIR_MODE)
}

/// Options that create a file owner-only: the caller adds `append`, `create_new`, ….
pub fn options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    options
}

/// Creates `path`, which must not exist yet, owner-only.
pub fn create_new(path: &Path) -> io::Result<File> {
    options().create_new(true).open(path)
}

/// Narrows an existing file to owner-only (files of older versions, copies).
pub fn restrict_file(path: &Path) -> io::Result<()> {
    restrict(path, FILE_MODE)
}

fn restrict(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let current = std::fs::metadata(path)?.permissions().mode() & 0o7777;
        if current & !mode != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(current & mode))?;
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn what_is_created_or_narrowed_here_is_owner_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        create_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        let file = dir.join("f");
        create_new(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        assert!(
            create_new(&file).is_err(),
            "an existing file is never replaced"
        );

        let old = tmp.path().join("old");
        std::fs::write(&old, b"x").unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
        restrict_file(&old).unwrap();
        assert_eq!(mode(&old), 0o600);
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o400)).unwrap();
        restrict_file(&old).unwrap();
        assert_eq!(mode(&old), 0o400, "never widened");
        let shared = tmp.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).unwrap();
        create_dir(&shared).unwrap();
        assert_eq!(mode(&shared), 0o700);
    }
}
