//! The token endpoint's grants (RFC 6749 §4.4 `client_credentials`, §6 `refresh_token`), each
//! minting one token per RFC 8707 `resource`: the request checked, the client authenticated, the
//! scope and resources limited to what the client (or the original grant) allows.

use std::time::SystemTime;

use axum::extract::Request;
use axum::response::Response;
use http::header::CONTENT_TYPE;
use http::StatusCode;
use serde_json::Value;

use super::client_auth::{authenticate, RegisteredClient};
use super::dpop::DPOP_NONCE;
use super::form::{Form, MAX_TOKEN_REQUEST};
use super::refresh_store::{new_token, token_id, RefreshGrant};
use super::refusal::{json_response, no_store, Refusal};
use super::server::AuthorizationServer;
use crate::issuer::{Grant, TokenResponse};
use crate::token::Scope;

impl AuthorizationServer {
    /// Answers one token request (the `POST` handler).
    pub(super) async fn token_request(&self, request: Request) -> Response {
        match self.token_outcome(request).await {
            Ok(body) => {
                let mut r = json_response(StatusCode::OK, &body);
                no_store(r.headers_mut());
                // RFC 9449 §8.2: a successful answer may carry the nonce for the next request.
                if let Some(nonce) = self.dpop.current_nonce(crate::token::now()) {
                    r.headers_mut().insert(DPOP_NONCE, nonce);
                }
                r
            }
            Err(refusal) => refusal.into_response(),
        }
    }

