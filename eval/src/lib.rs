//! Evaluating vprog as a library: what `vprog ask`, `eval`, `eval-summary`,
//! `calibrate` and `plan-eval` do, callable without the binary (from a
//! notebook, a server or a job array).
//!
//! - [`session`]: one async runtime, planner and executor that answer
//!   questions with fast–slow reasoning and write each answer's trace.
//! - [`theta`]: where θ comes from (a value, a calibration file, the stored
//!   calibration, the one shipped with the planner) and where `calibrate`
//!   stores it.
//! - [`set`]: a labelled multiple-choice set (`*.jsonl`), checked line by line.
//! - [`result`]: one finished item, as a line of `results.jsonl`.
//! - [`journal`]: the run directory: its record, lock and resumable journal.
//! - [`run`]: running (or resuming) a set or a shard of it into a directory.
//! - [`summary`]: accuracy per type, per path and per strategy.
//! - [`plan_eval`]: planner validity on NExT-QA questions.
//!
//! The CLI turns flags into these types, shows progress and prints.

pub mod journal;
pub mod plan_eval;
pub mod result;
pub mod run;
pub mod session;
pub mod set;
pub mod summary;
pub mod theta;

use std::path::{Path, PathBuf};

pub use result::{ItemResult, PathResult};
pub use run::{run_set, Progress, RunSpec};
pub use session::Session;
pub use set::{read_set, Item};
pub use summary::{summarise, Summary, Tally};

/// What can go wrong evaluating.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read, written or created.
    #[error("cannot {action} {}: {error}", path.display())]
    Io {
        /// What was being done (`read`, `write`, `create`, ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A line of an input file is not what it should be.
    #[error("{}:{line}: {reason}", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// Its line, from 1.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// An input file as a whole is not what it should be.
    #[error("{}: {reason}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Another run holds the directory.
    #[error("{} is in use by another `vprog eval` or `vprog calibrate`; wait for it or use another --out", dir.display())]
    Locked {
        /// The run directory.
        dir: PathBuf,
    },
    /// The directory holds the results of a run of another set, mode or shard.
    #[error(
        "{} holds results of another run ({differs}); resume with the same set, mode and shard, or use another --out",
        dir.display()
    )]
    OtherRun {
        /// The run directory.
        dir: PathBuf,
        /// What differs, before and now.
        differs: String,
    },
    /// A shard that does not exist (`k` must be in `1..=n`).
    #[error("shard {k}/{n} does not exist: give K/N with 1 <= K <= N")]
    NoSuchShard {
        /// Which shard.
        k: usize,
        /// Of how many.
        n: usize,
    },
    /// Merged directories share an item.
    #[error("item `{0}` appears in more than one directory (shards overlap?)")]
    Overlap(String),
    /// θ could not be chosen.
    #[error(transparent)]
    Calibrate(#[from] vprog_planner::calibrate::CalibrateError),
    /// The session could not start (the planner's model, plugins, the async runtime).
    #[error("{0}")]
    Session(String),
    /// A trace could not be written.
    #[error("cannot write the trace: {0}")]
    Trace(String),
}

impl Error {
    /// An I/O error while doing `action` on `path`.
    pub fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
        move |error| Error::Io { action, path: path.to_path_buf(), error }
    }
}

/// Writes `text` to `path` atomically and durably (the runtime's
/// [`atomic_write`](vprog_runtime::trace::atomic_write): a synced temporary
/// file in the same directory, then a rename), so a reader never sees half
/// a file.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), Error> {
    vprog_runtime::trace::atomic_write(path, text.as_bytes()).map_err(|e| Error::File { path: path.to_path_buf(), reason: e.to_string() })
}

/// `e` and its sources, `: `-separated, each source left out when the text
/// before already ends with it.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    /// An error whose text is `{text}`, optionally quoting its source.
    #[derive(Debug)]
    struct Layer {
        text: String,
        quotes: bool,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    }

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match (&self.source, self.quotes) {
                (Some(s), true) => write!(f, "{}: {s}", self.text),
                _ => f.write_str(&self.text),
            }
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.source.as_deref().map(|s| s as &(dyn std::error::Error + 'static))
        }
    }

    fn layer(text: &str, quotes: bool, source: Option<Layer>) -> Layer {
        Layer { text: text.into(), quotes, source: source.map(|s| Box::new(s) as _) }
    }

    #[test]
    fn chain_prints_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotADirectory, "Not a directory (os error 20)");
        let quoting = Layer { text: "/tmp/x/".into(), quotes: true, source: Some(Box::new(io)) };
        let e = layer("cannot write /tmp/x/", false, Some(quoting));
        assert_eq!(super::error_chain(&e), "cannot write /tmp/x/: /tmp/x/: Not a directory (os error 20)");
        let plain = layer("outer", false, Some(layer("middle", false, Some(layer("root", false, None)))));
        assert_eq!(super::error_chain(&plain), "outer: middle: root");
    }
}
