//! The command line (CLI.md): flags, environment variables and subcommands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// minkms: a distributed key manager, wire-compatible with MinIO KMS.
#[derive(Debug, Parser)]
#[command(
    name = "minkms",
    version,
    about,
    arg_required_else_help = true,
    args_conflicts_with_subcommands = true
)]
pub(crate) struct Cli {
    /// Print a freshly generated soft HSM key (hsm:aes256:...) and exit.
    #[arg(long)]
    pub(crate) soft_hsm: bool,
    #[command(subcommand)]
    pub(crate) command: Option<Cmd>,
}

/// How to reach and authenticate to a cluster.
#[derive(Debug, Args, Clone)]
pub(crate) struct Conn {
    /// Server(s), comma-separated; https:// is optional. There is no default: a command never
    /// reaches a node nobody named.
    #[arg(short = 's', long, env = "MINIO_KMS_SERVER", hide_env_values = true)]
    pub(crate) server: Option<String>,
    /// API key (k1:...).
    #[arg(
        short = 'a',
        long = "api-key",
        env = "MINIO_KMS_API_KEY",
        hide_env_values = true
    )]
    pub(crate) api_key: Option<String>,
    /// Trust servers whose certificates this CA issued: a PEM file, or a directory of them
    /// (a private CA). Without it, the system's roots.
    #[arg(
        long,
        env = "MINIO_KMS_CA",
        value_name = "PATH",
        hide_env_values = true
    )]
    pub(crate) ca: Option<PathBuf>,
    /// Accept any server certificate (self-signed development servers).
    #[arg(short = 'k', long, conflicts_with = "ca")]
    pub(crate) insecure: bool,
    /// Print JSON instead of human-readable output.
    #[arg(long)]
    pub(crate) json: bool,
}

impl Conn {
    /// The server(s) named; an error that says how to name one when none is (an empty
    /// `MINIO_KMS_SERVER` names none).
    pub(crate) fn server(&self) -> anyhow::Result<&str> {
        self.server
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no server: set MINIO_KMS_SERVER or --server (for example https://127.0.0.1:7373)"
                )
            })
    }

    /// The API key given; an empty `MINIO_KMS_API_KEY` counts as none, as an empty
    /// `MINIO_KMS_HSM_KEY` does.
    pub(crate) fn api_key(&self) -> Option<&str> {
        self.api_key.as_deref().filter(|k| !k.trim().is_empty())
    }
}

/// The enclave a command acts in.
#[derive(Debug, Args, Clone)]
pub(crate) struct Enclave {
    /// Enclave name.
    #[arg(short = 'e', long, env = "MINIO_KMS_ENCLAVE", hide_env_values = true)]
    pub(crate) enclave: Option<String>,
}

