//! PKCS#11 sessions lost under a running key: the login state dropped by a logout, every
//! session closed (C_Finalize + C_Initialize), and 8 threads minting and opening while the login
//! is pulled from under them. In its own test binary: these tests log out and finalize the module
//! the whole process shares; they take turns (`SERIAL`).
#![cfg(feature = "pkcs11")]
#![allow(clippy::unwrap_used, unreachable_pub)] // test code: a failed unwrap is a failed test

#[path = "support/softhsm.rs"]
mod softhsm;

use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::session::{Session, SessionState};
use cryptoki::slot::Slot;
use jwe_mint::issuer::{Grant, Issuer};
use jwe_mint::jwa::KeyManagementAlg;
use jwe_mint::jwk::{Curve, Jwk, PublicKeyUse};
use jwe_mint::resource_server::ResourceServer;
use jwe_mint::Error;
use softhsm::{assert_no_pin, hsm, issuer_with, rs_with, Hsm, RS};

const TOKEN: &str = "sessions";

static SERIAL: Mutex<()> = Mutex::new(());

/// An AS whose ES256 key and an RS whose ECDH-ES P-256 key both stay in the token.
struct Pair {
    issuer: Issuer,
    rs: ResourceServer,
}

fn pair(h: &Hsm, name: &str, alg: KeyManagementAlg) -> Pair {
    let as_key =
        Jwk::generate_in_pkcs11(&h.uri(TOKEN, &format!("{name}-as")), Curve::P256, PublicKeyUse::Signature)
            .unwrap();
    let rs_key = match alg {
        KeyManagementAlg::RsaOaep => {
            Jwk::generate_rsa_in_pkcs11(&h.uri(TOKEN, &format!("{name}-rs")), 2048, PublicKeyUse::Encryption)
        }
        _ => Jwk::generate_in_pkcs11(
            &h.uri(TOKEN, &format!("{name}-rs")),
            Curve::P256,
            PublicKeyUse::Encryption,
        ),
    }
    .unwrap();
    let issuer = issuer_with(&as_key, &rs_key.to_public().unwrap(), Some(alg)).unwrap();
    let rs = rs_with(&rs_key, &as_key);
    Pair { issuer, rs }
}

impl Pair {
    fn mint_and_open(&self, subject: &str) -> jwe_mint::Result<()> {
        let g = Grant::new(subject, "app", "read", &[RS]).unwrap();
        let token = self.issuer.mint(&g, RS)?.access_token;
        let opened = self.rs.open(&token)?;
        assert_eq!(opened.subject(), subject);
        Ok(())
    }
}

/// The test's own view of the module: the same library instance as the keys' (one process).
fn context(h: &Hsm) -> Pkcs11 {
    let ctx = Pkcs11::new(&h.module).unwrap();
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => panic!("{e}"),
    }
    ctx
}

fn slot(ctx: &Pkcs11) -> Slot {
    ctx.get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).is_ok_and(|i| i.label().trim_end() == TOKEN))
        .expect("token present")
}

/// Logs the user out of the token for the whole process (PKCS#11 v2.40 §5.6: login state is
/// shared by all sessions of an application), as an HSM restart or another part of the
/// application would.
fn log_out(ctx: &Pkcs11, slot: Slot) {
    let s = ctx.open_ro_session(slot).unwrap();
    match s.logout() {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserNotLoggedIn, _)) => {}
        Err(e) => panic!("{e}"),
    }
}

fn logged_in(session: &Session) -> bool {
    matches!(session.get_session_info().unwrap().session_state(), SessionState::RoUser)
}

/// Ok, or a clear `Error::Pkcs11` without the PIN; never the opaque decryption error, which
/// would blame the token's bytes for the module's state.
fn ok_or_clear(r: jwe_mint::Result<()>) -> bool {
    match r {
        Ok(()) => true,
        Err(e @ Error::Pkcs11(_)) => {
            assert_no_pin(&e.to_string());
            assert_no_pin(&format!("{e:?}"));
            false
        }
        Err(e) => panic!("expected success or Error::Pkcs11, got {e:?}"),
    }
}

