//! DPoP proofs (RFC 9449): sender-constrained tokens without HTTP. A client makes a proof per
//! request with its [`DpopKey`]; a server checks it with [`DpopValidation::check`] (pure: no
//! I/O, no clock, every refusal a [`DpopRejection`]) and remembers it in a [`ReplayStore`]
//! ([`check_and_remember`] does both); [`NonceSource`] makes and checks the server's nonces.
//!
//! ```
//! use jwe_mint::dpop::{check_and_remember, DpopKey, DpopRequest, DpopValidation, MemoryReplayStore};
//! use jwe_mint::error::DpopRejection;
//! # fn block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     let mut f = std::pin::pin!(f);
//! #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
//! #     loop {
//! #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
//! #     }
//! # }
//! let now = 1_700_000_000;
//! // The client.
//! let key = DpopKey::generate().unwrap();
//! let token = "an-access-token-bound-to-key";
//! let proof = key.proof("GET", "https://rs.example/orders").access_token(token).issued_at(now).sign().unwrap();
//!
//! // The resource server: the token's `cnf.jkt` is the key's thumbprint.
//! let validation = DpopValidation::default();
//! let store = MemoryReplayStore::default();
//! let request = DpopRequest::new([proof.as_str()], "GET", "https://rs.example/orders", now + 1)
//!     .access_token(token)
//!     .bound_to(key.thumbprint());
//! let checked = block_on(check_and_remember(&validation, &request, &store)).unwrap();
//! assert_eq!(checked.jkt, key.thumbprint());
//! // The same proof again is a replay.
//! assert_eq!(block_on(check_and_remember(&validation, &request, &store)), Err(DpopRejection::Replayed));
//! ```

mod check;
mod htu;
mod nonce;
mod proof;
mod replay;

pub use crate::error::DpopRejection;
pub use check::{
    CheckedProof, DpopRequest, DpopValidation, DEFAULT_MAX_AGE, DEFAULT_MAX_AHEAD, DEFAULT_MAX_PROOF_SIZE,
    MAX_JTI_LEN,
};
pub use nonce::{NonceCheck, NonceSource, DEFAULT_NONCE_PERIOD, MIN_NONCE_SECRET};
pub use proof::{DpopKey, ProofBuilder, PROOF_TYPE};
pub use replay::{
    check_and_remember, MemoryReplayStore, Remembered, ReplayFuture, ReplayStore, ReplayStoreError,
    DEFAULT_PER_KEY_SHARE, DEFAULT_REPLAY_CAPACITY,
};
