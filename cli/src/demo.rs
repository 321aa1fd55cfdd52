//! `jwe-mint demo`: the photos/friends scenario of the README (one AS, two RSs), in memory with fresh keys;
//! `demo --http` runs it over real HTTP on loopback (`demo_http.rs`).

use serde_json::Value;

use jwe_mint::issuer::{Grant, Issuer, TokenResponse};
use jwe_mint::jwe::{self, DecryptPolicy};
use jwe_mint::jwk::{Curve, Jwk, JwkSet};
use jwe_mint::registry::{Registry, ResourceEntry};
use jwe_mint::resource_server::{AccessToken, ResourceServer, Validation};
use jwe_mint::Error;

use crate::common::{pretty, write_report, CliError};

const AS: &str = "https://as.example.com";
const PHOTOS: &str = "https://photos.example.com";
const FRIENDS: &str = "https://friends.example.com";
const CLIENT: &str = "photo-app";
const SCOPE: &str = "photos.read photos.write friends.read";

/// Characters of a token shown in the demo output.
pub(crate) const SHOWN: usize = 40;

/// Options of `demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Run the scenario over real HTTP instead: one authorization server and two resource servers
    /// on ephemeral 127.0.0.1 ports (plain http, loopback only), discovering each other's keys,
    /// and a client doing the flows; everything is stopped at the end
    #[arg(long)]
    http: bool,
}

