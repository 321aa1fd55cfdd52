//! `jwe-mint mint`: act as the authorization server for one token request and print the token
//! response (RFC 6749 §5.1, RFC 8707 §2.2).

use std::path::{Path, PathBuf};

use jwe_mint::issuer::{Grant, Issuer, TokenResponse};
use jwe_mint::jwk::{Jwk, JwkSet, PublicKeyUse};
use jwe_mint::registry::{KeyLocation, Registry, ResourceEntry};
use jwe_mint::Error;
#[cfg(feature = "network")]
use jwe_mint::{
    jwk::KeySourceError,
    wire::{Discovery, ProtectedResourceDiscovery, WireError},
};

#[cfg(feature = "network")]
use crate::common::runtime;
use crate::common::{about_file, pretty, read_file, read_key_file, write_line, CliError, WireArgs};

/// Largest registry file.
const MAX_REGISTRY_FILE: u64 = 16 * 1024 * 1024;

/// Options of `mint`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The authorization server's identifier (`iss`), an absolute URI
    #[arg(long, value_name = "URL")]
    issuer: String,
    /// The AS private signing key: JWK or JWK Set (the first private key not marked `use: enc`)
    #[arg(long, value_name = "FILE")]
    signing_key: PathBuf,
    /// The resource servers: registry JSON (RFC 9728-shaped: resource, scopes_supported, and jwks,
    /// or jwks_uri, or neither: then the keys are found through the RS's RFC 9728 metadata)
    #[arg(long, value_name = "FILE")]
    registry: PathBuf,
    /// The subject (`sub`): the user the token is for
    #[arg(long, value_name = "SUB")]
    sub: String,
    /// The client (`client_id`); it is allowed exactly the requested resources
    #[arg(long, value_name = "ID")]
    client_id: String,
    /// The granted scopes, space-separated; each token carries those its resource supports
    #[arg(long, value_name = "S ...")]
    scope: String,
    /// A resource (RFC 8707) to mint a token for; repeat for several (one token each)
    #[arg(long, value_name = "URL", required = true)]
    resource: Vec<String>,
    /// Lifetime of every token, in seconds; overrides the registry's access_token_lifetime
    /// [default: that lifetime, else 300]
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    ttl: Option<u64>,
    /// One general-JSON JWE that every requested resource server can decrypt, instead of one
    /// token per resource (each recipient can read it and replay it to the others)
    #[arg(long)]
    multi_recipient: bool,
    #[command(flatten)]
    #[cfg_attr(not(feature = "network"), allow(dead_code))]
    wire: WireArgs,
}

/// Runs `mint`: prints the token response JSON. A refused request exits 1 with one stderr line
/// that starts with the OAuth error code.
pub(crate) fn run(args: Args) -> Result<(), CliError> {
    let signing_key = signing_key(&args.signing_key)?;
    let registry = read_registry(&args.registry)?;

    let mut resources: Vec<&str> = Vec::with_capacity(args.resource.len());
    for r in &args.resource {
        if !resources.contains(&r.as_str()) {
            resources.push(r);
        }
    }
    let grant = Grant::new(&args.sub, &args.client_id, &args.scope, &resources).map_err(refused)?;

    // Keys on the wire are fetched for the requested resources only (RFC 9728 §7.7: the
    // registry's URLs, never one from the request), and only where a granted scope applies (the
    // others are refused below with `invalid_scope` without fetching anything).
    let remote: Vec<&ResourceEntry> = {
        let mut remote: Vec<&ResourceEntry> = Vec::new();
        for r in grant.resources() {
            if let Some(entry) = registry.lookup(r) {
                let applies = grant.scopes().iter().any(|s| entry.scopes_supported().contains(s));
                let fresh = !remote.iter().any(|e| e.resource() == entry.resource());
                if entry.key_location() != KeyLocation::Static && applies && fresh {
                    remote.push(entry);
                }
            }
        }
        remote
    };
    // Kept until the end: the fetched key sets belong to it.
    let _runtime = if remote.is_empty() { None } else { Some(fetch_keys(&args, &remote)?) };

    let mut builder = Issuer::builder(&args.issuer, &signing_key);
    if let Some(ttl) = args.ttl {
        // An explicit --ttl wins over the registry's per-resource lifetimes.
        builder = builder.token_lifetime_override(ttl);
    }
    let issuer =
        builder.registry(registry).allow_client(&args.client_id, &resources).map_err(refused)?.build()?;

    let response = if args.multi_recipient {
        TokenResponse::new(vec![issuer.mint_multi_recipient(&grant).map_err(refused)?])
    } else {
        issuer.mint_all(&grant).map_err(refused)?
    };
    write_line(&pretty(&response.to_json())?)
}

