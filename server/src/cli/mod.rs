//! The command line: [`run`] dispatches each command to the module of its noun (`cluster`,
//! `hsm`, `enclave`, `key`, `policy`, `identity`, `node`), where it builds a request with
//! [`minkms_client::Client`] and prints the answer for people or, with `--json`, for scripts.
//! What those modules share (the client, paging, the confirmation line) is here.

mod args;
mod bench;
mod cluster;
mod crypto;
mod enclave;
mod hsm;
mod identity;
mod kes;
mod key;
mod load;
mod node;
mod output;
mod policy;
mod soak;

use std::sync::Arc;

use anyhow::Context as _;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use minkms_client::wire::{CreateIdentityRequest, CreatePolicyRequest, Rule, RuleSet};
use minkms_client::{ApiKey, Client, Command, Identity, ServerTrust};
use minkms_hsm::{BackendSet, SealingBackend, SoftHsm};
use minkms_policies::Policy;
use serde_json::json;

pub(crate) use args::Cli;
use args::{Cmd, Conn};
use output::{b64, fields, ok, table, time};

use crate::node::{self as server, ServerOptions, VERSION};

/// Runs the parsed command line.
pub(crate) async fn run(cli: Cli) -> anyhow::Result<()> {
    dispatch(cli).await.map_err(explain)
}

/// A failure the operator can fix says how: a certificate the CLI cannot verify points to
/// `--ca` and `-k`; an authentication failure asks for an API key when none was given, and
/// names the server that refused the one given (connection errors name it already). The
/// server's message itself stays as it is.
fn explain(e: anyhow::Error) -> anyhow::Error {
    if let Some(minkms_client::Error::Certificate(why)) = e.downcast_ref() {
        return anyhow::anyhow!(
            "{why}\nhint: a node with a certificate from a private CA: --ca PATH (or MINIO_KMS_CA); a self-signed test node: -k"
        );
    }
    let Some(minkms_client::Error::Api {
        status: 401 | 403,
        message,
    }) = e.downcast_ref()
    else {
        return e;
    };
    match CONNECTION.get() {
        Some((_, false)) => anyhow::anyhow!("no API key: set MINIO_KMS_API_KEY or --api-key"),
        Some((server, true)) => anyhow::anyhow!("{server}: {message}"),
        None => e,
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    if cli.soft_hsm {
        output::outln!("{}", &*SoftHsm::generate_key());
        return Ok(());
    }
    let Some(cmd) = cli.command else {
        anyhow::bail!("no command given: see 'minkms --help'");
    };
    match cmd {
        Cmd::Server {
            addr,
            host,
            config,
            dev,
            log_format,
            dir,
        } => {
            // The HSM key comes from the environment only: a flag would show it in `ps`.
            let hsm_key = std::env::var("MINIO_KMS_HSM_KEY")
                .ok()
                .filter(|k| !k.is_empty())
                .map(zeroize::Zeroizing::new);
            server::run(ServerOptions {
                dir,
                addr,
                host,
                config,
                dev,
                log_format,
                hsm_key,
            })
            .await
        }
        Cmd::Identity { key, json, pem } => identity(key.as_deref(), json, pem),
        Cmd::Bench(args) => bench::run(args).await,
        Cmd::BenchBaseline { addr, bare } => crate::baseline::run(addr, bare).await,
        Cmd::ConfigReference => {
            output::out!("{}", server::config::reference());
            Ok(())
        }
        Cmd::Completion { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            // Into a buffer first: clap_complete panics when its writer fails (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "minkms", &mut script);
            output::out!("{}", String::from_utf8_lossy(&script));
            Ok(())
        }
        Cmd::CliReference => {
            output::out!("{}", cli_reference());
            Ok(())
        }
        Cmd::Man { dir, dir_option } => man_pages(dir.or(dir_option).as_deref()),
        Cmd::Version { conn } => node::version(conn).await,
        Cmd::Log {
            conn,
            level,
            filter,
        } => node::log(conn, level, filter).await,
        Cmd::Profile {
            conn,
            seconds,
            file,
        } => node::profile(conn, seconds, &file).await,
        Cmd::ImportKes {
            conn,
            enclave,
            keys,
            config,
        } => kes::run(conn, enclave, keys, config).await,
        Cmd::Cluster(cmd) => cluster::run(cmd).await,
        Cmd::Hsm(cmd) => hsm::run(cmd).await,
        Cmd::Enclave(cmd) => enclave::run(cmd).await,
        Cmd::Key(cmd) => key::run(cmd).await,
        Cmd::Crypto(cmd) => crypto::run(cmd).await,
        Cmd::Policy(cmd) => policy::run(cmd).await,
        Cmd::Identities(cmd) => identity::run(cmd).await,
    }
}

/// `minkms cli-reference`: the help of `minkms` and of every command, as the one Markdown page
/// `docs/cli.md` (kept current by `admin/gen-docs.sh`, checked by a test).
fn cli_reference() -> String {
    // A fixed width, so the page is the same whatever terminal generates it.
    let mut cmd = <Cli as clap::CommandFactory>::command().term_width(100);
    cmd.build();
    let mut page = String::from(
        "# Command-line reference\n\n\
         <!-- Generated by `minkms cli-reference` (./admin/gen-docs.sh): edit the CLI, not this file. -->\n\n\
         Every command of `minkms`, with the help it prints. Commands that talk to a node take\n\
         the server from `--server` / `MINIO_KMS_SERVER`, the API key from `--api-key` /\n\
         `MINIO_KMS_API_KEY`, and a private CA from `--ca` / `MINIO_KMS_CA` (`-k` accepts any\n\
         certificate, for self-signed test nodes).\n\n",
    );
    page.push_str(&format!(
        "## `minkms`\n\n```text\n{}\n```\n",
        cmd.render_long_help().to_string().trim_end()
    ));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        page.push_str(&format!(
            "\n## `minkms {}`\n\n```text\n{}\n```\n",
            sub.get_name(),
            sub.clone().render_long_help().to_string().trim_end()
        ));
    }
    page
}

