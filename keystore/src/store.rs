//! The keystore: a redb database, the unsealed root key and the in-memory state.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use minkms_hsm::{BackendSet, SealedBlob, SealingBackend};
use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use redb::{Database, ReadableTable};
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::load::Loader;
use crate::state::Change;
use crate::storage::{
    self, META, META_CLUSTER_ID, META_COMMIT, META_FORKED_FROM, META_FORMAT, META_REK_PREFIX,
    META_REPLICATION, META_ROOT_IDENTITY, RECORDS, REK_CONTEXT,
};
use crate::{Command, Error, KeyMaterial, OpenError, State, StorageFailure};

/// The database file inside a node's directory (the seeds' `rm DIR/kms.db`).
pub const DB_FILE: &str = "kms.db";

/// Facts about an open keystore that the banner and status show.
#[derive(Debug, Clone)]
pub struct StoreInfo {
    /// The cluster id, chosen when the database was created.
    pub cluster_id: Uuid,
    /// The backend that unsealed it on this start.
    pub unsealed_by: String,
    /// Whether this start created the database.
    pub created: bool,
    /// The cluster this node left with `rm --delete-cluster`, while the fork is not accepted:
    /// it holds a copy of that cluster's keys, so its writes are fenced.
    pub forked_from: Option<Uuid>,
}

/// A node's keystore. Reads go through [`Keystore::state`]; writes through [`Keystore::apply`].
pub struct Keystore {
    db: Database,
    /// Replaced only when a joining node installs its cluster's snapshot.
    rek: RwLock<KeyMaterial>,
    state: RwLock<State>,
    /// Serializes writers: a write is planned against the state it will change.
    writer: Mutex<()>,
    commit: AtomicU64,
    info: RwLock<StoreInfo>,
}