/// What keeps the fetched key sets alive while the command runs.
#[cfg(feature = "network")]
type KeysRuntime = tokio::runtime::Runtime;
#[cfg(not(feature = "network"))]
type KeysRuntime = std::convert::Infallible;

/// Without the network feature, a registry entry whose keys live at a URL cannot be used.
#[cfg(not(feature = "network"))]
fn fetch_keys(_args: &Args, remote: &[&ResourceEntry]) -> Result<KeysRuntime, CliError> {
    let resource = remote.first().map_or("", |e| e.resource().as_str());
    Err(crate::common::needs_network(&format!(
        "the registry entry {resource} (its keys are fetched over HTTP)"
    )))
}

/// Binds the `remote` entries to their published keys; any failure refuses the request with
/// `server_error`, as a token endpoint would.
#[cfg(feature = "network")]
fn fetch_keys(args: &Args, remote: &[&ResourceEntry]) -> Result<KeysRuntime, CliError> {
    let fetcher = args.wire.fetcher()?;
    let rt = runtime()?;
    let resources = ProtectedResourceDiscovery::new(Discovery::new(fetcher), &args.issuer);
    rt.block_on(async {
        for entry in remote {
            resources.bind_entry(entry).await.map_err(unavailable)?;
        }
        Ok::<_, CliError>(())
    })?;
    Ok(rt)
}

/// A fetch failure as the `server_error` line (the URL named once).
#[cfg(feature = "network")]
fn unavailable(e: WireError) -> CliError {
    let text = e.to_string();
    let reason = text.strip_prefix(&format!("{}: ", e.url())).unwrap_or(&text).to_owned();
    // Only printed: no source needed.
    refused(Error::KeySource(KeySourceError::Unavailable {
        location: e.url().to_owned(),
        reason,
        source: None,
    }))
}

/// OAuth refusals keep their code first on the line, and so do key-source failures
/// (`server_error: …`); everything else is an ordinary failure.
fn refused(e: Error) -> CliError {
    match e {
        Error::OAuth { .. } | Error::KeySource(_) => CliError::Refused(e.to_string()),
        other => other.into(),
    }
}

/// The first private key of the file that is not an encryption-only key.
fn signing_key(path: &Path) -> Result<Jwk, CliError> {
    let set: JwkSet = read_key_file(path, "--signing-key")?;
    set.keys()
        .iter()
        .find(|k| k.is_private() && !k.is_symmetric() && k.key_use() != Some(&PublicKeyUse::Encryption))
        .cloned()
        .ok_or_else(|| {
            about_file("--signing-key", path)(Error::InvalidKey("holds no private signing key".into()))
        })
}

fn read_registry(path: &Path) -> Result<Registry, CliError> {
    let bytes = read_file(path, MAX_REGISTRY_FILE, "--registry")?;
    let fail = |msg: &str| CliError::Failed(format!("--registry {}: {msg}", path.display()));
    if bytes.len() as u64 > MAX_REGISTRY_FILE {
        return Err(fail(&format!("larger than {MAX_REGISTRY_FILE} bytes")));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| fail("not UTF-8 text"))?;
    Registry::from_json(text).map_err(about_file("--registry", path))
}
