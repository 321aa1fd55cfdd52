//! The gateway's key file never blocks serving: a FIFO nobody writes put in the key file's place
//! (what a hung NFS or FUSE mount does to a read, made reproducible) leaves every request
//! answered at once with the keys in use, through the poll and a reload request; a good file put
//! back is loaded.
//!
//! The gateway runs on a one-thread runtime of its own, so one blocked task would stop it whole,
//! and the client is plain blocking sockets with read timeouts on the test thread, so a stopped
//! gateway fails the test instead of hanging it.
#![cfg(feature = "gateway")]

use std::net::SocketAddr;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use jwe_mint::jwk::{Curve, Jwk, JwkSource};
use jwe_mint::wire::{Gateway, KeyFile};

use crate::gateway_world::*;

/// The longest a request may take while the key file blocks its reader.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);
/// How often the gateway polls the key file.
const POLL: Duration = Duration::from_millis(50);

fn ask(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, Vec<u8>) {
    ask_within(addr, path, token, ANSWER_WITHIN)
}

#[test]
fn a_fifo_in_place_of_the_key_file_never_stops_the_gateway() {
    let old = Jwk::generate(Curve::P256).unwrap();
    let new = Jwk::generate(Curve::P256).unwrap();
    let old_world = World::with_rs_keys(&[&old]);
    let new_world =
        World { issuer: reissue(&old_world, &new), as_key: old_world.as_key.clone(), rs_key: new.clone() };
    let (old_token, new_token) = (old_world.mint(), new_world.mint());
    let dir = temp_dir("fifo");
    let file = dir.join("rs.jwk.json");
    write_keys(&file, &[&old]);
    let keys = Arc::new(KeyFile::open(&file).unwrap());

    // The gateway, on its own one-thread runtime; it stops when `stop` is dropped.
    let (ready, gateway_addr) = mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let gateway_keys = Arc::clone(&keys);
    let rs = old_world
        .rs_builder()
        .decryption_key_source(Arc::clone(&keys) as Arc<dyn JwkSource>)
        .build()
        .unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let _watch = gateway_keys.watch(POLL);
            let (_up, up_addr) = Upstream::start().await;
            let (gw, _stop) = run(Gateway::new(rs, &format!("http://{up_addr}")).unwrap()).await;
            ready.send(gw).unwrap();
            let _ = stopped.await;
        });
    });
    let gw = gateway_addr.recv_timeout(LIMIT).unwrap();
    assert_eq!(ask(gw, "/", Some(&old_token)).0, 200);

    fifo_in_place_of(&file);
    // Several poll intervals, then a reload request (what SIGHUP does): every request is
    // answered at once, with the old key.
    let serves_with_the_old_key = || {
        let until = Instant::now() + POLL * 8;
        while Instant::now() < until {
            assert_eq!(ask(gw, "/", Some(&old_token)).0, 200);
            assert_eq!(ask(gw, "/", Some(&new_token)).0, 401);
            assert_eq!(ask(gw, "/.well-known/oauth-protected-resource", None).0, 200);
            assert_eq!(published_x(gw, ANSWER_WITHIN), [public_x(&old)]);
        }
    };
    serves_with_the_old_key();
    keys.request_reload();
    serves_with_the_old_key();
    // `reload` itself, on a thread of the caller's: refused at once, not stuck on the FIFO.
    let (done, outcome) = mpsc::channel();
    let reloading = Arc::clone(&keys);
    std::thread::spawn(move || {
        let _ = done.send(reloading.reload().map_err(|e| e.to_string()));
    });
    let e = outcome.recv_timeout(ANSWER_WITHIN).expect("reload blocked on the FIFO").unwrap_err();
    assert!(e.contains("FIFO"), "{e}");
    serves_with_the_old_key();

    // A good file back in place: the poll loads it.
    std::fs::remove_file(&file).unwrap();
    write_keys(&file, &[&new]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while ask(gw, "/", Some(&new_token)).0 != 200 {
        assert!(Instant::now() < deadline, "the new key file was never loaded");
        std::thread::sleep(POLL);
    }
    assert_eq!(ask(gw, "/", Some(&old_token)).0, 401);
    assert_eq!(published_x(gw, ANSWER_WITHIN), [public_x(&new)]);
    drop(stop);
    let _ = std::fs::remove_dir_all(&dir);
}