/// `minkms man`: the top page on stdout, or every page (`minkms.1`, `minkms-COMMAND.1`) into
/// `dir`. `admin/gen-docs.sh` keeps the copies in `packaging/man/` current.
fn man_pages(dir: Option<&std::path::Path>) -> anyhow::Result<()> {
    let cmd = <Cli as clap::CommandFactory>::command();
    let Some(dir) = dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut page)?;
        output::out!("{}", String::from_utf8_lossy(&page));
        return Ok(());
    };
    std::fs::create_dir_all(dir)?;
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    std::fs::write(dir.join("minkms.1"), &page)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("minkms-{}", sub.get_name());
        let usage = format!("minkms {}", sub.get_name());
        let mut page = Vec::new();
        clap_mangen::Man::new(sub.clone().bin_name(usage))
            .title(name.clone())
            .render(&mut page)?;
        std::fs::write(dir.join(format!("{name}.1")), &page)?;
    }
    Ok(())
}

fn identity(key: Option<&str>, as_json: bool, as_pem: bool) -> anyhow::Result<()> {
    let (api_key, shown_key) = match key {
        None => {
            let k = ApiKey::generate();
            let s = k.to_secret_string();
            (k, Some(s))
        }
        Some(k) if k.starts_with("hsm:") => {
            let soft: Arc<dyn SealingBackend> =
                Arc::new(SoftHsm::parse(k).map_err(|e| anyhow::anyhow!("{e}"))?);
            let root = server::root_api_key(&BackendSet::single(soft))?;
            let s = root.to_secret_string();
            (root, Some(s))
        }
        // A KES API key holds the same seed as a `k1:` key: shown in both forms.
        Some(k) if k.starts_with("kes:") => {
            let key = ApiKey::parse_kes(k)?;
            let s = key.to_secret_string();
            (key, Some(s))
        }
        Some(k) => (ApiKey::parse(k)?, None),
    };
    // The same key and identity as KES clients write them (docs/kes.md).
    let kes_key = api_key.to_kes_string();
    let kes_identity = api_key.identity().to_hex();
    if as_pem {
        let key = api_key.private_key_der();
        let cert = output::pem("CERTIFICATE", &api_key.self_signed_certificate());
        let key = output::pem("PRIVATE KEY", key.secret_der());
        output::out!("{}{}", cert.as_str(), key.as_str());
        return Ok(());
    }
    if as_json {
        let mut v =
            json!({ "identity": api_key.identity().as_str(), "kes_identity": kes_identity });
        if let Some(k) = &shown_key {
            v["api_key"] = json!(k.as_str());
        }
        v["kes_api_key"] = json!(kes_key.as_str());
        output::json(&v);
    } else {
        let mut rows = vec![];
        if let Some(k) = &shown_key {
            rows.push(("API Key", k.to_string()));
        }
        rows.push(("KES API Key", kes_key.to_string()));
        rows.push(("Identity", api_key.identity().to_string()));
        rows.push(("KES Identity", kes_identity));
        fields(&rows);
    }
    Ok(())
}

/// The server a command talked to and whether it gave an API key: what an authentication
/// failure is explained with (a CLI process runs one command).
static CONNECTION: std::sync::OnceLock<(String, bool)> = std::sync::OnceLock::new();

fn client(conn: &Conn) -> anyhow::Result<Client> {
    let server = conn.server()?;
    let _ = CONNECTION.set((server.to_string(), conn.api_key().is_some()));
    let mut builder = Client::builder().endpoints([server]);
    if let Some(key) = conn.api_key() {
        builder = builder.api_key(ApiKey::parse(key).context("MINIO_KMS_API_KEY / --api-key")?);
    }
    if conn.insecure {
        builder = builder.trust(ServerTrust::Insecure);
    } else if let Some(ca) = conn.ca.as_deref().filter(|p| !p.as_os_str().is_empty()) {
        builder = builder.trust(ServerTrust::from_ca_path(ca).context("--ca / MINIO_KMS_CA")?);
    }
    Ok(builder.build()?)
}

/// A not-found answer names what was not found, before the server's own text (which stays
/// exactly as the API says): `key 'k' in enclave 'e': key does not exist`.
fn naming(what: String) -> impl FnOnce(minkms_client::Error) -> anyhow::Error {
    move |e| match e {
        minkms_client::Error::Api { status: 404, .. } => anyhow::Error::from(e).context(what),
        e => e.into(),
    }
}

/// Every page of a listing.
async fn all_pages<T, F, Fut>(mut page: F) -> anyhow::Result<Vec<T>>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<(Vec<T>, String)>>,
{
    let mut items = Vec::new();
    let mut continue_at = String::new();
    loop {
        let (mut got, next) = page(continue_at).await?;
        let empty = got.is_empty();
        items.append(&mut got);
        if next.is_empty() || empty {
            return Ok(items);
        }
        continue_at = next;
    }
}

fn done(conn: &Conn, text: &str, value: serde_json::Value) {
    if conn.json {
        output::json(&value);
    } else {
        ok(text);
    }
}
