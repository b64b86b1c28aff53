//! Format converters run by `vprog models fetch` after extraction.

pub mod ct2;
