//! Logging for the commands that serve (`gateway`): `--log-format`, `--log-level` and `RUST_LOG`,
//! with every line leaving the request path through a bounded queue to a writer thread of its
//! own. A log pipe nobody drains (a slow supervisor, a full container log) must never stop a
//! request: when the queue is full, lines are dropped and counted, never waited for.

#![cfg_attr(not(feature = "network"), allow(dead_code))]

#[cfg(feature = "network")]
use {
    crate::common::{usage, CliError},
    tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard},
    tracing_subscriber::EnvFilter,
};

/// Lines queued for the writer thread before new ones are dropped: a few seconds of a busy
/// gateway's access log (tracing-appender's default, 128,000, would hold tens of MiB).
#[cfg(feature = "network")]
pub(crate) const LOG_QUEUE_LINES: usize = 2048;

/// The audit events of each token opened: the access log has one line per request with the
/// same facts, so they are off unless a filter names them.
#[cfg(feature = "network")]
const AUDIT_TARGET: &str = "jwe_mint::audit";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// One human-readable line per event
    Text,
    /// One JSON object per line, the event's fields at the top level
    Json,
}

/// The most detailed level written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogLevel {
    Off,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    fn directive(self) -> &'static str {
        match self {
            LogLevel::Off => "off",
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// The logging options of a command that serves.
#[derive(Debug, clap::Args)]
pub(crate) struct LogArgs {
    /// Log line format on stderr: text, or json (one object per line)
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "text")]
    log_format: LogFormat,
    /// The most detailed level logged (default: info, or the RUST_LOG filter when it is set, e.g.
    /// RUST_LOG=info,jwe_mint::access=off)
    #[arg(long, value_enum, value_name = "LEVEL")]
    log_level: Option<LogLevel>,
}

#[cfg(feature = "network")]
/// Keeps the writer thread until the command ends (then the lines queued are flushed, waiting at
/// most about a second for a stderr that takes nothing) and counts the lines dropped.
pub(crate) struct Logging {
    dropped: ErrorCounter,
    _guard: WorkerGuard,
}

#[cfg(feature = "network")]
impl Logging {
    /// Log lines dropped so far because the queue was full.
    pub(crate) fn dropped_lines(&self) -> usize {
        self.dropped.dropped_lines()
    }

    /// The same count, readable from anywhere (the metrics).
    pub(crate) fn dropped_counter(&self) -> impl Fn() -> u64 + Send + Sync + 'static {
        let dropped = self.dropped.clone();
        move || u64::try_from(dropped.dropped_lines()).unwrap_or(u64::MAX)
    }
}

#[cfg(feature = "network")]
impl Drop for Logging {
    fn drop(&mut self) {
        let dropped = self.dropped_lines();
        if dropped > 0 {
            // Through the queue too: it has drained by now unless stderr stopped taking lines.
            tracing::warn!(target: "jwe_mint::gateway", dropped, "log lines were dropped: stderr did not keep up");
        }
    }
}

#[cfg(feature = "network")]
/// Sets up logging to stderr for this process, from `args` and `RUST_LOG`.
pub(crate) fn init(args: &LogArgs) -> Result<Logging, CliError> {
    let filter = filter(args.log_level, std::env::var("RUST_LOG").ok().as_deref())?;
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .lossy(true)
        .thread_name("jwe-mint-log")
        // Buffered: the writer thread flushes after each batch it drains, so a burst of lines is
        // one write instead of one per line.
        .finish(std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr()));
    let dropped = writer.error_counter();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_target(true);
    // Fails only when a subscriber is already set (never, in this binary).
    let _ = match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => {
            builder.json().flatten_event(true).with_current_span(false).with_span_list(false).try_init()
        }
    };
    Ok(Logging { dropped, _guard: guard })
}

#[cfg(feature = "network")]
/// `--log-level` when given, else `RUST_LOG` when set, else `info`; the per-token audit events
/// off unless the filter names them.
fn filter(level: Option<LogLevel>, rust_log: Option<&str>) -> Result<EnvFilter, CliError> {
    let directives = match (level, rust_log.map(str::trim).filter(|s| !s.is_empty())) {
        (Some(level), _) => level.directive(),
        (None, Some(env)) => env,
        (None, None) => "info",
    };
    let mut filter = EnvFilter::builder().parse(directives).map_err(|e| usage(format!("RUST_LOG: {e}")))?;
    if !directives.contains(AUDIT_TARGET) {
        if let Ok(off) = format!("{AUDIT_TARGET}=off").parse() {
            filter = filter.add_directive(off);
        }
    }
    Ok(filter)
}

#[cfg(all(test, feature = "network"))]
mod tests {
    use super::*;

    #[test]
    fn the_level_option_wins_over_rust_log_and_audit_is_off_unless_named() {
        let shown = |level, env| filter(level, env).map(|f| f.to_string()).unwrap_or_default();
        assert_eq!(shown(None, None), "jwe_mint::audit=off,info");
        assert_eq!(shown(Some(LogLevel::Debug), Some("trace")), "jwe_mint::audit=off,debug");
        assert_eq!(
            shown(None, Some("warn,jwe_mint::access=info")),
            "jwe_mint::access=info,jwe_mint::audit=off,warn"
        );
        assert_eq!(shown(None, Some("info,jwe_mint::audit=info")), "jwe_mint::audit=info,info");
        assert_eq!(shown(None, Some("  ")), "jwe_mint::audit=off,info");
        assert!(filter(None, Some("info,[[")).is_err());
    }
}
