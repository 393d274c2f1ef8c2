//! Logging of the vigil processes: `tracing` to a debug log file (one per
//! sandbox process, opened before its jail hides the host's paths), or
//! warnings only to stderr; and the CLI's own log in runc's formats.

use anyhow::Context;
use std::path::Path;

/// Installs the process's subscriber. With `debug_log`, everything down to
/// debug level is appended to that file; without it, events of `quiet`
/// level and above go to stderr.
pub fn init(debug_log: Option<&Path>, quiet: tracing::Level) -> anyhow::Result<()> {
    use tracing_subscriber::fmt;
    match debug_log {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("open debug log {}", path.display()))?;
            fmt()
                .with_writer(std::sync::Mutex::new(file))
                .with_ansi(false)
                .with_max_level(tracing::Level::DEBUG)
                .init();
        }
        None => fmt()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .with_max_level(quiet)
            .init(),
    }
    Ok(())
}

/// The CLI's own log (`--log FILE`, `--log-format text|json`, `--debug`):
/// warnings and errors, everything with `--debug`. Without a file, stderr.
///
/// The JSON form is one object per line with runc's keys (`level`, `msg`,
/// `time`): containerd's runc shim reads the last `"level":"error"` line of
/// that file to explain a failed call.
pub fn init_cli(log: Option<&Path>, json: bool, debug: bool) -> anyhow::Result<()> {
    use tracing_subscriber::fmt;
    let level = if debug {
        tracing::Level::DEBUG
    } else {
        tracing::Level::WARN
    };
    let Some(path) = log else {
        fmt()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .with_max_level(level)
            .init();
        return Ok(());
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("open log {}", path.display()))?;
    let builder = fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_max_level(level);
    if json {
        builder.event_format(RuncJson).init();
    } else {
        builder.init();
    }
    Ok(())
}

/// Formats an event as runc's JSON log line.
struct RuncJson;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for RuncJson
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let mut msg = Message(String::new());
        event.record(&mut msg);
        let line = serde_json::json!({
            "level": event.metadata().level().as_str().to_ascii_lowercase(),
            "msg": msg.0,
            "time": crate::state::now_rfc3339(),
        });
        writeln!(writer, "{line}")
    }
}

/// An event's message and fields as one line of text.
struct Message(String);

impl tracing::field::Visit for Message {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, "{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            if !self.0.is_empty() {
                self.0.push(' ');
            }
            self.0.push_str(value);
        } else {
            self.record_debug(field, &value);
        }
    }
}