#[test]
fn a_lost_login_is_restored_for_signing_and_decryption() {
    let Some(h) = hsm() else { return };
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let ecdh = pair(h, "relogin-ecdh", KeyManagementAlg::EcdhEsA256Kw);
    let oaep = pair(h, "relogin-oaep", KeyManagementAlg::RsaOaep);
    ecdh.mint_and_open("alice").unwrap();
    oaep.mint_and_open("alice").unwrap();

    let ctx = context(h);
    let slot = slot(&ctx);
    let watcher = ctx.open_ro_session(slot).unwrap();
    assert!(logged_in(&watcher), "the keys' sessions are logged in");
    log_out(&ctx, slot);
    assert!(!logged_in(&watcher), "the logout reached every session of the process");

    // The pooled sessions are still open but no longer logged in: the first operation gets
    // CKR_USER_NOT_LOGGED_IN, logs in again and succeeds; that one login serves the rest.
    ecdh.mint_and_open("bob").unwrap();
    assert!(logged_in(&watcher), "the key logged in again");
    oaep.mint_and_open("bob").unwrap();
    for i in 0..5 {
        ecdh.mint_and_open(&format!("carol-{i}")).unwrap();
        oaep.mint_and_open(&format!("carol-{i}")).unwrap();
    }
    assert_eq!(h.view(TOKEN).secret_keys, 0, "no derived secret left behind");
}

#[test]
fn closed_sessions_are_reopened_by_concurrent_users() {
    let Some(h) = hsm() else { return };
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let keys = Arc::new(pair(h, "closed", KeyManagementAlg::EcdhEsA128Kw));
    // 8 threads at once leave up to 8 sessions in the key's pool.
    let run_8 = |keys: &Arc<Pair>, round: &str| {
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let (keys, subject) = (keys.clone(), format!("{round}-{t}"));
                std::thread::spawn(move || keys.mint_and_open(&subject))
            })
            .collect();
        threads.into_iter().map(|t| t.join().expect("no panic")).collect::<Vec<_>>()
    };
    for r in run_8(&keys, "before") {
        r.unwrap();
    }

    // Every session of the process closed at once, with no operation in flight: C_Finalize
    // (cryptoki has no safe C_CloseAllSessions) and C_Initialize again, so the token forgets
    // every session, the login state and every object handle.
    context(h).finalize().unwrap();
    context(h);
    // SoftHSM numbers sessions and objects with one counter that starts from 1 again after
    // C_Initialize: the fresh sessions the threads open take numbers the stale pooled sessions
    // (and the key's cached object handle) may still hold, so a thread that has not yet seen the loss may try its stale number
    // while it is another thread's session. The key must never close a session by its stale
    // number, nor count the other thread's failure against it: every stale pooled session
    // fails or is seen to be stale, is forgotten, and each thread retries on a fresh one.
    for r in run_8(&keys, "after") {
        r.unwrap();
    }
    keys.mint_and_open("last").unwrap();
    assert_eq!(h.view(TOKEN).secret_keys, 0, "no derived secret left behind");
}

#[test]
fn eight_threads_while_the_login_is_pulled_from_under_them() {
    let Some(h) = hsm() else { return };
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let keys = Arc::new(pair(h, "chaos", KeyManagementAlg::EcdhEs));
    keys.mint_and_open("warm").unwrap();
    let ctx = context(h);
    let slot = slot(&ctx);

    let (done_tx, done_rx) = mpsc::channel();
    let workers: Vec<_> = (0..8)
        .map(|t| {
            let (keys, done) = (keys.clone(), done_tx.clone());
            std::thread::spawn(move || {
                let mut ok = 0;
                for i in 0..20 {
                    ok += usize::from(ok_or_clear(keys.mint_and_open(&format!("user-{t}-{i}"))));
                }
                done.send(ok).unwrap();
            })
        })
        .collect();
    drop(done_tx);
    // Log out every ~2 ms until the workers finish; the bound on the whole run catches a hang.
    let mut oks = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let mut logouts = 0;
    while oks.len() < 8 {
        log_out(&ctx, slot);
        logouts += 1;
        match done_rx.recv_timeout(Duration::from_millis(2)) {
            Ok(ok) => oks.push(ok),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                assert!(std::time::Instant::now() < deadline, "a worker hangs");
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("a worker panicked"),
        }
    }
    for w in workers {
        w.join().expect("no panic");
    }
    let total: usize = oks.iter().sum();
    eprintln!("{total} of 160 operations succeeded across {logouts} logouts");
    assert!(logouts > 8, "the login was pulled during the run ({logouts} logouts)");
    assert!(total > 0, "some operations succeed between logouts");
    // Once the logouts stop, everything works again.
    for i in 0..4 {
        keys.mint_and_open(&format!("after-{i}")).unwrap();
    }
    assert_eq!(h.view(TOKEN).secret_keys, 0, "no derived secret left behind");
}
