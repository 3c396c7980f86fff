//! Logging set-up shared by `helios-master`, `helios-agent` and `helios-solo`: one line per
//! event on stderr (text or JSON), filtered by `HELIOS_LOG` (an `EnvFilter` directive string)
//! or a default, with ANSI colours only when stderr is a terminal, and identical warnings
//! collapsed to one line per interval ([`repeats`]).
//!
//! It does not decide what to log: callers still rate-limit what they know to be periodic
//! (a peer's reachability, a reconnect loop); [`repeats`] is the safety net for everything
//! else, openraft's warnings included.

use std::io::IsTerminal;
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub mod repeats;

pub use repeats::RepeatLimited;

/// The environment variable that overrides the default filter.
pub const FILTER_VAR: &str = "HELIOS_LOG";

/// How often at most one warning or error line with the same text is written.
pub const REPEAT_INTERVAL: Duration = Duration::from_secs(30);

/// Installs the process-wide subscriber: stderr, `HELIOS_LOG` or else `default_filter`,
/// JSON lines when `json`, colours only on a terminal, identical warnings collapsed.
///
/// Call once, at the start of `main`; a second call leaves the first subscriber in place.
pub fn init(json: bool, default_filter: &str) {
    let filter =
        EnvFilter::try_from_env(FILTER_VAR).unwrap_or_else(|_| EnvFilter::new(default_filter));
    let ansi = std::io::stderr().is_terminal();
    let registry = tracing_subscriber::registry().with(filter);
    // `try_init`: a test harness or an embedding program may have set a subscriber already.
    let _ = if json {
        let output = tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr);
        registry
            .with(RepeatLimited::new(output, REPEAT_INTERVAL))
            .try_init()
    } else {
        let output = tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_writer(std::io::stderr);
        registry
            .with(RepeatLimited::new(output, REPEAT_INTERVAL))
            .try_init()
    };
}
