//! ICY (SHOUTcast/Icecast) in-stream metadata for MP3 listeners that ask for it with
//! `Icy-MetaData: 1`: after every `metaint` bytes of audio comes one length byte (in units of
//! 16 bytes) and that many bytes of `StreamTitle='...';`, zero-padded. The title is sent when
//! it changes (and first); in between the length byte is 0, as Icecast does.

use bytes::{BufMut, Bytes, BytesMut};

/// Audio bytes between metadata blocks (Icecast's default).
pub const METAINT: usize = 16000;

pub struct IcyInterleaver {
    until_meta: usize,
    sent_title: Option<String>,
}

impl Default for IcyInterleaver {
    fn default() -> Self {
        IcyInterleaver { until_meta: METAINT, sent_title: None }
    }
}

/// Longest title sent, in bytes of UTF-8 (a block holds at most 255 × 16 bytes; players show
/// a line).
pub const MAX_TITLE_BYTES: usize = 1024;

/// `title` as it can go into a metadata block: no control characters (a CR, LF or NUL would
/// end the block or the line early in some players), single quotes (which would end the
/// value: ICY has no escaping) as typographic ones, at most [`MAX_TITLE_BYTES`] bytes, cut
/// on a character boundary.
pub fn sanitize_title(title: &str) -> String {
    let mut clean = String::with_capacity(title.len().min(MAX_TITLE_BYTES));
    for c in title.chars().filter(|c| !c.is_control()).map(|c| if c == '\'' { '’' } else { c }) {
        if clean.len() + c.len_utf8() > MAX_TITLE_BYTES {
            break;
        }
        clean.push(c);
    }
    clean
}

/// The metadata block for `title`: length byte, then `StreamTitle='title';` padded to 16.
pub fn metadata_block(title: &str) -> Vec<u8> {
    let mut bytes = format!("StreamTitle='{}';", sanitize_title(title)).into_bytes();
    let blocks = bytes.len().div_ceil(16);
    bytes.resize(blocks * 16, 0);
    let mut out = vec![blocks as u8];
    out.extend(bytes);
    out
}

impl IcyInterleaver {
    /// `chunk` of audio with metadata blocks inserted where they fall.
    pub fn interleave(&mut self, mut chunk: &[u8], title: &str) -> Bytes {
        let mut out = BytesMut::with_capacity(chunk.len() + 64);
        while !chunk.is_empty() {
            let take = self.until_meta.min(chunk.len());
            out.put_slice(&chunk[..take]);
            chunk = &chunk[take..];
            self.until_meta -= take;
            if self.until_meta == 0 {
                if self.sent_title.as_deref() == Some(title) {
                    out.put_u8(0);
                } else {
                    out.put_slice(&metadata_block(title));
                    self.sent_title = Some(title.to_string());
                }
                self.until_meta = METAINT;
            }
        }
        out.freeze()
    }
}

/// Reads an ICY stream as it comes, in pieces of any size: audio out, metadata texts apart
/// (what a player does, and an edge relaying an origin's mount).
pub struct IcyReader {
    metaint: usize,
    /// Audio bytes left before the next length byte.
    until_meta: usize,
    /// The metadata block being read: bytes still to come, and those read.
    meta_left: usize,
    meta: Vec<u8>,
}

impl IcyReader {
    /// A reader for a stream with a block every `metaint` bytes of audio (the `icy-metaint`
    /// header); 0 is no metadata.
    pub fn new(metaint: usize) -> IcyReader {
        IcyReader {
            metaint,
            until_meta: if metaint == 0 { usize::MAX } else { metaint },
            meta_left: 0,
            meta: Vec::new(),
        }
    }

    /// Appends the audio in `bytes` to `audio`; returns the metadata texts completed in them.
    pub fn read(&mut self, mut bytes: &[u8], audio: &mut Vec<u8>) -> Vec<String> {
        let mut texts = Vec::new();
        while !bytes.is_empty() {
            if self.meta_left > 0 {
                let take = self.meta_left.min(bytes.len());
                self.meta.extend_from_slice(&bytes[..take]);
                (self.meta_left, bytes) = (self.meta_left - take, &bytes[take..]);
                if self.meta_left == 0 {
                    texts.push(String::from_utf8_lossy(&self.meta).trim_end_matches('\0').to_string());
                    self.meta.clear();
                }
            } else if self.until_meta == 0 {
                // The length byte, in units of 16 bytes (0: no change).
                (self.meta_left, bytes) = (bytes[0] as usize * 16, &bytes[1..]);
                self.until_meta = self.metaint;
            } else {
                let take = self.until_meta.min(bytes.len());
                audio.extend_from_slice(&bytes[..take]);
                (self.until_meta, bytes) = (self.until_meta - take, &bytes[take..]);
            }
        }
        texts
    }
}

/// The title in a metadata text (`StreamTitle='...';`), if it has one.
pub fn stream_title(text: &str) -> Option<&str> {
    let start = text.find("StreamTitle='")? + "StreamTitle='".len();
    let rest = &text[start..];
    Some(rest.find("';").map_or(rest, |end| &rest[..end]))
}

/// Splits a whole ICY stream back into (audio, metadata texts).
pub fn strip(stream: &[u8]) -> (Vec<u8>, Vec<String>) {
    let mut audio = Vec::new();
    let titles = IcyReader::new(METAINT).read(stream, &mut audio);
    (audio, titles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_fall_every_metaint_bytes_whatever_the_chunking() {
        let audio: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        let mut icy = IcyInterleaver::default();
        let mut stream = Vec::new();
        for (k, c) in audio.chunks(3001).enumerate() {
            let title = if k < 10 { "One" } else { "Two" };
            stream.extend_from_slice(&icy.interleave(c, title));
        }
        let (back, titles) = strip(&stream);
        assert_eq!(back, audio);
        assert_eq!(titles, vec!["StreamTitle='One';".to_string(), "StreamTitle='Two';".to_string()]);
        // Read a byte at a time, as a stream may come: the same audio and titles.
        let mut reader = IcyReader::new(METAINT);
        let (mut back, mut texts) = (Vec::new(), Vec::new());
        for b in stream.chunks(1) {
            texts.extend(reader.read(b, &mut back));
        }
        assert_eq!((back, texts), (audio, titles.clone()));
        assert_eq!(stream_title(&titles[1]), Some("Two"));
        assert_eq!(stream_title("StreamUrl='x';"), None);
        assert_eq!(stream[METAINT] as usize, metadata_block("One").len() / 16);
    }

    #[test]
    fn stream_titles_are_sanitised_capped_and_closed() {
        let block = metadata_block("a\r\nb\0c'd");
        let text = String::from_utf8(block[1..].to_vec()).expect("utf8");
        assert_eq!(text.trim_end_matches('\0'), "StreamTitle='abc’d';");
        // Long titles are cut on a character boundary and still closed.
        let long = "é".repeat(3000);
        let block = metadata_block(&long);
        assert_eq!(block[0] as usize * 16, block.len() - 1);
        let text = String::from_utf8(block[1..].to_vec()).expect("valid UTF-8");
        let text = text.trim_end_matches('\0');
        assert!(text.ends_with("';") && text.len() <= MAX_TITLE_BYTES + 15, "{}", text.len());
    }
}
