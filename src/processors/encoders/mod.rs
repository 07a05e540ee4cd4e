//! Encoders: write the signal in a file format, one file per processor id.

pub mod wav;

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

/// An output file written under a temporary name and renamed into place by [`PartFile::commit`].
/// Dropped without a commit (a failed or cancelled run), it removes itself: no partial output
/// is ever left where a complete one is expected.
pub struct PartFile {
    tmp: PathBuf,
    target: PathBuf,
    pub writer: BufWriter<File>,
    committed: bool,
}

impl PartFile {
    pub fn create(dir: &Path, file_name: &str) -> std::io::Result<PartFile> {
        let target = dir.join(file_name);
        let tmp = dir.join(format!(".{file_name}.part"));
        let writer = BufWriter::new(File::create(&tmp)?);
        Ok(PartFile { tmp, target, writer, committed: false })
    }

    pub fn commit(mut self) -> std::io::Result<PathBuf> {
        use std::io::Write;
        self.writer.flush()?;
        std::fs::rename(&self.tmp, &self.target)?;
        self.committed = true;
        Ok(self.target.clone())
    }

    pub fn target(&self) -> &Path {
        &self.target
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
