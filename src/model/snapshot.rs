//! The files of one commit, as read from Git: the input of every pure step.

use std::collections::BTreeMap;

/// A file at a revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    File(Vec<u8>),
    /// A symbolic link and its target as stored in Git.
    Symlink(String),
    /// A file that could not be read, and why (over a size limit, an unreadable blob, a
    /// name that is not UTF-8). Whatever jobs it may hold are blocked, never deleted.
    Unreadable {
        reason: String,
        /// False when the path itself could not be read (not UTF-8): the key is then a
        /// lossy rendering that matches no job's recorded source file.
        named: bool,
    },
}

/// The definition files of one commit, relative to the definitions directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Full commit id.
    pub commit: String,
    pub files: BTreeMap<String, Entry>,
}

impl Snapshot {
    pub fn short_commit(&self) -> &str {
        crate::model::escape::short_commit(&self.commit)
    }
}
