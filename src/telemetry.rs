//! Logging: `tracing` to stdout, filtered by `RUST_LOG` or the configured filter.

use tracing_subscriber::EnvFilter;

use crate::config::LogSettings;

/// Install the global subscriber once; later calls are no-ops (tests build many apps).
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if settings.json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
