//! Collections in and out of the server: which files of a folder an import reads, the
//! manifest that gives them an archive's metadata, and the dataset archive their results leave
//! in.

pub mod dataset;
pub mod folder;
pub mod iiif;
pub mod manifest;
pub mod watch;
pub mod zip;
