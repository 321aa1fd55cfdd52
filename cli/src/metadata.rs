//! `jwe-mint metadata`: print a resource server's RFC 9728 protected resource metadata, the
//! document an AS reads to find the RS's encryption keys.

use std::path::PathBuf;

use jwe_mint::jwa::KeyManagementAlg;
use jwe_mint::jwk::PublicKeyUse;
use jwe_mint::token::ResourceIndicator;
use serde_json::{json, Value};

use crate::common::{about_file, pretty, read_key_file, usage, warn, write_line, CliError};

/// Options of `metadata`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The protected resource's identifier (`resource`), an absolute URI
    #[arg(long, value_name = "URL")]
    resource: String,
    /// The resource server's private key file (JWK or JWK Set): checked to hold a private
    /// decryption key, so a wrong file is caught; never printed
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The authorization server's issuer identifier (`authorization_servers`)
    #[arg(long, value_name = "URL")]
    issuer: String,
    /// The https URL where the RS serves its public keys (`jwe-mint public --jwks` output)
    #[arg(long, value_name = "URL")]
    jwks_uri: String,
    /// A scope the resource accepts (`scopes_supported`); repeat for several
    #[arg(long = "scope", value_name = "S")]
    scopes: Vec<String>,
}

/// Runs `metadata`: prints the document (RFC 9728 §2). The keys are published only through
/// `jwks_uri`: RFC 9728 defines no inline `jwks`.
pub(crate) fn run(args: Args) -> Result<(), CliError> {
    let resource = ResourceIndicator::parse(&args.resource).map_err(|e| usage(format!("--resource: {e}")))?;
    ResourceIndicator::parse(&args.issuer)
        .map_err(|_| usage("--issuer must be an absolute URI (the AS's issuer identifier)"))?;
    let jwks_uri = url::Url::parse(&args.jwks_uri).map_err(|_| usage("--jwks-uri must be an https URL"))?;
    if jwks_uri.scheme() != "https" || jwks_uri.host().is_none() {
        return Err(usage("--jwks-uri must be an https URL"));
    }
    if let Some(bad) = args.scopes.iter().find(|s| s.is_empty() || s.contains(char::is_whitespace)) {
        return Err(usage(format!("--scope {bad:?}: one scope per --scope, without spaces")));
    }
    check_key(&args)?;
    // The AS refuses a jwks_uri on another origin than the metadata's (the resource's) unless
    // it allows that origin: say so now rather than at the AS.
    if let Ok(r) = url::Url::parse(resource.as_str()) {
        if r.origin() != jwks_uri.origin() {
            warn("--jwks-uri is not on the resource's origin; an AS refuses it unless it allows that origin");
        }
    }
    let mut doc = json!({
        "resource": resource.as_str(),
        "authorization_servers": [args.issuer],
        "jwks_uri": args.jwks_uri,
    });
    if !args.scopes.is_empty() {
        doc["scopes_supported"] = Value::from(args.scopes.clone());
    }
    doc["bearer_methods_supported"] = json!(["header"]);
    write_line(&pretty(&doc)?)
}

/// `--key` must hold a private, asymmetric key that can decrypt tokens (not `use: sig`, with an
/// encryption algorithm): the file the RS opens tokens with, not its public set or a signing key.
fn check_key(args: &Args) -> Result<(), CliError> {
    let keys = read_key_file(&args.key, "--key")?;
    let decrypts = keys.keys().iter().any(|k| {
        k.is_private()
            && !k.is_symmetric()
            && k.key_use() != Some(&PublicKeyUse::Signature)
            && KeyManagementAlg::default_for(k).is_ok_and(|a| a.wraps_cek() || a.is_ecdh_es())
    });
    if decrypts {
        Ok(())
    } else {
        Err(about_file("--key", &args.key)(jwe_mint::Error::InvalidKey(
            "holds no private decryption key (give the resource server's private key file)".into(),
        )))
    }
}