/// Runs `demo`. Every step that should succeed must; every rejection shown must happen. Anything
/// else is a failure (exit 1).
pub(crate) fn run(args: Args) -> Result<(), CliError> {
    if args.http {
        #[cfg(feature = "network")]
        return crate::demo_http::run();
        #[cfg(not(feature = "network"))]
        return Err(crate::common::needs_network("demo --http"));
    }
    let mut out = Output::default();

    out.section("1. Keys");
    let as_key = step("generate the AS key", Jwk::generate(Curve::P256))?.with_alg("ES256").with_use("sig");
    let photos_key = rs_key(Curve::P256)?;
    let friends_key = rs_key(Curve::X25519)?;
    out.line(format!("AS     {AS}  signs with ES256 (P-256), kid {}", kid(&as_key)));
    out.line(format!(
        "RS     {PHOTOS}  photos.read photos.write  ECDH-ES+A256KW on P-256, public kid {}",
        kid(&photos_key)
    ));
    out.line(format!(
        "RS     {FRIENDS}  friends.read  ECDH-ES+A256KW on X25519, public kid {}",
        kid(&friends_key)
    ));

    let mut registry = Registry::default();
    let photos_entry = ResourceEntry::new(PHOTOS, ["photos.read", "photos.write"], public(&photos_key)?);
    step("register photos", registry.insert(step("photos entry", photos_entry)?))?;
    let friends_entry = ResourceEntry::new(FRIENDS, ["friends.read"], public(&friends_key)?);
    step("register friends", registry.insert(step("friends entry", friends_entry)?))?;
    let issuer = step(
        "build the issuer",
        Issuer::builder(AS, &as_key)
            .registry(registry)
            .allow_client(CLIENT, &[PHOTOS, FRIENDS])
            .and_then(|b| b.build()),
    )?;
    let as_public = issuer.verification_keys().clone();
    let photos_rs = resource_server(PHOTOS, &photos_key, &as_public, Validation::default())?;
    let friends_rs = resource_server(FRIENDS, &friends_key, &as_public, Validation::default())?;

    out.section("2. Token request");
    out.line(format!(
        "{CLIENT} asks for \"{SCOPE}\" on behalf of alice, resource={PHOTOS} resource={FRIENDS}"
    ));
    let grant = step("grant", Grant::new("alice", CLIENT, SCOPE, &[PHOTOS, FRIENDS]))?;
    let response = step("mint", issuer.mint_all(&grant))?;
    let [photos_token, friends_token] = response.tokens.as_slice() else {
        return Err(CliError::Failed("demo: expected two tokens".into()));
    };
    out.line("token response (access tokens shortened for display):");
    out.block(pretty(&shorten(response.to_json()))?);
    out.line("readable JWE protected headers (no key needed, nothing decrypted):");
    for token in [photos_token, friends_token] {
        out.line(format!("  token for {}:", token.resources.join(" ")));
        out.block(indent(&header(&token.access_token)?, "  "));
    }

    out.section("3. Each RS opens its own token");
    show_accepted(
        &mut out,
        "photos RS ",
        step("photos RS opens its token", photos_rs.open(&photos_token.access_token))?,
    );
    show_accepted(
        &mut out,
        "friends RS",
        step("friends RS opens its token", friends_rs.open(&friends_token.access_token))?,
    );

    out.section("4. Each RS tries the other's token");
    show_rejected(
        &mut out,
        "photos RS  rejects the friends token",
        photos_rs.open(&friends_token.access_token),
    )?;
    show_rejected(
        &mut out,
        "friends RS rejects the photos token",
        friends_rs.open(&photos_token.access_token),
    )?;

    out.section("5. AS-assigned shard");
    // The AS, not the client, decides where the user's data lives.
    let shard = assign_shard("bob");
    out.line(format!("bob signs in to {CLIENT}, which asks for \"{SCOPE}\" without naming a resource;"));
    out.line(format!("the AS keeps bob's data on {shard} and mints one token for it"));
    let bob = step("bob's grant", Grant::new("bob", CLIENT, SCOPE, &[shard]))?;
    let bob_token = step("mint for bob", issuer.mint(&bob, shard))?;
    let bob_response = TokenResponse::new(vec![bob_token.clone()]);
    out.block(pretty(&shorten(bob_response.to_json()))?);
    out.line(format!(
        "the client reads \"resource\" and sends the token to {}",
        bob_token.resources.join(" ")
    ));
    let (who, rs_for_bob) =
        if shard == FRIENDS { ("friends RS", &friends_rs) } else { ("photos RS ", &photos_rs) };
    show_accepted(
        &mut out,
        who,
        step("the shard opens bob's token", rs_for_bob.open(&bob_token.access_token))?,
    );

    out.section("6. Optional: one multi-recipient token");
    out.line("trade-off: both RSs know the CEK, so either can read the token and replay it to the other; only the signature and aud check protect them");
    let multi = step("multi-recipient mint", issuer.mint_multi_recipient(&grant))?;
    out.line(format!(
        "one general-JSON JWE ({} chars), aud = {}, scope = \"{}\"",
        multi.access_token.len(),
        multi.resources.join(" "),
        multi.scope
    ));
    let multi_ok = Validation::default().dangerous_accept_multi_audience();
    let photos_multi = resource_server(PHOTOS, &photos_key, &as_public, multi_ok.clone())?;
    let friends_multi = resource_server(FRIENDS, &friends_key, &as_public, multi_ok)?;
    show_accepted(
        &mut out,
        "photos RS  (dangerous_accept_multi_audience)",
        step("photos RS opens the multi token", photos_multi.open(&multi.access_token))?,
    );
    show_accepted(
        &mut out,
        "friends RS (dangerous_accept_multi_audience)",
        step("friends RS opens the multi token", friends_multi.open(&multi.access_token))?,
    );
    show_rejected(&mut out, "photos RS  (default) rejects it", photos_rs.open(&multi.access_token))?;

    out.section("Done");
    out.line("each token was accepted by the resource server it is for and rejected by the other");
    out.flush()
}

/// Output collected and written at the end (one write, so a failure prints no half scenario).
#[derive(Default)]
pub(crate) struct Output(String);

impl Output {
    pub(crate) fn section(&mut self, title: &str) {
        if !self.0.is_empty() {
            self.0.push('\n');
        }
        self.line(format!("== {title} =="));
    }

