//! Log output: human-readable text or JSON lines, filtered by level.

use tracing_subscriber::EnvFilter;
use zhishu_core::config::{LogFormat, LoggingConfig};

/// Installs the global subscriber. Logs go to stderr so that command output
/// on stdout stays machine-readable.
///
/// # Errors
/// When `logging.level` is not a valid filter.
pub fn init(config: &LoggingConfig) -> Result<(), String> {
    let filter = EnvFilter::try_new(&config.level).map_err(|e| {
        format!(
            "invalid value for `logging.level` (`{}`): {e}",
            config.level
        )
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match config.format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
    result.map_err(|e| format!("cannot install the logger: {e}"))
}
