//! A RIFF/WAVE file's chunk list, walked from its headers only: whether the file has a `data`
//! chunk at all. GStreamer's `wavparse` decodes a file whose `data` chunk is missing (a `fmt `
//! chunk, then a truncated `LIST`) as a few frames of garbage; ffmpeg refuses it ("no 'data'
//! tag found"), and so do we. Untrusted bytes: every size is checked, nothing panics.

use std::io::{Read, Seek, SeekFrom};

/// Chunks looked at before giving up on finding `data` (a real file has a handful).
const MAX_CHUNKS: usize = 1024;

/// `Some(false)` when `file` is a RIFF/WAVE whose chunks end (or run past the end of the file)
/// before a `data` chunk; `Some(true)` when it has one; `None` when it is not RIFF/WAVE.
pub fn wave_has_data<F: Read + Seek>(file: &mut F) -> std::io::Result<Option<bool>> {
    let len = file.seek(SeekFrom::End(0))?;
    file.seek(SeekFrom::Start(0))?;
    let mut head = [0u8; 12];
    if file.read_exact(&mut head).is_err() || &head[..4] != b"RIFF" || &head[8..] != b"WAVE" {
        return Ok(None);
    }
    let mut at: u64 = 12;
    for _ in 0..MAX_CHUNKS {
        if at + 8 > len {
            return Ok(Some(false));
        }
        file.seek(SeekFrom::Start(at))?;
        let mut chunk = [0u8; 8];
        file.read_exact(&mut chunk)?;
        if &chunk[..4] == b"data" {
            return Ok(Some(true));
        }
        let size = u64::from(u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]));
        // Chunks are padded to an even size.
        at = at.saturating_add(8).saturating_add(size).saturating_add(size & 1);
    }
    Ok(Some(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wave(chunks: &[(&[u8; 4], &[u8])], truncate: usize) -> std::io::Cursor<Vec<u8>> {
        let mut body = b"WAVE".to_vec();
        for (id, payload) in chunks {
            body.extend_from_slice(*id);
            body.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            body.extend_from_slice(payload);
            if payload.len() % 2 == 1 {
                body.push(0);
            }
        }
        let mut out = b"RIFF".to_vec();
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        out.truncate(out.len() - truncate);
        std::io::Cursor::new(out)
    }

    #[test]
    fn a_wave_without_data_is_told_apart() {
        let fmt = [1u8, 0, 1, 0, 0x44, 0xac, 0, 0, 0x88, 0x58, 1, 0, 2, 0, 16, 0];
        let good = wave(&[(b"fmt ", &fmt), (b"LIST", b"INFOabc"), (b"data", &[0; 8])], 0);
        assert_eq!(wave_has_data(&mut good.clone()).expect("read"), Some(true));
        // The red-team file: fmt, then a LIST chunk that runs past the end, and no data.
        let broken = wave(&[(b"fmt ", &fmt), (b"LIST", &[0u8; 64])], 40);
        assert_eq!(wave_has_data(&mut broken.clone()).expect("read"), Some(false));
        let none = wave(&[(b"fmt ", &fmt)], 0);
        assert_eq!(wave_has_data(&mut none.clone()).expect("read"), Some(false));
        assert_eq!(wave_has_data(&mut std::io::Cursor::new(b"ID3\x03".to_vec())).expect("read"), None);
        // Sizes that overflow, and garbage of every short length: never a panic.
        let mut huge = wave(&[(b"fmt ", &fmt)], 0).into_inner();
        huge.extend_from_slice(b"junk\xff\xff\xff\xff");
        assert_eq!(wave_has_data(&mut std::io::Cursor::new(huge)).expect("read"), Some(false));
        for n in 0..20 {
            let _ = wave_has_data(&mut std::io::Cursor::new(good.get_ref()[..n].to_vec()));
        }
    }
}