    pub(crate) fn line(&mut self, text: impl AsRef<str>) {
        self.0.push_str(text.as_ref());
        self.0.push('\n');
    }

    pub(crate) fn block(&mut self, text: String) {
        self.line(text);
    }

    /// The story is for a person: written if stdout takes it (see [`write_report`]).
    pub(crate) fn flush(self) -> Result<(), CliError> {
        write_report(self.0.as_bytes());
        Ok(())
    }
}

/// Context for an unexpected library failure (the core's `Error`, the wire's `ConfigError`).
pub(crate) fn step<T, E: std::fmt::Display>(what: &str, r: Result<T, E>) -> Result<T, CliError> {
    r.map_err(|e| CliError::Failed(format!("demo: {what}: {e}")))
}

pub(crate) fn rs_key(curve: Curve) -> Result<Jwk, CliError> {
    Ok(step("generate an RS key", Jwk::generate(curve))?.with_alg("ECDH-ES+A256KW").with_use("enc"))
}

fn public(key: &Jwk) -> Result<JwkSet, CliError> {
    Ok(JwkSet::new(vec![step("public key", key.to_public())?]))
}

pub(crate) fn kid(key: &Jwk) -> &str {
    key.kid().unwrap_or("(none)")
}

fn resource_server(
    resource: &str,
    key: &Jwk,
    as_public: &JwkSet,
    validation: Validation,
) -> Result<ResourceServer, CliError> {
    step(
        "resource server",
        ResourceServer::builder(resource, AS)
            .decryption_keys(JwkSet::new(vec![key.clone()]))
            .issuer_keys(as_public.clone())
            .validation(validation)
            .build(),
    )
}

/// The AS's sharding policy: which resource server holds a user's data.
fn assign_shard(user: &str) -> &'static str {
    match user {
        "bob" => FRIENDS,
        _ => PHOTOS,
    }
}

/// The token response with each `access_token` cut to its first characters plus its length.
pub(crate) fn shorten(mut v: Value) -> Value {
    fn cut(slot: Option<&mut Value>) {
        if let Some(Value::String(s)) = slot {
            let len = s.len();
            let head: String = s.chars().take(SHOWN).collect();
            *s = format!("{head}… ({len} chars)");
        }
    }
    cut(v.get_mut("access_token"));
    if let Some(Value::Array(list)) = v.get_mut("access_tokens") {
        for entry in list {
            cut(entry.get_mut("access_token"));
        }
    }
    v
}

/// The protected header of a JWE, pretty JSON.
fn header(token: &str) -> Result<String, CliError> {
    let inspected = step("inspect", jwe::inspect(token, &DecryptPolicy::default()))?;
    pretty(&Value::Object(inspected.protected))
}

fn indent(text: &str, by: &str) -> String {
    text.lines().map(|l| format!("{by}{l}")).collect::<Vec<_>>().join("\n")
}

fn show_accepted(out: &mut Output, who: &str, at: AccessToken) {
    let c = at.raw_claims();
    let aud = match c.get("aud") {
        Some(Value::String(a)) => a.clone(),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "),
        _ => String::new(),
    };
    let exp = c.get("exp").and_then(Value::as_i64).unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default();
    out.line(format!(
        "{who} accepted: sub={} client_id={} scope=\"{}\" aud={aud} exp={exp} (in {} s)",
        at.subject(),
        at.client_id(),
        at.scopes().collect::<Vec<_>>().join(" "),
        exp.saturating_sub(now)
    ));
}

/// Shows an expected rejection; an accepted token here is a failure of the demo.
fn show_rejected(out: &mut Output, what: &str, r: Result<AccessToken, Error>) -> Result<(), CliError> {
    match r {
        Err(e) => {
            out.line(format!("{what}: {e}"));
            Ok(())
        }
        Ok(_) => Err(CliError::Failed(format!("demo: {what}: the token was accepted"))),
    }
}
