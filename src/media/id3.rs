//! ID3v2.4 tags of text frames, as HLS carries timed metadata: `TIT2` (the title) and `TXXX`
//! (a described value), UTF-8.

/// A tag of `frames`: (frame id, body).
fn tag(frames: &[([u8; 4], Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (id, data) in frames {
        body.extend_from_slice(id);
        body.extend_from_slice(&syncsafe(data.len()));
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(data);
    }
    let mut out = b"ID3\x04\x00\x00".to_vec();
    out.extend_from_slice(&syncsafe(body.len()));
    out.extend_from_slice(&body);
    out
}

/// A size as four 7-bit bytes (ID3's "syncsafe" integers); sizes past 256 MiB are cut, which
/// no text frame reaches.
fn syncsafe(n: usize) -> [u8; 4] {
    let n = n.min((1 << 28) - 1) as u32;
    [(n >> 21) as u8 & 0x7F, (n >> 14) as u8 & 0x7F, (n >> 7) as u8 & 0x7F, n as u8 & 0x7F]
}

/// UTF-8 text (encoding byte 3) of a text frame.
fn text(s: &str) -> Vec<u8> {
    let mut out = vec![0x03];
    out.extend_from_slice(s.as_bytes());
    out
}

/// A tag holding the title, and `TXXX` frames of (description, value).
pub fn title_and_values(title: Option<&str>, values: &[(&str, &str)]) -> Vec<u8> {
    let mut frames: Vec<([u8; 4], Vec<u8>)> = title.map(|t| (*b"TIT2", text(t))).into_iter().collect();
    for (description, value) in values {
        let mut body = text(description);
        body.push(0);
        body.extend_from_slice(value.as_bytes());
        frames.push((*b"TXXX", body));
    }
    tag(&frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_tag() {
        let t = title_and_values(Some("Ada - First"), &[]);
        assert_eq!(&t[..6], b"ID3\x04\x00\x00");
        assert_eq!(&t[6..10], &[0, 0, 0, 10 + 12]);
        assert_eq!(&t[10..14], b"TIT2");
        assert_eq!(&t[14..18], &[0, 0, 0, 12]);
        assert_eq!(&t[20..], b"\x03Ada - First");
        assert_eq!(syncsafe(200), [0, 0, 1, 0x48]);
    }
}
