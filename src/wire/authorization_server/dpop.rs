//! DPoP at the token endpoint (RFC 9449 §5, §8, §10): the `DPoP` proof of a token request is
//! checked against the endpoint's own published URL (`htu`) and `POST` (`htm`), without `ath`
//! (no access token is presented there), remembered in a replay store (which fails closed), and
//! its key's thumbprint binds the access tokens issued.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue};

use super::refusal::Refusal;
use crate::dpop::{
    check_and_remember, CheckedProof, DpopRejection, DpopRequest, DpopValidation, MemoryReplayStore,
    NonceSource, ReplayStore,
};

/// The request header carrying a proof, and the response header carrying a nonce (RFC 9449 §4.1,
/// §8.1).
pub(super) const DPOP: &str = "dpop";
/// RFC 9449 §8.1.
pub(super) const DPOP_NONCE: &str = "dpop-nonce";

/// How the token endpoint checks proofs: the validation (algorithms, `iat` window, and the
/// nonce when required), the replay store, and the nonce source.
#[derive(Debug, Clone)]
pub(super) struct TokenEndpointDpop {
    validation: DpopValidation,
    replay: Arc<dyn ReplayStore>,
    nonces: Option<NonceSource>,
}

impl Default for TokenEndpointDpop {
    fn default() -> Self {
        TokenEndpointDpop {
            validation: DpopValidation::default(),
            replay: Arc::new(MemoryReplayStore::default()),
            nonces: None,
        }
    }
}

impl TokenEndpointDpop {
    pub(super) fn set_validation(&mut self, validation: DpopValidation) {
        self.validation = validation;
    }

    pub(super) fn set_replay_store(&mut self, store: Arc<dyn ReplayStore>) {
        self.replay = store;
    }

    pub(super) fn set_nonces(&mut self, nonces: NonceSource) {
        self.nonces = Some(nonces);
    }

    /// The `alg` names accepted, for `dpop_signing_alg_values_supported` (RFC 9449 §5.1).
    pub(super) fn alg_names(&self) -> Vec<String> {
        self.validation.algs().iter().map(ToString::to_string).collect()
    }

    /// The validation actually applied: the configured one, plus the nonce requirement when a
    /// nonce source is set (RFC 9449 §8).
    fn effective_validation(&self) -> DpopValidation {
        match &self.nonces {
            Some(nonces) => self.validation.clone().require_nonce(nonces.clone()),
            None => self.validation.clone(),
        }
    }

    /// The nonce to hand out now (`DPoP-Nonce`), when nonces are configured. A failure to make
    /// one (the crypto provider) leaves the header out: a client then gets `use_dpop_nonce`
    /// again, never an unchecked proof.
    pub(super) fn current_nonce(&self, now: i64) -> Option<HeaderValue> {
        let nonce = self.nonces.as_ref()?.issue(now).ok()?;
        HeaderValue::from_str(&nonce).ok()
    }

    /// Checks the request's proof, if it has one: `Ok(None)` without a `DPoP` header (the
    /// caller decides whether the client may go without), `Ok(Some(checked))` for a good,
    /// fresh proof for `POST token_endpoint`. Every refusal is the RFC 9449 answer:
    /// `invalid_dpop_proof` (§5), `use_dpop_nonce` with a fresh `DPoP-Nonce` (§8), and for a
    /// replay store that cannot answer 503 `temporarily_unavailable` (the proof is never
    /// accepted unchecked).
    pub(super) async fn check(
        &self,
        headers: &HeaderMap,
        token_endpoint: &str,
        now: i64,
    ) -> Result<Option<CheckedProof>, Refusal> {
        let values: Vec<&str> =
            headers.get_all(DPOP).iter().map(|v| v.to_str().unwrap_or_default()).collect();
        if values.is_empty() {
            return Ok(None);
        }
        // RFC 9449 §5: no `ath` at the token endpoint, so no access token is given to the check.
        let request = DpopRequest::new(values.iter().copied(), "POST", token_endpoint, now);
        let validation = self.effective_validation();
        match check_and_remember(&validation, &request, self.replay.as_ref()).await {
            Ok(checked) => Ok(Some(checked)),
            Err(rejection) => Err(self.refusal(rejection, now)),
        }
    }

    /// The token endpoint's answer to a refused proof.
    pub(super) fn refusal(&self, rejection: DpopRejection, now: i64) -> Refusal {
        let description = rejection.to_string();
        match rejection.error_code() {
            Some("use_dpop_nonce") => {
                Refusal::bad("use_dpop_nonce", "the proof must carry the server's current nonce")
                    .with_dpop_nonce(self.current_nonce(now))
            }
            Some(_) => Refusal::bad("invalid_dpop_proof", &description),
            None if rejection == DpopRejection::BadRequestTarget => {
                Refusal::server(crate::error::Error::Dpop(rejection))
            }
            None => Refusal::temporarily_unavailable("DPoP proofs cannot be checked right now"),
        }
    }
}