impl Enclave {
    /// The enclave named; an error that says how to name one when none is.
    pub(crate) fn name(&self) -> anyhow::Result<&str> {
        self.enclave
            .as_deref()
            .filter(|e| !e.trim().is_empty())
            .ok_or_else(|| anyhow::anyhow!("no enclave: set MINIO_KMS_ENCLAVE or --enclave"))
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum Cmd {
    /// Start a node with its state in DIR (kms.db). The first start creates a single-node cluster.
    #[command(after_help = "Environment:
  MINIO_KMS_HSM_KEY   the soft HSM key (hsm:aes256:...) that seals the database; 'minkms --soft-hsm'
                      makes one. Not needed when the config file names other HSMs, or with --dev.
  MINIO_KMS_LOG_LEVEL the log level (error, warn, info, debug, trace); overrides the config's
                      log.level")]
    Server {
        /// Address to listen on, HOST:PORT or :PORT [default: 0.0.0.0 (127.0.0.1 with --dev)
        /// on the port of --host, else on 7373].
        #[arg(long, visible_alias = "address")]
        addr: Option<String>,
        /// The name (HOST:PORT) this node is known by in its cluster: what other nodes and
        /// clients dial [default: 127.0.0.1 and the listen port].
        #[arg(long)]
        host: Option<String>,
        /// YAML configuration file (TLS, HSMs, limits, audit, log).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Development mode: loopback, self-signed TLS, a generated HSM key and, unless DIR is
        /// given, a new data directory under the system temp directory (kept after the node
        /// stops, so that it can be restarted; delete it when done).
        #[arg(long)]
        dev: bool,
        /// Log format (default: the config's log.format, else text).
        #[arg(long, value_enum)]
        log_format: Option<crate::logging::LogFormat>,
        /// Data directory.
        dir: Option<PathBuf>,
    },
    /// Print the identity of an API key, or the root API key and identity an HSM key yields; without an argument, generate a new API key.
    Identity {
        /// k1:..., kes:v1:... or hsm:aes256:... (each is also shown in KES's forms)
        key: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Print the key's client certificate and private key (PEM) instead, for tools that
        /// present it themselves: `curl --cert FILE`, Prometheus' `tls_config`.
        #[arg(long, conflicts_with = "json")]
        pem: bool,
    },
    #[command(flatten)]
    Cluster(ClusterCmd),
    #[command(flatten)]
    Hsm(HsmCmd),
    #[command(flatten)]
    Enclave(EnclaveCmd),
    #[command(flatten)]
    Key(KeyCmd),
    #[command(flatten)]
    Crypto(CryptoCmd),
    #[command(flatten)]
    Policy(PolicyCmd),
    #[command(flatten)]
    Identities(IdentityCmd),
    /// Move a KES deployment into an enclave: import the keys of a KES filesystem key store
    /// (their material, so KES's ciphertexts still open) and turn a KES config's policies and
    /// identities into minkms policies and identities (its admin becomes an Admin).
    ImportKes {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        enclave: Enclave,
        /// The KES filesystem key store (one file per key) [default: the config's
        /// keystore.fs.path].
        #[arg(long, value_name = "DIR")]
        keys: Option<PathBuf>,
        /// The KES config file whose `policy:` and `admin:` sections to carry over.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Follow a node's log (the first server given), as it happens.
    #[command(visible_alias = "logs")]
    Log {
        #[command(flatten)]
        conn: Conn,
        /// Lowest level shown: debug, info, warn or error.
        #[arg(long, default_value = "info")]
        level: String,
        /// Only records whose message contains this text.
        #[arg(long, default_value = "")]
        filter: String,
    },
    /// Record a CPU profile of a node (the first server given) and write it to FILE: a zip
    /// archive holding cpu.pprof, for `go tool pprof` or any other pprof viewer.
    Profile {
        #[command(flatten)]
        conn: Conn,
        /// How long to record, in seconds (Ctrl-C stops early and still writes the profile).
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Where to write the archive.
        file: PathBuf,
    },
    /// Load-test a server: ops/s, latency percentiles, server CPU per operation.
    Bench(super::bench::BenchArgs),
    /// Print the configuration file's reference (Markdown; docs/config.md).
    #[command(hide = true)]
    ConfigReference,
    /// Print every command's help as one Markdown page (docs/cli.md).
    #[command(hide = true)]
    CliReference,
    /// Serve the benchmark baseline (a bare hyper + rustls `KEY:GENERATE`; BENCHMARKING.md).
    #[command(hide = true)]
    BenchBaseline {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:7380")]
        addr: std::net::SocketAddr,
        /// The barest hyper + rustls server instead: a current-thread runtime, no client
        /// certificate asked for, hyper's default settings.
        #[arg(long)]
        bare: bool,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) of minkms, or write one page per command into a directory.
    Man {
        /// Write minkms.1 and minkms-COMMAND.1 for every command into this directory.
        dir: Option<PathBuf>,
        /// The same, as an option (older scripts).
        #[arg(long = "dir", hide = true, conflicts_with = "dir")]
        dir_option: Option<PathBuf>,
    },
    /// Print the version of this binary and of the server.
    Version {
        #[command(flatten)]
        conn: Conn,
    },
}

/// Commands on the cluster and its nodes.
#[derive(Debug, Subcommand)]
pub(crate) enum ClusterCmd {
    /// List the nodes of the cluster.
    Ls {
        #[command(flatten)]
        conn: Conn,
    },
    /// Show the status of every node of the cluster (a sealed node as sealed); exits 1 unless
    /// every node is up.
    Stat {
        #[command(flatten)]
        conn: Conn,
    },
    /// Add a fresh node to the cluster: `add HOST:PORT`, or `add SERVER HOST:PORT`.
    Add {
        #[command(flatten)]
        conn: Conn,
        /// [SERVER] HOST:PORT: the node to add, after an optional server of the cluster.
        #[arg(num_args = 1..=2, required = true, value_name = "[SERVER] HOST:PORT")]
        targets: Vec<String>,
    },
    /// Remove a healthy node from the cluster: `rm HOST:PORT|NODE-ID`, or `rm SERVER ...`.
    Rm {
        #[command(flatten)]
        conn: Conn,
        /// [SERVER] HOST:PORT|NODE-ID: the node to remove, after an optional server of the
        /// cluster.
        #[arg(num_args = 1..=2, required = true, value_name = "[SERVER] NODE")]
        targets: Vec<String>,
        /// Let the removed node start over as a new single-node cluster instead of refusing to
        /// start ("server not part of cluster"). It keeps a copy of every key and the same root
        /// API key: its writes are fenced until `minkms edit HOST --accept-fork`.
        #[arg(long)]
        delete_cluster: bool,
    },
    /// Force-remove dead nodes from SERVER's cluster definition, without write quorum (only
    /// for nodes that are permanently lost and wiped; one at a time), or accept that SERVER,
    /// removed with `--delete-cluster`, takes writes as a cluster of its own.
    #[command(group(clap::ArgGroup::new("change").required(true).args(["remove", "accept_fork"])))]
    Edit {
        #[command(flatten)]
        conn: Conn,
        /// The node whose definition to edit.
        #[arg(value_name = "SERVER")]
        target: String,
        /// Id of a dead node to remove (see `minkms ls`).
        #[arg(long = "rm", value_name = "NODE-ID")]
        remove: Vec<u32>,
        /// SERVER was removed with `--delete-cluster`: let it take writes as a cluster of its
        /// own. Point every client of its old cluster away from it first.
        #[arg(long, conflicts_with = "remove")]
        accept_fork: bool,
    },
    /// Write a backup of the whole state to FILE: `backup FILE`, or `backup SERVER FILE`. The
    /// file is useless without one of the HSMs that sealed the cluster's root key.
    Backup {
        #[command(flatten)]
        conn: Conn,
        /// [SERVER] FILE.
        #[arg(num_args = 1..=2, required = true, value_name = "[SERVER] FILE")]
        targets: Vec<String>,
        /// Replace FILE when it exists (without it, an existing file is never overwritten).
        #[arg(long)]
        force: bool,
    },
    /// Restore a backup onto SERVER, a fresh single node started with one of the backup's HSM
    /// keys; then add nodes back.
    Restore {
        #[command(flatten)]
        conn: Conn,
        /// The fresh node.
        #[arg(value_name = "SERVER")]
        target: String,
        /// The backup file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

/// Commands on the HSMs that seal the root key.
// The variants are named after the commands (`add-hsm`, ...), which clap derives from them.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Subcommand)]
pub(crate) enum HsmCmd {
    /// List the HSMs: which hold a sealed root key, which are configured.
    LsHsm {
        #[command(flatten)]
        conn: Conn,
    },
    /// Seal the root key with a configured HSM too (e.g. to migrate to it).
    AddHsm {
        #[command(flatten)]
        conn: Conn,
        /// The HSM's id, as ls-hsm shows it.
        name: String,
        /// Replace an existing sealed copy.
        #[arg(long)]
        overwrite: bool,
    },
    /// Remove an HSM's sealed copy of the root key (never the last, never the communication HSM's).
    RmHsm {
        #[command(flatten)]
        conn: Conn,
        /// The HSM's id, as ls-hsm shows it.
        name: String,
    },
}

/// Commands on enclaves.
// The variants are named after the commands (`add-hsm`, ...), which clap derives from them.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Subcommand)]
pub(crate) enum EnclaveCmd {
    /// Create an enclave.
    AddEnclave {
        #[command(flatten)]
        conn: Conn,
        /// Enclave name.
        name: String,
    },
    /// Delete an enclave with every key, identity and policy in it.
    RmEnclave {
        #[command(flatten)]
        conn: Conn,
        /// Enclave name.
        name: String,
    },
    /// Show an enclave.
    StatEnclave {
        #[command(flatten)]
        conn: Conn,
        /// Enclave name.
        name: String,
    },
    /// List enclaves.
    LsEnclave {
        #[command(flatten)]
        conn: Conn,
        /// Only names starting with PREFIX.
        prefix: Option<String>,
    },
}

/// Commands on keys and with keys.
// The variants are named after the commands (`add-key`, ...), which clap derives from them.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Subcommand)]
pub(crate) enum KeyCmd {
    /// Create a key; on an existing key, add a new version.
    AddKey {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        enclave: Enclave,
        /// Key name.
        name: String,
        /// AES256 or ChaCha20 (default: AES256).
        #[arg(long = "type", default_value = "")]
        key_type: String,
    },
    /// Import 32 bytes of key material as a new key: in base64, or wrapped for the enclave's
    /// wrapping key (--wrapped FILE) so that it is never plaintext outside where it comes from.
    ImportKey {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        enclave: Enclave,
        /// Key name.
        name: String,
        /// The key material, standard base64 of 32 bytes (or use --wrapped).
        #[arg(required_unless_present = "wrapped", conflicts_with = "wrapped")]
        key: Option<String>,
        /// A file with the key material wrapped for the enclave's wrapping key (see
        /// 'minkms wrapping-key'): the RSA-OAEP block of a fresh AES-256 key, then that key's
        /// RFC 5649 (AES-KWP) wrap of the key material; raw bytes, or base64.
        #[arg(long, value_name = "FILE")]
        wrapped: Option<PathBuf>,
        /// The hash of the wrapped file's RSA-OAEP step (and of its MGF1): SHA256 or SHA1.
        #[arg(long, default_value = "SHA256", requires = "wrapped")]
        hash: String,
        /// AES256 or ChaCha20 (default: AES256).
        #[arg(long = "type", default_value = "")]
        key_type: String,
    },
    /// Print the enclave's import wrapping key (RSA-4096, PEM), made on first use: wrap key
    /// material for it to import it with 'minkms import-key --wrapped'.
    WrappingKey {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        enclave: Enclave,
    },
    /// Show a key (its latest version, or --version N).
    StatKey {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        enclave: Enclave,
        /// Key name.
        name: String,
        /// Key version (0 = latest).
        #[arg(long, default_value_t = 0)]
        version: u32,
    },
    /// List keys.
    LsKey {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        enclave: Enclave,
        /// Only names starting with PREFIX.
        prefix: Option<String>,
    },
    /// Delete a key version (the latest by default), or the whole key with --all.
    RmKey {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        enclave: Enclave,
        /// Key name.
        name: String,
        /// Version to delete.
        #[arg(long, default_value_t = 0, conflicts_with = "all")]
        version: u32,
        /// Delete every version.
        #[arg(long)]
        all: bool,
    },
}

/// Operations with a key: data keys, encryption, decryption, MACs.
#[derive(Debug, Subcommand)]
pub(crate) enum CryptoCmd {
    /// Generate a data key: prints its plaintext and ciphertext (base64).
    #[command(visible_alias = "generate")]
    Keygen {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        enclave: Enclave,
        /// Key name.
        name: String,
        /// Associated data bound to the ciphertext.
        #[arg(long, default_value = "")]
        context: String,
        /// Data key length in bytes.
        #[arg(long, default_value_t = 32)]
        length: u32,
    },
    /// Encrypt a plaintext: prints the ciphertext (base64).
    Encrypt {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        enclave: Enclave,
        /// Key name.
        name: String,
        /// The plaintext (text, or base64 with --base64).
        plaintext: String,
        /// The plaintext argument is base64.
        #[arg(long)]
        base64: bool,
        /// Associated data bound to the ciphertext.
        #[arg(long, default_value = "")]
        context: String,
    },
    /// Decrypt a ciphertext (base64): prints the plaintext (base64).
    Decrypt {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        enclave: Enclave,
        /// Key name.
        name: String,
        /// The ciphertext, base64.
        ciphertext: String,
        /// Associated data given when encrypting.
        #[arg(long, default_value = "")]
        context: String,
    },
    /// Compute an HMAC-SHA256 of a message with a key: prints it (base64).
    Mac {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        enclave: Enclave,
        /// Key name.
        name: String,
        /// The message (text).
        message: String,
    },
}

/// Commands on policies.
// The variants are named after the commands (`add-hsm`, ...), which clap derives from them.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCmd {
    /// Create or replace a policy from a JSON file ({"allow": {...}, "deny": {...}}).
    AddPolicy {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        enclave: Enclave,
        /// Policy name.
        name: String,
        /// JSON policy file.
        file: PathBuf,
    },
    /// Print policies as JSON documents.
    GetPolicy {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        enclave: Enclave,
        /// Policy names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Show policies.
    StatPolicy {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        enclave: Enclave,
        /// Policy names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// List policies.
    LsPolicy {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        enclave: Enclave,
        /// Only names starting with PREFIX.
        prefix: Option<String>,
    },
    /// Delete a policy.
    RmPolicy {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        enclave: Enclave,
        /// Policy name.
        name: String,
    },
    /// Assign a policy to an identity (privilege User).
    SetPolicy {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        enclave: Enclave,
        /// Policy name.
        policy: String,
        /// Identity (h1:...).
        identity: String,
    },
}

/// Commands on identities.
// The variants are named after the commands (`add-hsm`, ...), which clap derives from them.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Subcommand)]
pub(crate) enum IdentityCmd {
    /// Add identities; without IDENTITY, generate an API key and print it once.
    AddIdentity {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        enclave: Enclave,
        /// Identities (h1:...) to add.
        identities: Vec<String>,
        /// Give Admin privilege within the enclave.
        #[arg(long, conflicts_with = "service")]
        admin: bool,
        /// Create service accounts of the calling identity.
        #[arg(long)]
        service: bool,
    },
    /// Show identities.
    #[command(visible_alias = "stat-identity")]
    GetIdentity {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        enclave: Enclave,
        /// Identities (h1:...).
        #[arg(required = true)]
        identities: Vec<String>,
    },
    /// List identities.
    LsIdentity {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        enclave: Enclave,
        /// Only identities starting with PREFIX.
        prefix: Option<String>,
    },
    /// Delete an identity and its service accounts.
    RmIdentity {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        enclave: Enclave,
        /// Identity (h1:...).
        identity: String,
    },
}