/// A node's whole committed state, as a joining node receives it: records still sealed under
/// the root key, and the root key sealed by the HSMs (the joiner unseals it with its own).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// The cluster's id.
    pub cluster_id: Uuid,
    /// `commit` at the snapshot.
    pub commit: u64,
    /// `records` table: key → sealed value.
    pub records: Vec<(String, Vec<u8>)>,
    /// Sealed root keys: HSM id → blob.
    pub sealed_keys: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for Keystore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keystore")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Keystore {
    /// Opens `dir/kms.db`, or creates it (with a fresh root key sealed by every backend of
    /// `hsms`) when there is none. An existing database that no configured HSM can unseal is
    /// left exactly as it was.
    pub fn open_or_create(dir: &Path, hsms: &BackendSet) -> Result<Self, OpenError> {
        let path = dir.join(DB_FILE);
        let created = !path.exists();
        if created {
            create(dir, &path, hsms)?;
        } else {
            // Made by an older version, or restored by hand, with the umask's modes. Best
            // effort: a directory owned by someone else is the operator's choice.
            if let Err(e) = crate::private_files::create_dir(dir)
                .and_then(|()| crate::private_files::restrict_file(&path))
            {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot make the data directory owner-only");
            }
        }
        let (blobs, repaired) = read_blobs(&path)?;
        let unsealed = hsms.unseal(&blobs, REK_CONTEXT)?;
        if let Some(copy) = repaired {
            copy.install(dir, &path)?;
        }
        let rek = KeyMaterial::from_slice(unsealed.secret.expose_secret())
            .map_err(|_| StorageFailure::new("sealed root key has the wrong length"))?;
        let db = Database::builder()
            .set_cache_size(DB_CACHE_BYTES)
            .create(&path)?;
        rewrap(&db, &rek, hsms, &blobs)?;
        let (state, commit, cluster_id, forked_from) = load(&db, &rek)?;
        Ok(Self {
            db,
            rek: RwLock::new(rek),
            state: RwLock::new(state),
            writer: Mutex::new(()),
            commit: AtomicU64::new(commit),
            info: RwLock::new(StoreInfo {
                cluster_id,
                unsealed_by: unsealed.backend_id,
                created,
                forked_from,
            }),
        })
    }

    /// The committed state, for reads. Hold the guard briefly: writers wait for it.
    pub fn state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read()
    }

    /// Facts for the banner and status.
    pub fn info(&self) -> StoreInfo {
        self.info.read().clone()
    }

    /// Number of state changes applied since the database was created.
    pub fn commit_index(&self) -> u64 {
        self.commit.load(Ordering::Acquire)
    }

    /// The ids of the HSMs that have a sealed root key in the database.
    pub fn sealed_by(&self) -> Result<Vec<String>, Error> {
        read_blob_ids(&self.db).map_err(|e| StorageFailure::from(e).into())
    }

    /// Seals the root key with `backend` and stores the blob (`CLUSTER:ADDHSM`). An existing
    /// blob of that HSM is replaced only with `overwrite`. Calls the HSM: blocking.
    pub fn add_sealed_key(
        &self,
        backend: &dyn SealingBackend,
        overwrite: bool,
    ) -> Result<(), Error> {
        let key = format!("{META_REK_PREFIX}{}", backend.id());
        let exists = || -> Result<bool, Error> {
            let txn = self.db.begin_read()?;
            Ok(txn.open_table(META)?.get(key.as_str())?.is_some())
        };
        if exists()? && !overwrite {
            return Err(Error::Conflict(format!(
                "HSM {} already has a sealed root encryption key",
                backend.id()
            )));
        }
        // The HSM call (maybe over the network) happens before any lock is taken.
        let blob = backend
            .seal(self.rek.read().bytes(), REK_CONTEXT)
            .map_err(|e| Error::Unavailable(format!("HSM {}: {e}", backend.id())))?;
        let _writer = self.writer.lock();
        let txn = self.db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            if meta.get(key.as_str())?.is_some() && !overwrite {
                return Err(Error::Invalid(format!(
                    "HSM {} already has a sealed root encryption key",
                    backend.id()
                )));
            }
            meta.insert(key.as_str(), blob.to_bytes().as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Deletes the sealed root key of HSM `id` (`CLUSTER:REMOVEHSM`); never the last one.
    pub fn remove_sealed_key(&self, id: &str) -> Result<(), Error> {
        let _writer = self.writer.lock();
        let sealed_by = self.sealed_by()?;
        if !sealed_by.iter().any(|s| s == id) {
            return Err(Error::NoSealedKey(id.to_string()));
        }
        if sealed_by.len() == 1 {
            return Err(Error::Conflict(format!(
                "HSM {id} holds the last sealed root encryption key: it cannot be removed"
            )));
        }
        let key = format!("{META_REK_PREFIX}{id}");
        let txn = self.db.begin_write()?;
        txn.open_table(META)?.remove(key.as_str())?;
        txn.commit()?;
        Ok(())
    }

    /// Applies a write: checks it, makes it durable, then makes it visible. Either all of it
    /// happens or none of it.
    pub fn apply(&self, cmd: &Command) -> Result<(), Error> {
        let _writer = self.writer.lock();
        let changes = self.state.read().plan(cmd)?;
        let commit = self.commit_index() + 1;
        self.write_changes(changes, commit, None)
    }

    /// Applies several writes in one durable transaction (group commit: one fsync for all),
    /// each planned against the state the ones before it left. One result per command; a
    /// command that does not fit changes nothing. The commit counter counts the transaction
    /// once. If the transaction fails, nothing of it is applied and the state is reloaded.
    pub fn apply_all(&self, cmds: &[Command]) -> Result<Vec<Result<(), Error>>, Error> {
        let _writer = self.writer.lock();
        let mut state = self.state.write();
        let mut outcomes = Vec::with_capacity(cmds.len());
        let mut all = Vec::new();
        for cmd in cmds {
            match state.plan(cmd) {
                Ok(changes) => {
                    state.apply(changes.clone());
                    all.extend(changes);
                    outcomes.push(Ok(()));
                }
                Err(e) => outcomes.push(Err(e)),
            }
        }
        let commit = self.commit_index() + 1;
        let written = self.write_txn(&all, commit, None);
        if let Err(e) = written {
            // The in-memory state ran ahead of the disk: put it back.
            let (fresh, ..) = load(&self.db, &self.rek.read()).map_err(StorageFailure::from)?;
            *state = fresh;
            return Err(e);
        }
        self.commit.store(commit, Ordering::Release);
        Ok(outcomes)
    }

    /// Checks a write against the committed state without applying it.
    pub fn check(&self, cmd: &Command) -> Result<(), Error> {
        self.state.read().plan(cmd).map(|_| ())
    }

    /// Applies replicated entry `index`: the command (none for a membership change) and the
    /// replication state, in one durable transaction. A command that no longer fits the state
    /// (two queued creates of one key) changes nothing, on every node alike, but still uses up
    /// its index; its error is returned.
    pub fn apply_at(
        &self,
        index: u64,
        cmd: Option<&Command>,
        replication: &[u8],
    ) -> Result<Result<(), Error>, Error> {
        let _writer = self.writer.lock();
        let planned = match cmd {
            Some(cmd) => self.state.read().plan(cmd),
            None => Ok(Vec::new()),
        };
        let (changes, outcome) = match planned {
            Ok(changes) => (changes, Ok(())),
            Err(e @ (Error::Storage(_) | Error::Unavailable(_))) => return Err(e),
            Err(e) => (Vec::new(), Err(e)),
        };
        self.write_changes(changes, index, Some(replication))?;
        Ok(outcome)
    }

    fn write_changes(
        &self,
        changes: Vec<Change>,
        commit: u64,
        replication: Option<&[u8]>,
    ) -> Result<(), Error> {
        self.write_txn(&changes, commit, replication)?;
        self.state.write().apply(changes);
        self.commit.store(commit, Ordering::Release);
        Ok(())
    }

    /// Writes `changes`, the commit counter and the replication state in one durable
    /// transaction (the disk half of every write).
    fn write_txn(
        &self,
        changes: &[Change],
        commit: u64,
        replication: Option<&[u8]>,
    ) -> Result<(), Error> {
        let txn = self.db.begin_write()?;
        {
            let rek = self.rek.read();
            let mut records = txn.open_table(RECORDS)?;
            for change in changes {
                let (key, value) = storage::encode(change)?;
                match value {
                    Some(plain) => {
                        records
                            .insert(key.as_str(), storage::seal(&rek, &key, &plain)?.as_slice())?;
                    }
                    None => {
                        records.remove(key.as_str())?;
                    }
                }
            }
            let mut meta = txn.open_table(META)?;
            meta.insert(META_COMMIT, commit.to_be_bytes().as_slice())?;
            if let Some(r) = replication {
                meta.insert(META_REPLICATION, seal_replication(&rek, r)?.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// The replication state last persisted (`None` before the first start of replication).
    pub fn replication(&self) -> Result<Option<Vec<u8>>, Error> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        let Some(sealed) = meta.get(META_REPLICATION)? else {
            return Ok(None);
        };
        let plain = storage::open(&*self.rek.read(), REPLICATION_KEY, sealed.value())?;
        Ok(Some(plain.to_vec()))
    }

    /// Persists the replication state durably (votes, terms, the open slot).
    pub fn persist_replication(&self, replication: &[u8]) -> Result<(), Error> {
        let sealed = seal_replication(&self.rek.read(), replication)?;
        let txn = self.db.begin_write()?;
        txn.open_table(META)?
            .insert(META_REPLICATION, sealed.as_slice())?;
        txn.commit()?;
        Ok(())
    }

    /// The committed state, sealed as it is on disk (a joining node's snapshot, a backup's
    /// body). One read transaction: consistent, and writers are not held up.
    pub fn export(&self) -> Result<Snapshot, Error> {
        let txn = self.db.begin_read()?;
        let mut records = Vec::new();
        for entry in txn.open_table(RECORDS)?.iter()? {
            let (k, v) = entry?;
            records.push((k.value().to_string(), v.value().to_vec()));
        }
        let meta = txn.open_table(META)?;
        let commit = meta
            .get(META_COMMIT)?
            .and_then(|v| <[u8; 8]>::try_from(v.value()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0);
        let mut sealed_keys = Vec::new();
        for entry in meta.range(META_REK_PREFIX..)? {
            let (k, v) = entry?;
            match k.value().strip_prefix(META_REK_PREFIX) {
                Some(id) => sealed_keys.push((id.to_string(), v.value().to_vec())),
                None => break,
            }
        }
        Ok(Snapshot {
            cluster_id: self.info.read().cluster_id,
            commit,
            records,
            sealed_keys,
        })
    }

    /// A backup file of the committed state (docs/formats.md §5), taken while serving.
    pub fn backup(&self) -> Result<Vec<u8>, Error> {
        let snapshot = self.export()?;
        crate::backup::encode(&snapshot, &self.rek.read())
    }

    /// Replaces this node's whole state with a cluster's snapshot (a joining node). The root
    /// key is unsealed with this node's HSMs first: a snapshot of another HSM key changes
    /// nothing. Every record is checked before anything is written.
    pub fn install(
        &self,
        snapshot: &Snapshot,
        hsms: &BackendSet,
        replication: &[u8],
    ) -> Result<(), Error> {
        let (rek, unsealed_by) = unseal_snapshot(snapshot, hsms)?;
        self.replace(
            snapshot,
            rek,
            unsealed_by,
            snapshot.cluster_id,
            snapshot.commit,
            replication,
        )
    }

    /// Restores a backup file onto this node (`PUT /v1/db`): the file is checked whole (framing,
    /// root key unsealed by one of this node's HSMs, MAC, every record) before anything is
    /// written. The node keeps its cluster id; its commit becomes one more than both its own and
    /// the backup's, so it never goes back. `replication` makes the replication state for that
    /// commit (if it fails, nothing is written). Returns the new commit.
    pub fn restore(
        &self,
        file: &[u8],
        hsms: &BackendSet,
        replication: impl FnOnce(u64) -> Result<Vec<u8>, Error>,
    ) -> Result<u64, Error> {
        let parsed = crate::backup::parse(file)?;
        let (rek, unsealed_by) = unseal_snapshot(&parsed.snapshot, hsms)?;
        parsed.verify(&rek)?;
        let commit = parsed.snapshot.commit.max(self.commit_index()) + 1;
        let cluster_id = self.info.read().cluster_id;
        let replication = replication(commit)?;
        self.replace(
            &parsed.snapshot,
            rek,
            unsealed_by,
            cluster_id,
            commit,
            &replication,
        )?;
        Ok(commit)
    }

    fn replace(
        &self,
        snapshot: &Snapshot,
        rek: KeyMaterial,
        unsealed_by: String,
        cluster_id: Uuid,
        commit: u64,
        replication: &[u8],
    ) -> Result<(), Error> {
        let mut loader = Loader::new(&rek)?;
        for (k, v) in &snapshot.records {
            loader.push(k, v)?;
        }
        let state = loader.finish()?;
        let _writer = self.writer.lock();
        let txn = self.db.begin_write()?;
        {
            let mut records = txn.open_table(RECORDS)?;
            let old: Vec<String> = records
                .iter()?
                .map(|e| e.map(|(k, _)| k.value().to_string()))
                .collect::<Result<_, _>>()?;
            for k in old {
                records.remove(k.as_str())?;
            }
            for (k, v) in &snapshot.records {
                records.insert(k.as_str(), v.as_slice())?;
            }
            let mut meta = txn.open_table(META)?;
            let old_keys: Vec<String> = read_blob_ids(&self.db).map_err(StorageFailure::from)?;
            for id in old_keys {
                meta.remove(format!("{META_REK_PREFIX}{id}").as_str())?;
            }
            for (id, blob) in &snapshot.sealed_keys {
                meta.insert(format!("{META_REK_PREFIX}{id}").as_str(), blob.as_slice())?;
            }
            meta.insert(META_CLUSTER_ID, cluster_id.as_bytes().as_slice())?;
            meta.insert(META_COMMIT, commit.to_be_bytes().as_slice())?;
            meta.insert(
                META_REPLICATION,
                seal_replication(&rek, replication)?.as_slice(),
            )?;
        }
        txn.commit()?;
        *self.state.write() = state;
        *self.rek.write() = rek;
        self.commit.store(commit, Ordering::Release);
        let mut info = self.info.write();
        info.cluster_id = cluster_id;
        info.unsealed_by = unsealed_by;
        Ok(())
    }

    /// Gives this node a new cluster id (it leaves its cluster and starts a new one alone),
    /// and remembers the old one: a fork, fenced until [`Keystore::accept_fork`].
    pub fn reset_cluster(&self, replication: &[u8]) -> Result<Uuid, Error> {
        let id = Uuid::new_v4();
        let sealed = seal_replication(&self.rek.read(), replication)?;
        let _writer = self.writer.lock();
        let old = self.info.read().cluster_id;
        let txn = self.db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            meta.insert(META_CLUSTER_ID, id.as_bytes().as_slice())?;
            meta.insert(META_REPLICATION, sealed.as_slice())?;
            meta.insert(META_FORKED_FROM, old.as_bytes().as_slice())?;
        }
        txn.commit()?;
        let mut info = self.info.write();
        info.cluster_id = id;
        info.forked_from = Some(old);
        Ok(id)
    }

    /// Records `identity` as this start's root identity; the previous start's when it was a
    /// different one (the communication HSM changed, and with it the root API key). The
    /// first start of a database, or of one written before this was recorded, has none.
    pub fn note_root_identity(&self, identity: &str) -> Result<Option<String>, Error> {
        let _writer = self.writer.lock();
        let txn = self.db.begin_write()?;
        let previous = {
            let mut meta = txn.open_table(META)?;
            let previous = meta
                .get(META_ROOT_IDENTITY)?
                .map(|v| String::from_utf8_lossy(v.value()).into_owned());
            if previous.as_deref() != Some(identity) {
                meta.insert(META_ROOT_IDENTITY, identity.as_bytes())?;
            }
            previous
        };
        txn.commit()?;
        Ok(previous.filter(|p| p != identity))
    }

    /// The cluster this node forked from, while the fork is not accepted.
    pub fn forked_from(&self) -> Option<Uuid> {
        self.info.read().forked_from
    }

    /// The operator accepts that this node, removed with `--delete-cluster`, runs as a cluster
    /// of its own: its writes are no longer fenced. Whether it was a fork.
    pub fn accept_fork(&self) -> Result<bool, Error> {
        let _writer = self.writer.lock();
        let txn = self.db.begin_write()?;
        let was = txn.open_table(META)?.remove(META_FORKED_FROM)?.is_some();
        txn.commit()?;
        self.info.write().forked_from = None;
        Ok(was)
    }
}

/// The name the replication state is sealed under (bound as associated data, like a record's).
const REPLICATION_KEY: &str = "meta/replication";

/// The replication state holds the open slot and the last applied entry, i.e. whole commands
/// with their key material: it is sealed under the root key like every record.
fn seal_replication(rek: &KeyMaterial, replication: &[u8]) -> Result<Vec<u8>, Error> {
    storage::seal(rek, REPLICATION_KEY, replication)
}

/// Unseals a snapshot's root key with one of `hsms`; the key and the HSM that opened it.
fn unseal_snapshot(snapshot: &Snapshot, hsms: &BackendSet) -> Result<(KeyMaterial, String), Error> {
    let blobs = snapshot
        .sealed_keys
        .iter()
        .map(|(_, b)| SealedBlob::from_bytes(b))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Invalid(format!("invalid snapshot: {e}")))?;
    let unsealed = hsms.unseal(&blobs, REK_CONTEXT).map_err(|e| {
        Error::Invalid(format!(
            "cannot unseal the root key with this node's HSMs (was it sealed with another HSM key?): {e}"
        ))
    })?;
    let rek = KeyMaterial::from_slice(unsealed.secret.expose_secret())?;
    Ok((rek, unsealed.backend_id))
}

fn create(dir: &Path, path: &Path, hsms: &BackendSet) -> Result<(), OpenError> {
    crate::private_files::create_dir(dir)?;
    let rek = KeyMaterial::generate();
    let mut blobs = Vec::new();
    for backend in hsms.backends() {
        let blob = backend
            .seal(rek.bytes(), REK_CONTEXT)
            .map_err(|source| OpenError::Seal {
                backend: backend.id().to_string(),
                source,
            })?;
        blobs.push(blob);
    }
    // Build the database under a temporary name and rename it into place: a crash during
    // creation leaves no half-made kms.db behind.
    let tmp: PathBuf = path.with_extension("db.tmp");
    let _ = std::fs::remove_file(&tmp);
    // redb creates files with the umask's mode: the file exists, owner-only, before it opens it.
    crate::private_files::create_new(&tmp)?;
    {
        let db = Database::create(&tmp)?;
        let txn = db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            meta.insert(META_FORMAT, storage::FORMAT_V1)?;
            meta.insert(META_CLUSTER_ID, Uuid::new_v4().as_bytes().as_slice())?;
            meta.insert(META_COMMIT, 0u64.to_be_bytes().as_slice())?;
            for blob in &blobs {
                let key = format!("{META_REK_PREFIX}{}", blob.backend_id());
                meta.insert(key.as_str(), blob.to_bytes().as_slice())?;
            }
            txn.open_table(RECORDS)?;
        }
        txn.commit()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// Reads the sealed root-key blobs without changing the database file: a database nobody can
/// unseal must be left exactly as it was. A file that was not closed cleanly needs redb's
/// repair, which writes; then the blobs are read from a copy beside it (`kms.db.repair`),
/// repaired, which becomes the database once unsealing succeeded ([`RepairedCopy::install`])
/// and is deleted otherwise. The copy is made beside the database, not in the temp directory:
/// it needs room as large as the database, and a rename into place spares the second repair
/// (at 10 million keys, seconds of a restart).
fn read_blobs(path: &Path) -> Result<(Vec<SealedBlob>, Option<RepairedCopy>), OpenError> {
    let opened = Database::builder()
        .set_repair_callback(|session| session.abort())
        .open(path);
    match opened {
        Ok(db) => Ok((blobs_of(&db, path)?, None)),
        Err(redb::DatabaseError::RepairAborted) => {
            let copy = RepairedCopy(path.with_extension("db.repair"));
            // Left by a start that stopped half-way: never the database itself.
            let _ = std::fs::remove_file(&copy.0);
            std::fs::File::open(path)
                .and_then(|mut db| {
                    std::io::copy(&mut db, &mut crate::private_files::create_new(&copy.0)?)
                })
                .map_err(|e| StorageFailure::context(COPY_FAILED, e))?;
            let blobs = {
                let db = Database::builder()
                    .set_cache_size(DB_CACHE_BYTES)
                    .open(&copy.0)?;
                blobs_of(&db, path)?
            };
            Ok((blobs, Some(copy)))
        }
        Err(e) => Err(e.into()),
    }
}

/// What a start after a crash says when the repaired copy cannot be made (a full disk, or
/// something in its way): the cause follows.
const COPY_FAILED: &str =
    "kms.db was not closed cleanly: cannot copy it to kms.db.repair to repair it there";

/// A repaired copy of a database that was not closed cleanly; deleted when dropped, unless
/// installed.
struct RepairedCopy(PathBuf);

impl RepairedCopy {
    /// Makes the copy the database `path` in `dir`: durable first, then renamed over it, so a
    /// crash leaves either file whole.
    fn install(mut self, dir: &Path, path: &Path) -> Result<(), OpenError> {
        std::fs::File::open(&self.0)?.sync_all()?;
        std::fs::rename(&self.0, path)?;
        self.0 = PathBuf::new();
        std::fs::File::open(dir)?.sync_all()?;
        Ok(())
    }
}

impl Drop for RepairedCopy {
    fn drop(&mut self) {
        if self.0.as_os_str().is_empty() {
            return; // installed
        }
        let _ = std::fs::remove_file(&self.0);
    }
}

fn blobs_of(db: &Database, path: &Path) -> Result<Vec<SealedBlob>, OpenError> {
    let txn = db.begin_read()?;
    let meta = txn.open_table(META)?;
    match meta.get(META_FORMAT)? {
        Some(v) if v.value() == storage::FORMAT_V1 => {}
        _ => {
            return Err(
                StorageFailure::new(format!("{} has an unknown format", path.display())).into(),
            )
        }
    }
    let mut blobs = Vec::new();
    for entry in meta.range(META_REK_PREFIX..)? {
        let (k, v) = entry?;
        if !k.value().starts_with(META_REK_PREFIX) {
            break;
        }
        let blob = SealedBlob::from_bytes(v.value())
            .map_err(|e| StorageFailure::context(format!("sealed root key {}", k.value()), e))?;
        blobs.push(blob);
    }
    if blobs.is_empty() {
        return Err(StorageFailure::new(format!(
            "{} holds no sealed root encryption key",
            path.display()
        ))
        .into());
    }
    Ok(blobs)
}

fn read_blob_ids(db: &Database) -> Result<Vec<String>, OpenError> {
    let txn = db.begin_read()?;
    let meta = txn.open_table(META)?;
    let mut ids = Vec::new();
    for entry in meta.range(META_REK_PREFIX..)? {
        let (k, _) = entry?;
        match k.value().strip_prefix(META_REK_PREFIX) {
            Some(id) => ids.push(id.to_string()),
            None => break,
        }
    }
    Ok(ids)
}

/// Seals the root key for every configured backend that has no blob yet.
fn rewrap(
    db: &Database,
    rek: &KeyMaterial,
    hsms: &BackendSet,
    blobs: &[SealedBlob],
) -> Result<(), OpenError> {
    let missing: Vec<_> = hsms.missing(blobs).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        for backend in missing {
            let blob =
                backend
                    .seal(rek.bytes(), REK_CONTEXT)
                    .map_err(|source| OpenError::Seal {
                        backend: backend.id().to_string(),
                        source,
                    })?;
            let key = format!("{META_REK_PREFIX}{}", backend.id());
            meta.insert(key.as_str(), blob.to_bytes().as_slice())?;
        }
    }
    txn.commit()?;
    Ok(())
}

/// redb's page cache. Reads are served from memory, never from redb: its cache only speeds
/// the path a write walks and the one pass of start-up, which reads each page once. redb's
/// default (1 GiB) keeps every page start-up read, up to that size, for the life of the
/// process; this bound is the memory a node keeps for it (docs/decisions.md, "Memory per
/// key").
const DB_CACHE_BYTES: usize = 64 << 20;

/// What a database holds: its state, commit, cluster id and the cluster it forked from.
type Loaded = (State, u64, Uuid, Option<Uuid>);

fn load(db: &Database, rek: &KeyMaterial) -> Result<Loaded, OpenError> {
    let txn = db.begin_read()?;
    let meta = txn.open_table(META)?;
    let commit = meta
        .get(META_COMMIT)?
        .and_then(|v| <[u8; 8]>::try_from(v.value()).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0);
    let cluster_id = meta
        .get(META_CLUSTER_ID)?
        .and_then(|v| Uuid::from_slice(v.value()).ok())
        .ok_or_else(|| StorageFailure::new("database has no cluster id"))?;
    let forked_from = meta
        .get(META_FORKED_FROM)?
        .and_then(|v| Uuid::from_slice(v.value()).ok());
    let records = txn.open_table(RECORDS)?;
    let mut loader = Loader::new(rek).map_err(StorageFailure::caused_by)?;
    for entry in records.iter()? {
        let (k, v) = entry?;
        loader
            .push(k.value(), v.value())
            .map_err(StorageFailure::caused_by)?;
    }
    let state = loader.finish().map_err(StorageFailure::caused_by)?;
    Ok((state, commit, cluster_id, forked_from))
}
