//! Watching a folder for media files that arrive (inotify): a file counts once it is closed
//! after writing or moved in whole, never while it is being copied; a folder moved or made in
//! a watched one is watched too (when recursive) and handed over whole.

use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// Paths queued for the importer at most; the watcher waits for it past that.
const QUEUED: usize = 256;

/// Starts watching `folder` (and its subfolders if `recursive`) on a thread of its own; the
/// receiver gets each media file written or moved in, and (if recursive) each folder made or
/// moved in, once watched (whose files an import reads whole). The watch ends when the
/// receiver is dropped (at the next event).
pub fn spawn(folder: &Path, recursive: bool) -> Result<tokio::sync::mpsc::Receiver<PathBuf>, String> {
    let fd = inotify::init(CreateFlags::CLOEXEC).map_err(|e| format!("inotify: {e}"))?;
    let mut watcher = Watcher { fd, folders: HashMap::new(), recursive };
    watcher.add(folder)?;
    let (tx, rx) = tokio::sync::mpsc::channel(QUEUED);
    std::thread::Builder::new()
        .name("folder-watch".into())
        .spawn(move || watcher.run(&tx))
        .map_err(|e| format!("cannot start watching: {e}"))?;
    Ok(rx)
}

struct Watcher {
    fd: OwnedFd,
    /// The folder of each watch descriptor.
    folders: HashMap<i32, PathBuf>,
    recursive: bool,
}

impl Watcher {
    /// Watches `folder`, and its subfolders when recursive.
    fn add(&mut self, folder: &Path) -> Result<(), String> {
        let flags = WatchFlags::CLOSE_WRITE | WatchFlags::MOVED_TO | WatchFlags::CREATE | WatchFlags::ONLYDIR;
        let wd = inotify::add_watch(&self.fd, folder, flags).map_err(|e| format!("{}: {e}", folder.display()))?;
        self.folders.insert(wd, folder.to_path_buf());
        if self.recursive {
            let subfolders = std::fs::read_dir(folder).into_iter().flatten().flatten().map(|e| e.path());
            for sub in subfolders.filter(|p| p.is_dir() && !hidden(p)).collect::<Vec<_>>() {
                self.add(&sub)?;
            }
        }
        Ok(())
    }

    fn run(mut self, tx: &tokio::sync::mpsc::Sender<PathBuf>) {
        let mut buf = [MaybeUninit::<u8>::uninit(); 16 * 1024];
        // The reader holds a descriptor of its own; `self.fd` adds watches meanwhile.
        let Ok(fd) = self.fd.try_clone() else { return };
        let mut reader = inotify::Reader::new(&fd, &mut buf);
        loop {
            let (wd, events, name) = match reader.next() {
                Ok(event) => (
                    event.wd(),
                    event.events(),
                    event.file_name().map(|n| PathBuf::from(n.to_string_lossy().into_owned())),
                ),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "the folder watch stopped");
                    return;
                }
            };
            let (Some(folder), Some(name)) = (self.folders.get(&wd), name) else { continue };
            let path = folder.join(name);
            if hidden(&path) {
                continue;
            }
            let arrived = if events.contains(ReadFlags::ISDIR) {
                // A new folder is watched, then handed over whole: the files moved in with it,
                // or written before its watch began, are read by that import.
                (self.recursive && self.add(&path).is_ok()).then_some(path)
            } else if events.intersects(ReadFlags::CLOSE_WRITE | ReadFlags::MOVED_TO) && super::folder::is_media(&path)
            {
                Some(path)
            } else {
                None
            };
            if let Some(path) = arrived
                && tx.blocking_send(path).is_err()
            {
                return;
            }
        }
    }
}

fn hidden(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn next(rx: &mut tokio::sync::mpsc::Receiver<PathBuf>) -> PathBuf {
        let got = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
        got.expect("an event in time").expect("the watch runs")
    }

    #[tokio::test]
    async fn files_are_handed_over_once_written_or_moved_in() {
        let dir = tempfile::tempdir().expect("test fixture");
        let outside = tempfile::tempdir().expect("test fixture");
        std::fs::create_dir(dir.path().join("old")).expect("test fixture");
        let mut rx = spawn(dir.path(), true).expect("test fixture");
        std::fs::write(dir.path().join("notes.txt"), b"not media").expect("test fixture");
        std::fs::write(dir.path().join("a.wav"), b"written here").expect("test fixture");
        assert_eq!(next(&mut rx).await, dir.path().join("a.wav"));
        std::fs::write(dir.path().join("old/b.flac"), b"in a subfolder watched from the start").expect("test fixture");
        assert_eq!(next(&mut rx).await, dir.path().join("old/b.flac"));
        std::fs::write(outside.path().join("c.mp3"), b"copied elsewhere, then moved in").expect("test fixture");
        std::fs::rename(outside.path().join("c.mp3"), dir.path().join("c.mp3")).expect("test fixture");
        assert_eq!(next(&mut rx).await, dir.path().join("c.mp3"));
        std::fs::create_dir(outside.path().join("box")).expect("test fixture");
        std::fs::write(outside.path().join("box/d.ogg"), b"a folder moved in").expect("test fixture");
        std::fs::rename(outside.path().join("box"), dir.path().join("box")).expect("test fixture");
        assert_eq!(next(&mut rx).await, dir.path().join("box"));
        std::fs::create_dir(dir.path().join("new")).expect("test fixture");
        assert_eq!(next(&mut rx).await, dir.path().join("new"));
        // Its watch was added before it was handed over.
        std::fs::write(dir.path().join("new/e.wav"), b"in a folder made after the start").expect("test fixture");
        assert_eq!(next(&mut rx).await, dir.path().join("new/e.wav"));
    }
}
