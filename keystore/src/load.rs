//! Reading every stored record into memory (start-up, restores, installed snapshots) on every
//! core: records are read in storage order by the caller, opened and decoded in chunks by one
//! worker per core, and applied in storage order. Opening (a sub-key, an AES key schedule and
//! the GCM pass) and decoding are most of a record's cost, and start-up with millions of keys
//! is bound by them (BENCHMARKING.md, "One enclave of 10 million keys").

use std::collections::BTreeMap;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use crate::aead::{KeyedMac, MasterKey};
use crate::model::KeyRecord;
use crate::state::{Change, KeyRun, Loading};
use crate::{storage, Error, KeyMaterial, State, StorageFailure};

/// Records per chunk: enough that handing a chunk over costs nothing next to opening it.
const CHUNK_RECORDS: usize = 2048;

/// The root key with its keyed MAC state, made once for every record.
struct Root {
    material: KeyMaterial,
    mac: KeyedMac,
}

/// Stored records, copied out of the database, for one worker.
#[derive(Default)]
struct Chunk {
    /// The records' keys, one after the other.
    keys: String,
    values: Vec<u8>,
    /// Where each record's key ends in `keys` and its value in `values`.
    ends: Vec<(usize, usize)>,
    /// Room for the chunk's first run of keys, handed back emptied by the run before.
    run: KeyRun,
}

impl Chunk {
    fn clear(&mut self) {
        self.keys.clear();
        self.values.clear();
        self.ends.clear();
    }
}

/// A chunk's number, what it decoded to, and its buffers, emptied for the next chunk.
type Done = (u64, Result<Vec<Part>, Error>, Chunk);

/// Takes records in storage order ([`Loader::push`]) and gives the state they make
/// ([`Loader::finish`]).
pub(crate) struct Loader {
    /// The workers' queue: they end once it is gone (a load finished, or given up on an
    /// error and dropped).
    jobs: Option<mpsc::SyncSender<(u64, Chunk)>>,
    done: mpsc::Receiver<Done>,
    workers: Vec<JoinHandle<()>>,
    chunk: Chunk,
    /// Buffers of chunks decoded, for the next ones: fresh ones would each be mapped and
    /// faulted in anew.
    spare: Vec<Chunk>,
    /// Runs of keys moved into the state, emptied, for the next chunks.
    runs: Vec<KeyRun>,
    /// Chunks sent, and the number of the next one to apply.
    sent: u64,
    next: u64,
    /// Chunks decoded before the ones ahead of them.
    early: BTreeMap<u64, Vec<Part>>,
    loading: Loading,
}

