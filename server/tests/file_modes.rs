//! Files and directories the node and the CLI create are readable by their owner only, under
//! the usual umask 022: the database, its directory, the audit log and backups. A backup is
//! never written over an existing file unless the operator says so.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use minkms_testkit::{runtime, soft_hsm_key, Node};

/// Every path under `root` (itself included), with its mode.
fn modes(root: &Path) -> Vec<(String, u32)> {
    let mut out = vec![(
        root.display().to_string(),
        std::fs::metadata(root).unwrap().permissions().mode() & 0o777,
    )];
    if root.is_dir() {
        for entry in std::fs::read_dir(root).unwrap() {
            out.extend(modes(&entry.unwrap().path()));
        }
    }
    out
}

#[test]
fn what_the_node_and_the_cli_create_is_owner_only() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    let tmp = tempfile::tempdir().unwrap();
    let audit = tmp.path().join("audit.log");
    let node = Node::start_with_audit(tmp.path(), &audit);
    let data = tmp.path().join("kms");
    runtime().block_on(async {
        let root = node.root();
        root.create_enclave("tenant").await.unwrap();
        root.create_key("tenant", "k", "", false).await.unwrap();
    });
    let backup = tmp.path().join("state.backup");
    node.cli(&["backup", backup.to_str().unwrap()]);

    // An existing backup is kept unless --force.
    let again = node.cli_as(&node.root_api_key, &["backup", backup.to_str().unwrap()]);
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("exists") && stderr.contains("--force"),
        "{stderr}"
    );
    node.cli(&["backup", "--force", backup.to_str().unwrap()]);
    assert_eq!(node.terminate(), Some(0));

    let mut created = modes(&data);
    created.extend(modes(&audit));
    created.extend(modes(&backup));
    assert!(created.len() >= 4, "{created:?}");
    for (path, mode) in created {
        assert_eq!(mode & 0o077, 0, "{path} is {mode:o}");
    }
}

/// A data directory and database made by an older version (or by hand) with the umask's
/// modes are narrowed when the node opens them.
#[test]
fn an_existing_data_directory_is_narrowed_on_start() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("kms");
    let key = soft_hsm_key();
    let node = Node::start(&data, &key);
    assert_eq!(node.terminate(), Some(0));
    for path in [data.clone(), data.join("kms.db")] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let node = Node::start(&data, &key);
    for (path, mode) in modes(&data) {
        assert_eq!(mode & 0o077, 0, "{path} is {mode:o}");
    }
    assert_eq!(node.terminate(), Some(0));
}
