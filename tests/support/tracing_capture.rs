//! Capturing `tracing` events in a test that shares its process with other tests.
//!
//! `tracing` caches each callsite's interest for the whole process, computed by whichever thread
//! reaches the callsite first. While only one dispatcher is registered, that computation asks the
//! reaching thread's own default: on a sibling test's thread there is none, `never` is cached, and
//! a later capture on this thread sees nothing (tokio-rs/tracing#3611; it failed CI once here).
//! A global dispatcher that is interested in every callsite but enables nothing keeps every
//! callsite at `sometimes` at least, so each event asks the emitting thread's own subscriber.

use std::sync::Once;
use tracing::subscriber::{Interest, Subscriber};
use tracing::{Event, Metadata};

/// Interested in every callsite, enables none: only there to keep callsite interest open.
struct KeepsCallsitesOpen;

impl Subscriber for KeepsCallsitesOpen {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        false
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Makes `subscriber` this thread's default until the guard drops, such that it sees every event
/// emitted on this thread whatever other tests of the process have done with the same callsites.
pub fn capture_on_this_thread<S>(subscriber: S) -> tracing::subscriber::DefaultGuard
where
    S: Subscriber + Send + Sync + 'static,
{
    static KEEP_OPEN: Once = Once::new();
    KEEP_OPEN.call_once(|| {
        // Fails only when a global default already exists, which then keeps interest open too.
        let _ = tracing::subscriber::set_global_default(KeepsCallsitesOpen);
    });
    let guard = tracing::subscriber::set_default(subscriber);
    // A callsite whose interest was being computed while the dispatchers changed is asked again.
    tracing::callsite::rebuild_interest_cache();
    guard
}
