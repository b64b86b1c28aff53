//! Terminal-safe printing. Every line a subcommand prints can hold text from
//! a video, a subtitle file, OCR, a language model or a program literal, so
//! these macros stand in for `print!`/`println!`/`eprint!`/`eprintln!` and
//! escape control characters (`\u{1b}`) on the way out
//! ([`vprog_grammar::escape_controls`]). JSON output needs nothing more:
//! serde_json escapes control characters itself.

/// `print!`, terminal-safe.
macro_rules! out {
    ($($arg:tt)*) => { print!("{}", vprog_grammar::escape_controls(&format!($($arg)*))) };
}

/// `println!`, terminal-safe.
macro_rules! outln {
    ($($arg:tt)*) => { println!("{}", vprog_grammar::escape_controls(&format!($($arg)*))) };
}

/// `eprint!`, terminal-safe.
macro_rules! err {
    ($($arg:tt)*) => { eprint!("{}", vprog_grammar::escape_controls(&format!($($arg)*))) };
}

/// `eprintln!`, terminal-safe.
macro_rules! errln {
    ($($arg:tt)*) => { eprintln!("{}", vprog_grammar::escape_controls(&format!($($arg)*))) };
}

/// Standard error for log lines. tracing-subscriber escapes the escape-
/// sequence introducers (ESC, BEL, C1) in logged values itself and writes ESC
/// for its own colours; this writer escapes every other character
/// [`vprog_grammar::is_unsafe_for_terminal`] finds (NUL, a carriage return
/// that could overwrite the line, bidirectional overrides).
pub struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The subscriber formats each event whole and writes it at once.
        let mut err = std::io::stderr().lock();
        match std::str::from_utf8(buf) {
            Ok(text) => {
                let mut safe = String::with_capacity(text.len());
                for c in text.chars() {
                    if c == '\x1b' {
                        safe.push(c);
                    } else {
                        vprog_grammar::text::push_escaped(&mut safe, c);
                    }
                }
                err.write_all(safe.as_bytes())?;
            }
            Err(_) => err.write_all(String::from_utf8_lossy(buf).as_bytes())?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// An error and its causes on one line, `outer: cause: root`, each cause
/// once: a library error that already quotes its source (`{path}: {source}`)
/// is not followed by the same source again.
pub fn chain(e: &anyhow::Error) -> String {
    vprog_eval::error_chain(e.as_ref())
}

#[cfg(test)]
mod tests {
    #[test]
    fn chain_prints_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotADirectory, "Not a directory (os error 20)");
        #[derive(Debug)]
        struct Quoting {
            source: std::io::Error,
        }
        impl std::fmt::Display for Quoting {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "/tmp/x/: {}", self.source)
            }
        }
        impl std::error::Error for Quoting {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.source)
            }
        }
        let e = anyhow::Error::new(Quoting { source: io }).context("cannot write /tmp/x/");
        assert_eq!(super::chain(&e), "cannot write /tmp/x/: /tmp/x/: Not a directory (os error 20)");
        let plain = anyhow::anyhow!("root").context("middle").context("outer");
        assert_eq!(super::chain(&plain), "outer: middle: root");
    }
}

/// Prints `value` as pretty JSON on stdout, terminal-safe and still valid
/// JSON: serde_json escapes C0 controls itself; DEL, C1 controls and
/// bidirectional overrides (which can only occur inside strings) are written
/// as `\uXXXX` escapes, not as the `\u{..}` text [`outln!`] would give.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", json_escaped(&serde_json::to_string_pretty(value)?));
    Ok(())
}

/// `json` with every character unsafe for a terminal as a JSON `\uXXXX` escape.
fn json_escaped(json: &str) -> std::borrow::Cow<'_, str> {
    if !json.chars().any(vprog_grammar::is_unsafe_for_terminal) {
        return std::borrow::Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if vprog_grammar::is_unsafe_for_terminal(c) {
            // All are in the Basic Multilingual Plane: one escape each.
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod json_tests {
    #[test]
    fn json_stays_valid_and_terminal_safe() {
        let value = serde_json::json!({"answer": "a\u{1b}[2J\u{9b}b\u{202e}c\u{7f}"});
        let text = super::json_escaped(&serde_json::to_string(&value).unwrap_or_default()).into_owned();
        assert!(!text.chars().any(vprog_grammar::is_unsafe_for_terminal), "{text:?}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(back, value);
    }
}
