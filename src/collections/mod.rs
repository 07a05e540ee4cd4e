//! Collections in and out of the server: which files of a folder an import reads, and the
//! manifest that gives them an archive's metadata.

pub mod folder;
pub mod manifest;
pub mod watch;
