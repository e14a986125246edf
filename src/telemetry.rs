//! Logging setup shared by the functions, honouring Lambda's advanced logging controls as the
//! runtime's own subscriber does (`lambda_runtime::tracing::init_default_subscriber`): the level
//! from `AWS_LAMBDA_LOG_LEVEL` (set by Lambda from the function's `LoggingConfig`), else
//! `RUST_LOG`, else `INFO`; JSON lines when `AWS_LAMBDA_LOG_FORMAT` is `JSON` (the template's
//! `LogFormat`), plain text otherwise. Logs go to standard error: standard output carries the run
//! report and its metrics line. Each work unit's lines carry its span (`unit`: job, account, region).

use std::str::FromStr;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// What a log line looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    Text,
}

/// The level and format the environment asks for.
fn wanted(lookup: impl Fn(&str) -> Option<String>) -> (LevelFilter, Format) {
    let level = lookup("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|| lookup("RUST_LOG"))
        // Lambda's FATAL is tracing's ERROR.
        .map(|l| if l.trim().eq_ignore_ascii_case("fatal") { "error".to_string() } else { l })
        .and_then(|l| LevelFilter::from_str(l.trim()).ok())
        .unwrap_or(LevelFilter::INFO);
    let format = match lookup("AWS_LAMBDA_LOG_FORMAT") {
        Some(f) if f.trim().eq_ignore_ascii_case("text") => Format::Text,
        Some(f) if f.trim().eq_ignore_ascii_case("json") => Format::Json,
        // Outside Lambda's logging controls: JSON, as CloudWatch Logs Insights reads it best.
        _ => Format::Json,
    };
    (level, format)
}

/// Installs the global subscriber once; later calls do nothing.
pub fn init() {
    let (level, format) = wanted(|name| std::env::var(name).ok());
    // `RUST_LOG` directives (`connector_engine=debug`) refine the default level.
    let filter = EnvFilter::builder().with_default_directive(level.into()).from_env_lossy();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_writer(std::io::stderr);
    let _ = match format {
        Format::Json => builder.json().with_current_span(true).with_span_list(false).try_init(),
        Format::Text => builder.try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> (LevelFilter, Format) {
        wanted(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn lambdas_logging_controls_come_first() {
        assert_eq!(with(&[]), (LevelFilter::INFO, Format::Json));
        assert_eq!(with(&[("AWS_LAMBDA_LOG_LEVEL", "DEBUG"), ("RUST_LOG", "error")]).0, LevelFilter::DEBUG);
        assert_eq!(with(&[("RUST_LOG", "warn")]).0, LevelFilter::WARN);
        assert_eq!(with(&[("AWS_LAMBDA_LOG_FORMAT", "Text")]).1, Format::Text);
        assert_eq!(with(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")]).1, Format::Json);
        assert_eq!(with(&[("AWS_LAMBDA_LOG_LEVEL", "FATAL")]).0, LevelFilter::ERROR);
        assert_eq!(with(&[("AWS_LAMBDA_LOG_LEVEL", "loud")]).0, LevelFilter::INFO, "unknown level: the default");
    }
}
