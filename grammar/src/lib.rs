//! The vprog language: grammar, syntax tree, parser, canonical printer and
//! diagnostics.
//!
//! ```
//! let program = vprog_grammar::parse("frames = sample(video, fps: 2)\nanswer count(frames)\n").unwrap();
//! assert_eq!(vprog_grammar::print_program(&program), "frames = sample(video, fps: 2)\nanswer count(frames)\n");
//! ```

pub mod ast;
pub mod diag;
pub mod literal;
mod parse;
mod pretty;
pub mod span;
pub mod text;

pub use ast::*;
pub use diag::{closest, diagnostics_footer, Diagnostic, JsonDiagnostic, Label, Severity, SourceDiagnostic};
pub use parse::{parse, MAX_NESTING, MAX_OPERATORS, MAX_SOURCE_BYTES};
pub use pretty::{format_float, format_timestamp, print_expr, print_program};
pub use span::{line_col, LineCol, LineIndex, Span};
pub use text::{escape_controls, escape_json_for_terminal, is_unsafe_for_terminal};