impl Loader {
    pub(crate) fn new(rek: &KeyMaterial) -> Result<Self, Error> {
        let root = Arc::new(Root {
            material: rek.clone(),
            mac: KeyedMac::new(rek.bytes()),
        });
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(16));
        let (jobs, queue) = mpsc::sync_channel::<(u64, Chunk)>(2 * workers);
        let queue = Arc::new(Mutex::new(queue));
        let (finished, done) = mpsc::channel::<Done>();
        let workers = (0..workers)
            .map(|_| {
                let (root, queue, finished) = (root.clone(), queue.clone(), finished.clone());
                std::thread::Builder::new()
                    .name("minkms-load".into())
                    .spawn(move || loop {
                        let job = queue
                            .lock()
                            .map_err(drop)
                            .and_then(|q| q.recv().map_err(drop));
                        let Ok((number, mut chunk)) = job else { return };
                        let parts = open(&root, &mut chunk);
                        chunk.clear();
                        if finished.send((number, parts, chunk)).is_err() {
                            return;
                        }
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            jobs: Some(jobs),
            done,
            workers,
            chunk: Chunk::default(),
            spare: Vec::new(),
            runs: Vec::new(),
            sent: 0,
            next: 0,
            early: BTreeMap::new(),
            loading: Loading::default(),
        })
    }

    /// The next record in storage order.
    pub(crate) fn push(&mut self, key: &str, value: &[u8]) -> Result<(), Error> {
        let chunk = &mut self.chunk;
        chunk.keys.push_str(key);
        chunk.values.extend_from_slice(value);
        chunk.ends.push((chunk.keys.len(), chunk.values.len()));
        if chunk.ends.len() == CHUNK_RECORDS {
            self.send()?;
            while let Ok(done) = self.done.try_recv() {
                self.apply(done)?;
            }
        }
        Ok(())
    }

    /// The state of every record pushed.
    pub(crate) fn finish(mut self) -> Result<State, Error> {
        if !self.chunk.ends.is_empty() {
            self.send()?;
        }
        self.jobs = None;
        while self.next < self.sent {
            let done = self.done.recv().map_err(|_| lost())?;
            self.apply(done)?;
        }
        for worker in std::mem::take(&mut self.workers) {
            worker.join().map_err(|_| lost())?;
        }
        Ok(std::mem::take(&mut self.loading).finish())
    }

    fn send(&mut self) -> Result<(), Error> {
        let mut next = self.spare.pop().unwrap_or_default();
        next.run = self.runs.pop().unwrap_or_default();
        let chunk = std::mem::replace(&mut self.chunk, next);
        let jobs = self.jobs.as_ref().ok_or_else(lost)?;
        jobs.send((self.sent, chunk)).map_err(|_| lost())?;
        self.sent += 1;
        Ok(())
    }

    /// Applies a decoded chunk, and every one it held back, in storage order.
    fn apply(&mut self, (number, decoded, buffers): Done) -> Result<(), Error> {
        self.spare.push(buffers);
        self.early.insert(number, decoded?);
        while let Some(parts) = self.early.remove(&self.next) {
            for part in parts {
                match part {
                    Part::Keys(enclave, mut keys) => {
                        self.loading.add_keys(enclave, &mut keys);
                        self.runs.push(keys);
                    }
                    Part::Other(change) => self.loading.add(change),
                }
            }
            self.next += 1;
        }
        Ok(())
    }
}

fn lost() -> Error {
    StorageFailure::new("a worker reading the records stopped").into()
}

/// What a worker makes of a chunk, in storage order: runs of keys of one enclave, each key
/// as memory holds it, and the other records.
enum Part {
    Keys(String, KeyRun),
    Other(Change),
}

/// Opens and decodes a chunk.
fn open(root: &Root, chunk: &mut Chunk) -> Result<Vec<Part>, Error> {
    let key = MasterKey {
        material: root.material.bytes(),
        mac: Some(&root.mac),
    };
    let (mut key_start, mut value_start) = (0, 0);
    let mut parts = Vec::new();
    let mut run = std::mem::take(&mut chunk.run);
    for &(key_end, value_end) in &chunk.ends {
        let name = &chunk.keys[key_start..key_end];
        let plain = storage::open(key, name, &chunk.values[value_start..value_end])?;
        (key_start, value_start) = (key_end, value_end);
        let Some(enclave) = storage::key_record_enclave(name) else {
            parts.push(Part::Other(storage::decode(name, &plain)?));
            continue;
        };
        let (name, key) = storage::dec::<KeyRecord>(name, &plain)?.split();
        let entry = (name.into_boxed_str(), key);
        match parts.last_mut() {
            Some(Part::Keys(e, keys)) if e == enclave => keys.push(entry),
            _ => {
                let mut keys = std::mem::take(&mut run);
                keys.push(entry);
                parts.push(Part::Keys(enclave.to_string(), keys));
            }
        }
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EnclaveRecord, KeyRecord, KeyVersion, Versions};
    use crate::{KeyType, Timestamp};

    /// `n` keys of enclave `e` as stored (sealed under `rek`), after the enclave's record.
    fn records(rek: &KeyMaterial, n: usize) -> Vec<(String, Vec<u8>)> {
        records_of(rek, &[("e", n)])
    }

    /// The records of enclaves and of `n` keys in each, in storage order.
    fn records_of(rek: &KeyMaterial, enclaves: &[(&str, usize)]) -> Vec<(String, Vec<u8>)> {
        let at = Timestamp::now();
        let mut changes = Vec::new();
        for (enclave, _) in enclaves {
            changes.push(Change::PutEnclave(EnclaveRecord {
                name: enclave.to_string(),
                created_at: at,
                created_by: "root".into(),
            }));
        }
        for (enclave, i) in enclaves
            .iter()
            .flat_map(|(e, n)| (0..*n).map(move |i| (e, i)))
        {
            let mut versions = Versions::default();
            versions.insert(KeyVersion {
                version: 1,
                kind: KeyType::Aes256,
                material: KeyMaterial::generate(),
                imported: false,
                created_at: at,
                created_by: "root".into(),
                mac: Default::default(),
            });
            let record = KeyRecord {
                name: format!("k{i:06}"),
                next_version: 2,
                versions,
            };
            changes.push(Change::PutKey(enclave.to_string(), record));
        }
        let mut stored: Vec<_> = changes
            .iter()
            .map(|c| {
                let (key, plain) = storage::encode(c).unwrap();
                let sealed = storage::seal(rek, &key, &plain.unwrap()).unwrap();
                (key, sealed)
            })
            .collect();
        stored.sort_by(|a, b| a.0.cmp(&b.0));
        stored
    }

    fn load(rek: &KeyMaterial, records: &[(String, Vec<u8>)]) -> Result<State, Error> {
        let mut loader = Loader::new(rek)?;
        for (k, v) in records {
            loader.push(k, v)?;
        }
        loader.finish()
    }

    /// Records spread over several chunks (and workers) all arrive, each under its own name.
    #[test]
    fn every_record_of_every_chunk_is_loaded() {
        let rek = KeyMaterial::generate();
        let n = 3 * CHUNK_RECORDS + 17;
        let state = load(&rek, &records(&rek, n)).unwrap();
        assert_eq!(state.key_count("e").unwrap(), n);
        let last = format!("k{:06}", n - 1);
        assert_eq!(state.key_info("e", &last, 0).unwrap().name, last);
        let page = state.list_keys("e", "", "", 5, |_| true).unwrap();
        let names: Vec<_> = page.items.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(
            names,
            ["k000000", "k000001", "k000002", "k000003", "k000004"]
        );
    }

    /// Keys of several enclaves in one chunk each land in their own enclave.
    #[test]
    fn keys_of_several_enclaves_in_one_chunk_stay_apart() {
        let rek = KeyMaterial::generate();
        let state = load(&rek, &records_of(&rek, &[("a", 3), ("a-b", 5), ("b", 7)])).unwrap();
        for (enclave, n) in [("a", 3), ("a-b", 5), ("b", 7)] {
            assert_eq!(state.key_count(enclave).unwrap(), n, "{enclave}");
        }
    }

    /// A damaged record anywhere fails the whole load, naming the record.
    #[test]
    fn a_damaged_record_fails_the_load() {
        let rek = KeyMaterial::generate();
        let mut records = records(&rek, 2 * CHUNK_RECORDS + 5);
        let damaged = CHUNK_RECORDS + 3;
        let last = records[damaged].1.len() - 1;
        records[damaged].1[last] ^= 1;
        let err = load(&rek, &records).expect_err("a damaged record is refused");
        assert!(
            err.to_string().contains(&records[damaged].0),
            "{err} names {}",
            records[damaged].0
        );
        assert!(load(&KeyMaterial::generate(), &records[..1]).is_err());
    }
}
