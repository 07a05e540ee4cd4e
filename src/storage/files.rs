//! Where files live in the data directory. Every path the server writes is made here, from ids
//! it generated (never from a client's text), so nothing is written outside the directory;
//! keeping the layout behind this one type is what lets object storage replace it later.
//!
//! ```text
//! <data dir>/timeside.db                       the SQLite database (default)
//! <data dir>/secret.key                        the key that signs API tokens (made at first start)
//! <data dir>/media/<item>/<file name>           uploaded and fetched media
//! <data dir>/results/<ab>/<cache key>/<file>    result data, content-addressed by cache key
//! <data dir>/transcodes/<item>/<key>.<ext>      complete transcodes served by `download`
//! <data dir>/tiles/<item>/<key>.png             rendered spectrogram tiles
//! <data dir>/tmp/                               files being written, renamed into place when whole
//! ```

use std::path::{Component, Path, PathBuf};

#[derive(Clone, Debug)]
pub struct Files {
    root: PathBuf,
}

impl Files {
    /// The layout under `data_dir`, whose folders are created.
    /// The directory and its folders are made readable by the server's user only (0700): they
    /// hold users' private media and the token key.
    pub fn open(data_dir: &Path) -> std::io::Result<Files> {
        use std::os::unix::fs::PermissionsExt;
        let made = !data_dir.exists();
        std::fs::create_dir_all(data_dir)?;
        if made {
            std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))?;
        }
        for sub in ["media", "results", "transcodes", "tiles", "tmp"] {
            let dir = data_dir.join(sub);
            if !dir.exists() {
                std::fs::create_dir_all(&dir)?;
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
            }
        }
        Ok(Files { root: data_dir.to_path_buf() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn secret_key(&self) -> PathBuf {
        self.root.join("secret.key")
    }

    /// The folder of an item's media file.
    pub fn media_dir(&self, item: &uuid::Uuid) -> PathBuf {
        self.root.join("media").join(item.to_string())
    }

    /// The folder of the data of every result with `cache_key` (a hex digest).
    pub fn result_dir(&self, cache_key: &str) -> PathBuf {
        self.root.join("results").join(&cache_key[..2.min(cache_key.len())]).join(cache_key)
    }

    /// A complete transcode of an item, named by what determines its bytes (`key`).
    pub fn transcode(&self, item: &uuid::Uuid, key: &str, ext: &str) -> PathBuf {
        self.root.join("transcodes").join(item.to_string()).join(format!("{key}.{ext}"))
    }

    /// A rendered image of a window of an item, named by what determines its pixels (`key`).
    pub fn tile(&self, item: &uuid::Uuid, key: &str) -> PathBuf {
        self.tiles_of(item).join(format!("{key}.png"))
    }

    pub fn tiles_of(&self, item: &uuid::Uuid) -> PathBuf {
        self.root.join("tiles").join(item.to_string())
    }

    /// The folders of what is rendered on demand and kept in the byte-budgeted cache
    /// (`ondemand::cache`): transcodes and tiles.
    pub fn cache_roots(&self) -> Vec<PathBuf> {
        vec![self.root.join("transcodes"), self.root.join("tiles")]
    }

    pub fn transcodes_of(&self, item: &uuid::Uuid) -> PathBuf {
        self.root.join("transcodes").join(item.to_string())
    }

    /// A fresh path in `tmp/` (nothing there yet), for a file or folder being written.
    pub fn temp(&self, what: &str) -> PathBuf {
        self.root.join("tmp").join(format!("{what}-{}", uuid::Uuid::new_v4()))
    }

    /// `path` (under the data directory) as stored in the database.
    pub fn relative(&self, path: &Path) -> Option<String> {
        path.strip_prefix(&self.root).ok().map(|p| p.to_string_lossy().into_owned())
    }

    /// A stored relative path back to a path under the data directory; `None` for anything
    /// that would leave it (absolute, `..`).
    pub fn resolve(&self, relative: &str) -> Option<PathBuf> {
        let rel = Path::new(relative);
        rel.components().all(|c| matches!(c, Component::Normal(_))).then(|| self.root.join(rel))
    }
}

/// A file name safe to write: letters, digits, `-_.` (others become `_`), no leading dot, at
/// most 100 characters; `fallback` when nothing is left.
pub fn safe_file_name(name: &str, fallback: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' })
        .collect::<String>()
        .trim_start_matches('.')
        .chars()
        .take(100)
        .collect();
    if clean.is_empty() { fallback.to_string() } else { clean }
}

/// Moves a finished file or folder from `tmp/` into place. Racing writers of the same
/// content-addressed place are fine: the first one's stays, the other's is removed.
pub fn put_in_place(from: &Path, to: &Path) -> std::io::Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(_) if to.exists() => {
            let _ = if from.is_dir() { std::fs::remove_dir_all(from) } else { std::fs::remove_file(from) };
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names_cannot_leave_the_data_directory() {
        assert_eq!(safe_file_name("../../etc/passwd", "f"), "passwd");
        assert_eq!(safe_file_name("..", "f"), "f");
        assert_eq!(safe_file_name("C:\\x\\My Song (1).flac", "f"), "My_Song__1_.flac");
        assert_eq!(safe_file_name(".hidden", "f"), "hidden");
        let dir = tempfile::tempdir().expect("tmp");
        let files = Files::open(dir.path()).expect("layout");
        assert!(files.resolve("../x").is_none());
        assert!(files.resolve("/etc/passwd").is_none());
        assert_eq!(files.resolve("media/a/b.wav"), Some(dir.path().join("media/a/b.wav")));
        let p = files.media_dir(&uuid::Uuid::nil()).join("x.wav");
        assert_eq!(files.resolve(&files.relative(&p).expect("inside")), Some(p));
    }
}
