//! The media files of a folder that is imported as items: walked in name order, hidden entries
//! and files that are not media (by extension: images, text, manifests) left out, bounded
//! before anything is read.

use std::path::{Path, PathBuf};

/// Extensions of the audio (and audio-bearing video) files an import reads; anything else in
/// the folder is counted as skipped, not probed.
const MEDIA_EXTENSIONS: &[&str] = &[
    "wav", "wave", "w64", "rf64", "bwf", "aif", "aiff", "aifc", "caf", "au", "snd", "flac", "mp3", "mp2", "ogg", "oga",
    "opus", "spx", "m4a", "m4b", "mp4", "aac", "3gp", "3g2", "amr", "wma", "asf", "wv", "ape", "tta", "mpc", "ac3",
    "dts", "mka", "mkv", "webm", "mov", "avi",
];
/// Folders deeper than this under the imported one are not walked (a link loop or a machine
/// generated tree would otherwise be walked forever).
const MAX_DEPTH: usize = 32;
/// Entries of any kind read at most per media file allowed: a tree of millions of other files
/// is refused, not walked to its end.
const ENTRIES_PER_FILE: usize = 20;

/// What a folder holds for an import.
#[derive(Debug, Default)]
pub struct Listing {
    /// Media files, in name order (a folder's files before its subfolders' files).
    pub files: Vec<PathBuf>,
    /// Files that are not media (by extension), and folders past [`MAX_DEPTH`].
    pub skipped: usize,
    /// Entries read (see [`ENTRIES_PER_FILE`]).
    read: usize,
}

impl Listing {
    /// The listing of one file.
    pub fn one(file: PathBuf) -> Listing {
        Listing { files: vec![file], ..Listing::default() }
    }
}

/// Whether `path` names a media file an import reads.
pub fn is_media(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    ext.is_some_and(|e| MEDIA_EXTENSIONS.contains(&e.as_str()))
}

/// The media files of `folder` (and of its subfolders if `recursive`). More than `max_files`
/// media files, or a folder that cannot be read, is an error naming it; entries are checked
/// as they are read, so a huge folder costs `max_files` entries at most before it is refused.
pub fn media_files(folder: &Path, recursive: bool, max_files: usize) -> Result<Listing, String> {
    let mut listing = Listing::default();
    walk(folder, recursive, max_files, 0, &mut listing)?;
    Ok(listing)
}

fn walk(folder: &Path, recursive: bool, max_files: usize, depth: usize, out: &mut Listing) -> Result<(), String> {
    let entries = std::fs::read_dir(folder).map_err(|e| format!("{}: {e}", folder.display()))?;
    let mut files = Vec::new();
    let mut folders = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", folder.display()))?;
        out.read += 1;
        if out.read > max_files.saturating_mul(ENTRIES_PER_FILE) {
            return Err(format!(
                "{} holds more than {} entries: import its subfolders one by one",
                folder.display(),
                max_files.saturating_mul(ENTRIES_PER_FILE)
            ));
        }
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        // Links are followed to what they name; whether that is under a media root is
        // checked again when each file is read.
        let path = entry.path();
        let Ok(meta) = std::fs::metadata(&path) else { continue };
        if meta.is_dir() {
            folders.push(path);
        } else if meta.is_file() && is_media(&path) {
            files.push(path);
            if out.files.len() + files.len() > max_files {
                return Err(format!(
                    "{} holds more than {max_files} media files (items.import_max_files): import its subfolders one by one",
                    folder.display()
                ));
            }
        } else {
            out.skipped += 1;
        }
    }
    files.sort();
    out.files.append(&mut files);
    if !recursive {
        return Ok(());
    }
    folders.sort();
    for sub in folders {
        if depth + 1 >= MAX_DEPTH {
            out.skipped += 1;
            continue;
        }
        walk(&sub, recursive, max_files, depth + 1, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().expect("test fixture")).expect("test fixture");
        std::fs::write(path, b"x").expect("test fixture");
    }

    #[test]
    fn media_files_are_listed_in_name_order_and_the_rest_skipped() {
        let dir = tempfile::tempdir().expect("test fixture");
        for name in ["b.wav", "a.FLAC", "notes.txt", "cover.jpg", ".hidden.wav", "sub/c.mp3", "sub/deeper/d.ogg"] {
            touch(&dir.path().join(name));
        }
        let flat = media_files(dir.path(), false, 10).expect("test fixture");
        let names: Vec<_> =
            flat.files.iter().map(|p| p.strip_prefix(dir.path()).expect("test fixture").to_owned()).collect();
        assert_eq!(names, [PathBuf::from("a.FLAC"), PathBuf::from("b.wav")]);
        assert_eq!(flat.skipped, 2);
        let deep = media_files(dir.path(), true, 10).expect("test fixture");
        let names: Vec<_> =
            deep.files.iter().map(|p| p.strip_prefix(dir.path()).expect("test fixture").to_owned()).collect();
        assert_eq!(names.len(), 4);
        assert_eq!(names[2], PathBuf::from("sub/c.mp3"));
        assert_eq!(names[3], PathBuf::from("sub/deeper/d.ogg"));
        let err = media_files(dir.path(), true, 3).expect_err("refused");
        assert!(err.contains("more than 3 media files"), "{err}");
        for n in 0..25 {
            touch(&dir.path().join(format!("other/{n}.txt")));
        }
        let err = media_files(&dir.path().join("other"), false, 1).expect_err("refused");
        assert!(err.contains("more than 20 entries"), "{err}");
    }
}
