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

/// Prints `value` as pretty JSON on stdout, terminal-safe and still valid
/// JSON ([`vprog_grammar::escape_json_for_terminal`]), not with the `\u{..}`
/// text [`outln!`] would give.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", vprog_grammar::escape_json_for_terminal(&serde_json::to_string_pretty(value)?));
    Ok(())
}