    async fn token_outcome(&self, request: Request) -> Result<Value, Refusal> {
        let (parts, body) = request.into_parts();
        let form = parts.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
        });
        if !form {
            return Err(Refusal::bad(
                "invalid_request",
                "expected an application/x-www-form-urlencoded body",
            ));
        }
        let Some(client) = authenticate(&self.clients, &parts.headers) else {
            return Err(Refusal::invalid_client());
        };
        let body = axum::body::to_bytes(body, MAX_TOKEN_REQUEST)
            .await
            .map_err(|_| Refusal::bad("invalid_request", "request body too large or unreadable"))?;
        let form = Form::parse(&body)?;
        if form.get("client_secret").is_some() {
            // RFC 6749 §2.3: one authentication method per request.
            return Err(Refusal::bad("invalid_request", "more than one client authentication method"));
        }
        if form.get("client_id").is_some_and(|id| id != client.client_id) {
            return Err(Refusal::bad("invalid_request", "client_id does not match the authenticated client"));
        }
        let grant_type = match form.get("grant_type") {
            Some(g @ ("client_credentials" | "refresh_token")) => g,
            Some(_) => return Err(Refusal::bad("unsupported_grant_type", "unsupported grant_type")),
            None => return Err(Refusal::bad("invalid_request", "missing grant_type")),
        };
        // RFC 9449 §5: checked only once the client is authenticated and the request is one this
        // server answers, so that neither strangers nor refused requests fill the replay store;
        // before any grant is looked at, so that a refused proof spends no refresh token.
        let proof = self.dpop.check(&parts.headers, self.token_endpoint(), crate::token::now()).await?;
        if proof.is_none() && client.dpop_bound_access_tokens {
            // RFC 9449 §5.2: the AS MUST reject this client's token requests without a proof.
            return Err(Refusal::bad("invalid_dpop_proof", "this client must send a DPoP proof"));
        }
        let jkt = proof.as_ref().map(|p| p.jkt.as_str());
        if grant_type == "refresh_token" {
            self.refresh(client, &form, jkt).await
        } else {
            self.client_credentials(client, &form, jkt).await
        }
    }

    async fn client_credentials(
        &self,
        client: &RegisteredClient,
        form: &Form,
        jkt: Option<&str>,
    ) -> Result<Value, Refusal> {
        let mut resources = form.resources.clone();
        if resources.is_empty() {
            // The AS picks the resource server and the response says which (`resource`).
            match &client.home_resource {
                Some(home) => resources.push(home.clone()),
                None => return Err(Refusal::bad("invalid_target", "no resource requested")),
            }
        }
        let scope = requested_scope(form.get("scope"), &client.scope, "scope not allowed for this client")?;
        let mut body = self.mint(&client.subject, &client.client_id, &scope.to_string(), &resources, jkt)?;
        if self.refresh_for_client_credentials {
            let grant = RefreshGrant {
                client_id: client.client_id.clone(),
                subject: client.subject.clone(),
                scope,
                resources,
            };
            let expires = SystemTime::now() + self.refresh_lifetime;
            let (token, id) = new_token().map_err(Refusal::server)?;
            self.refresh.issue(&id, grant, expires).await.map_err(|e| Refusal::store_unavailable(&e))?;
            body["refresh_token"] = Value::String(token.to_string());
        }
        Ok(body)
    }

    /// A refresh request: the new access tokens are bound to the key of this request's proof
    /// (RFC 9449 §5: a confidential client's refresh token is not bound to a key, its client
    /// authentication constrains it), or are Bearer tokens without one.
    async fn refresh(
        &self,
        client: &RegisteredClient,
        form: &Form,
        jkt: Option<&str>,
    ) -> Result<Value, Refusal> {
        if !self.refresh_for_client_credentials {
            return Err(Refusal::bad("unsupported_grant_type", "this server issues no refresh tokens"));
        }
        let Some(presented) = form.get("refresh_token") else {
            return Err(Refusal::bad("invalid_request", "missing refresh_token"));
        };
        let id = token_id(presented);
        // Only this client's store: another client's token is unknown here (RFC 6749 §6).
        let found = self.refresh.find(&client.client_id, &id, SystemTime::now()).await;
        let Some((grant, seq)) = found.map_err(|e| Refusal::store_unavailable(&e))? else {
            return Err(Refusal::invalid_grant());
        };
        if grant.client_id != client.client_id {
            // RFC 6749 §6: the token must have been issued to the authenticated client.
            return Err(Refusal::invalid_grant());
        }
        // RFC 8707 §2.2: any resources of the original grant, one token each; none named: all.
        let resources =
            if form.resources.is_empty() { grant.resources.clone() } else { form.resources.clone() };
        if let Some(r) = resources.iter().find(|r| !grant.resources.contains(r)) {
            return Err(Refusal::bad(
                "invalid_target",
                &format!("{} was not part of the original grant", crate::untrusted::name(r)),
            ));
        }
        let scope = requested_scope(form.get("scope"), &grant.scope, "scope beyond the original grant")?;
        let mut body = self.mint(&grant.subject, &client.client_id, &scope.to_string(), &resources, jkt)?;
        // Rotation (RFC 9700 §4.14.2): the presented token is spent only now, atomically; a
        // concurrent use of the same token that got here first wins, and this one is a reuse.
        let (new, next) = new_token().map_err(Refusal::server)?;
        let rotated = self.refresh.rotate(&client.client_id, &id, seq, &next).await;
        if !rotated.map_err(|e| Refusal::store_unavailable(&e))? {
            return Err(Refusal::invalid_grant());
        }
        body["refresh_token"] = Value::String(new.to_string());
        Ok(body)
    }

    fn mint(
        &self,
        subject: &str,
        client_id: &str,
        scope: &str,
        resources: &[String],
        jkt: Option<&str>,
    ) -> Result<Value, Refusal> {
        let resources: Vec<&str> = resources.iter().map(String::as_str).collect();
        let mut grant = Grant::new(subject, client_id, scope, &resources).map_err(Refusal::mint)?;
        if let Some(jkt) = jkt {
            // RFC 9449 §6.1: `cnf.jkt` in every token minted.
            grant = grant.with_dpop_jkt(jkt).map_err(Refusal::server)?;
        }
        let response: TokenResponse = self.issuer.mint_all(&grant).map_err(Refusal::mint)?;
        let mut body = response.to_json();
        if jkt.is_some() {
            // RFC 9449 §5: a bound token is answered with `token_type: DPoP`.
            set_token_type(&mut body, "DPoP");
        }
        Ok(body)
    }
}

/// Sets `token_type` in the response and in each `access_tokens` entry (RFC 8707 §2.2).
fn set_token_type(body: &mut Value, token_type: &str) {
    if let Some(object) = body.as_object_mut() {
        object.insert("token_type".to_owned(), Value::from(token_type));
    }
    if let Some(entries) = body.get_mut("access_tokens").and_then(Value::as_array_mut) {
        for entry in entries.iter_mut().filter_map(Value::as_object_mut) {
            entry.insert("token_type".to_owned(), Value::from(token_type));
        }
    }
}

/// The scope a request gets: `requested` (RFC 6749 §3.3 syntax: tokens separated by single
/// spaces) when every token of it is in `allowed`, `allowed` when absent; `invalid_scope`
/// otherwise.
fn requested_scope(requested: Option<&str>, allowed: &Scope, refusal: &str) -> Result<Scope, Refusal> {
    let Some(requested) = requested else {
        if allowed.is_empty() {
            return Err(Refusal::bad("invalid_scope", "no scope allowed for this client"));
        }
        return Ok(allowed.clone());
    };
    match Scope::parse(requested) {
        Ok(scope) if !scope.is_empty() && allowed.contains_all(&scope) => Ok(scope),
        _ => Err(Refusal::bad("invalid_scope", refusal)),
    }
}
