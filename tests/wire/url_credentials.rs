//! A user name or password in a configured URL never reaches a log line or an error message:
//! the URL is refused or fails, and every place that names it shows it with its user information
//! redacted, whether it parses or not.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use jwe_mint::jwk::JwkSource;
use jwe_mint::wire::{
    authorization_server_metadata_urls, Discovery, FetchFuture, Fetcher, HttpFetcher, KeySetConfig,
    RemoteJwkSet, WireError,
};
use url::Url;

use crate::servers::bounded;

const SECRET: &str = "s3cr3t-pw";
const USER: &str = "alice-user";

/// Every log line written while the subscriber is the default.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync {
        let writer = self.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish()
    }
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// A fetcher that answers every request with `status` and takes no stand on credentials (a
/// caller's own HTTP client): what the wire itself does with the URL is what is tested.
struct Answers(u16);

impl Fetcher for Answers {
    fn send(&self, _request: http::Request<Bytes>) -> FetchFuture<'_> {
        let mut response = http::Response::new(Bytes::from_static(b"{}"));
        *response.status_mut() = http::StatusCode::from_u16(self.0).unwrap();
        Box::pin(std::future::ready(Ok(response)))
    }
}

fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains(SECRET) && !text.contains(USER), "{what} shows the credentials:\n{text}");
}

#[tokio::test]
async fn credentials_in_a_key_set_url_reach_no_log_line_and_no_error() {
    let capture = Capture::default();
    // A current-thread runtime: every task runs on this thread, under this subscriber.
    let _guard = crate::tracing_capture::capture_on_this_thread(capture.subscriber());
    bounded(async {
        let url = format!("https://{USER}:{SECRET}@127.0.0.1:1/jwks.json");
        // The HTTP fetcher refuses it (no credentials in URLs).
        let fetcher = Arc::new(HttpFetcher::new().unwrap());
        let e = RemoteJwkSet::new(&url, fetcher, KeySetConfig::default()).await.unwrap_err();
        assert!(matches!(e, WireError::CredentialsInUrl { .. }), "{e:?}");
        assert_clean("the refusal", &e.to_string());
        assert_clean("the refusal's URL", e.url());
        assert!(e.to_string().contains("127.0.0.1:1/jwks.json"), "{e}");

        // A fetcher of the caller's that lets it through: the failure names it redacted.
        let e = RemoteJwkSet::new(&url, Arc::new(Answers(404)), KeySetConfig::default()).await.unwrap_err();
        assert!(matches!(e, WireError::Status { status: 404, .. }), "{e:?}");
        assert_clean("the status error", &format!("{e} {e:?}"));

        // A URL that does not parse is shown redacted too.
        let broken = format!("https://{USER}:{SECRET}@exa mple.com/jwks.json");
        let e =
            RemoteJwkSet::new(&broken, Arc::new(Answers(200)), KeySetConfig::default()).await.unwrap_err();
        assert!(matches!(e, WireError::InvalidUrl { .. }), "{e:?}");
        assert_clean("the invalid URL", &format!("{e} {e:?}"));

        // A set that loads: its location and its refresh failures are redacted.
        struct Set(Arc<Mutex<u16>>);
        impl Fetcher for Set {
            fn send(&self, _request: http::Request<Bytes>) -> FetchFuture<'_> {
                let status = *self.0.lock().unwrap();
                let body = jwe_mint::jwk::JwkSet::new(vec![crate::servers::key().to_public().unwrap()])
                    .to_json()
                    .unwrap();
                let mut response = http::Response::new(Bytes::from(body));
                *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
                Box::pin(std::future::ready(Ok(response)))
            }
        }
        let status = Arc::new(Mutex::new(200));
        let set = RemoteJwkSet::new(&url, Arc::new(Set(Arc::clone(&status))), KeySetConfig::default())
            .await
            .unwrap();
        assert_clean("the location", set.location());
        assert_clean("the Debug form", &format!("{set:?}"));
        *status.lock().unwrap() = 500;
        let e = set.refresh().await.unwrap_err();
        assert_clean("the refresh error", &format!("{e} {e:?}"));
        let unavailable = set.keys_with_kid("no-such-kid").await;
        if let Err(e) = unavailable {
            assert_clean("the key source error", &format!("{e} {e:?}"));
        }

        // Discovery: every metadata URL tried is logged and named redacted.
        let issuer = format!("https://{USER}:{SECRET}@127.0.0.1:1/");
        let e = Discovery::new(Arc::new(HttpFetcher::new().unwrap())).issuer_keys(&issuer).await.unwrap_err();
        assert_clean("the discovery error", &format!("{e} {e:?}"));
        let e = Discovery::new(Arc::new(Answers(404))).issuer_keys(&issuer).await.unwrap_err();
        assert_clean("the discovery error", &format!("{e} {e:?}"));
        let e = authorization_server_metadata_urls(&format!("{issuer}?q=1")).unwrap_err();
        assert_clean("the issuer error", &format!("{e} {e:?}"));

        // The URL rule itself.
        let e = HttpFetcher::new().unwrap().check_url(&Url::parse(&url).unwrap()).unwrap_err();
        assert_clean("check_url", &format!("{e} {e:?}"));
    })
    .await;
    let log = capture.text();
    assert!(log.contains("JWK Set fetch failed"), "the failures are logged:\n{log}");
    assert!(log.contains("authorization server metadata not used"), "{log}");
    assert!(log.contains("127.0.0.1:1"), "the URL is still named:\n{log}");
    assert_clean("the log", &log);
}
