//! runc-compatible logging: logrus text (`time="…" level=error msg="…"`)
//! or JSON lines (`{"level":…,"msg":…,"time":…}`), to `--log FILE` or to
//! stderr. containerd reads the error of a failed command from that file.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;
use std::time::SystemTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Warning,
    Error,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

struct Logger {
    file: Option<File>,
    format: Format,
    debug: bool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

pub fn parse_format(s: &str) -> Result<Format, String> {
    match s {
        "text" => Ok(Format::Text),
        "json" => Ok(Format::Json),
        other => Err(format!("invalid log-format: {other}")),
    }
}

pub fn init(path: Option<&Path>, format: Format, debug: bool) -> std::io::Result<()> {
    let file = match path {
        Some(p) => Some(OpenOptions::new().create(true).append(true).open(p)?),
        None => None,
    };
    let _ = LOGGER.set(Logger {
        file,
        format,
        debug,
    });
    Ok(())
}

/// One log line in the chosen format.
pub fn line(format: Format, level: Level, msg: &str, now: SystemTime) -> String {
    let time = brisk_container::time::rfc3339(now, false);
    let quoted = serde_json::Value::String(msg.to_string()).to_string();
    match format {
        Format::Text => format!("time=\"{time}\" level={} msg={quoted}\n", level.name()),
        Format::Json => format!(
            "{{\"level\":\"{}\",\"msg\":{quoted},\"time\":\"{time}\"}}\n",
            level.name()
        ),
    }
}

pub fn log(level: Level, msg: &str) {
    let Some(l) = LOGGER.get() else {
        eprintln!("{msg}");
        return;
    };
    if level == Level::Debug && !l.debug {
        return;
    }
    let text = line(l.format, level, msg, SystemTime::now());
    match &l.file {
        Some(f) => {
            let _ = (&*f).write_all(text.as_bytes());
        }
        None => {
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
    }
}

/// Reports the error a command ends with: to the log, and when the log is
/// a file, also as the bare message on stderr (as runc does).
pub fn error(msg: &str) {
    log(Level::Error, msg);
    if LOGGER.get().is_some_and(|l| l.file.is_some()) {
        eprintln!("{msg}");
    }
}

pub fn warn(msg: &str) {
    log(Level::Warning, msg);
}

pub fn debug(msg: &str) {
    log(Level::Debug, msg);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn formats_like_runc() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_734_352);
        assert_eq!(
            line(Format::Json, Level::Error, "container does not exist", t),
            "{\"level\":\"error\",\"msg\":\"container does not exist\",\"time\":\"2026-11-26T23:05:52Z\"}\n"
        );
        assert_eq!(
            line(Format::Text, Level::Warning, "a \"b\"", t),
            "time=\"2026-11-26T23:05:52Z\" level=warning msg=\"a \\\"b\\\"\"\n"
        );
        assert!(parse_format("xml").is_err());
    }
}
