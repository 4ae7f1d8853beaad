//! Validation errors: each names the file, line, column and field path it is about.

use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SpecError {
    /// Repository-relative path of the file.
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// Dotted field path inside the document, e.g. `spec.job.parallelism`; empty when the
    /// error is about the file as a whole.
    pub field: String,
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}
