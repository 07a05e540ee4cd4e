//! A zip archive written front to back, one whole entry at a time, so that it can be sent while
//! it is built (nothing is seeked back to): each entry's bytes are in hand when it is added, so
//! its local header carries its CRC and sizes (no data descriptors, which some readers
//! mishandle). Entries are deflated unless that does not make them smaller. Archives and
//! offsets past 4 GiB, and more than 65 535 entries, use the ZIP64 records
//! (APPNOTE 6.3.x, 4.3.14-4.3.16, 4.5.3); any one entry is far below 4 GiB (see [`Zip::add`]).

use flate2::Compression;
use std::io::Write;

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_OF_CENTRAL: u32 = 0x0605_4b50;
const ZIP64_END_OF_CENTRAL: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
/// General purpose flag bit 11: names are UTF-8.
const UTF8_NAMES: u16 = 1 << 11;
/// Version needed to extract: 2.0 (deflate), 4.5 (ZIP64).
const VERSION_DEFLATE: u16 = 20;
const VERSION_ZIP64: u16 = 45;
/// Version made by: Unix (3) high byte, so that readers take the external attributes as a mode.
const MADE_BY_UNIX: u16 = (3 << 8) | VERSION_ZIP64;
const STORED: u16 = 0;
const DEFLATED: u16 = 8;
/// Largest entry: its sizes stay in the 32-bit fields of the local header.
pub const MAX_ENTRY: usize = u32::MAX as usize - 1;

/// What the central directory says of an entry written earlier.
struct Written {
    name: String,
    method: u16,
    crc: u32,
    compressed: u32,
    size: u32,
    offset: u64,
}

/// An archive being written: call [`Zip::add`] per entry, then [`Zip::finish`]. Each call
/// appends the archive's next bytes to `out`, for the caller to send.
pub struct Zip {
    offset: u64,
    written: Vec<Written>,
    /// MS-DOS time and date of every entry (the archive's creation).
    time: u16,
    date: u16,
}

impl Zip {
    /// An archive whose entries are dated `now` (UTC).
    pub fn new(now: chrono::NaiveDateTime) -> Zip {
        use chrono::{Datelike, Timelike};
        let time = ((now.hour() << 11) | (now.minute() << 5) | (now.second() / 2)) as u16;
        let date = (((now.year().clamp(1980, 2107) - 1980) as u32) << 9) | (now.month() << 5) | now.day();
        Zip { offset: 0, written: Vec::new(), time, date: date as u16 }
    }

    /// Appends the entry `name` (a relative path with `/`) holding `data` to `out`.
    pub fn add(&mut self, name: &str, data: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
        if data.len() > MAX_ENTRY {
            return Err(std::io::Error::other(format!("{name}: {} bytes is too large for one zip entry", data.len())));
        }
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let mut deflater = flate2::write::DeflateEncoder::new(Vec::with_capacity(data.len() / 4), Compression::fast());
        deflater.write_all(data)?;
        let deflated = deflater.finish()?;
        let (method, body) = if deflated.len() < data.len() { (DEFLATED, &deflated[..]) } else { (STORED, data) };
        let entry = Written {
            name: name.to_string(),
            method,
            crc: crc.sum(),
            compressed: body.len() as u32,
            size: data.len() as u32,
            offset: self.offset,
        };
        let start = out.len();
        put32(out, LOCAL_HEADER);
        put16(out, VERSION_DEFLATE);
        self.put_common(out, &entry);
        put16(out, 0);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(body);
        self.offset += (out.len() - start) as u64;
        self.written.push(entry);
        Ok(())
    }

    /// The fields local and central headers share, in their order: flags, method, time, date,
    /// CRC, sizes, name length.
    fn put_common(&self, out: &mut Vec<u8>, e: &Written) {
        put16(out, UTF8_NAMES);
        put16(out, e.method);
        put16(out, self.time);
        put16(out, self.date);
        put32(out, e.crc);
        put32(out, e.compressed);
        put32(out, e.size);
        put16(out, e.name.len() as u16);
    }

    /// Appends the central directory and its end records to `out`.
    pub fn finish(self, out: &mut Vec<u8>) {
        let directory_offset = self.offset;
        let start = out.len();
        for e in &self.written {
            let far = e.offset >= u64::from(u32::MAX);
            put32(out, CENTRAL_HEADER);
            put16(out, MADE_BY_UNIX);
            put16(out, if far { VERSION_ZIP64 } else { VERSION_DEFLATE });
            self.put_common(out, e);
            put16(out, if far { 12 } else { 0 });
            put16(out, 0); // comment
            put16(out, 0); // disk
            put16(out, 0); // internal attributes
            put32(out, 0o100_644 << 16); // a regular file, rw-r--r--
            put32(out, if far { u32::MAX } else { e.offset as u32 });
            out.extend_from_slice(e.name.as_bytes());
            if far {
                // ZIP64 extended information: only the offset is too large.
                put16(out, 0x0001);
                put16(out, 8);
                put64(out, e.offset);
            }
        }
        let directory_size = (out.len() - start) as u64;
        let count = self.written.len() as u64;
        let zip64 = count >= 0xFFFF || directory_offset >= u64::from(u32::MAX) || directory_size >= u64::from(u32::MAX);
        if zip64 {
            let record_offset = directory_offset + directory_size;
            put32(out, ZIP64_END_OF_CENTRAL);
            put64(out, 44); // the record's size after this field
            put16(out, MADE_BY_UNIX);
            put16(out, VERSION_ZIP64);
            put32(out, 0);
            put32(out, 0);
            put64(out, count);
            put64(out, count);
            put64(out, directory_size);
            put64(out, directory_offset);
            put32(out, ZIP64_LOCATOR);
            put32(out, 0);
            put64(out, record_offset);
            put32(out, 1);
        }
        put32(out, END_OF_CENTRAL);
        put16(out, 0);
        put16(out, 0);
        put16(out, count.min(0xFFFF) as u16);
        put16(out, count.min(0xFFFF) as u16);
        put32(out, directory_size.min(u64::from(u32::MAX)) as u32);
        put32(out, directory_offset.min(u64::from(u32::MAX)) as u32);
        put16(out, 0);
    }
}

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(entries: &[(&str, &[u8])], start_offset: u64) -> Vec<u8> {
        let now = chrono::NaiveDate::from_ymd_opt(2026, 12, 7).and_then(|d| d.and_hms_opt(18, 30, 10)).expect("date");
        let mut zip = Zip::new(now);
        zip.offset = start_offset;
        let mut out = Vec::new();
        for (name, data) in entries {
            zip.add(name, data, &mut out).expect("add");
        }
        zip.finish(&mut out);
        out
    }

    /// `unzip -l`/`-p`, the reader users have, lists and extracts what was written.
    #[test]
    fn unzip_reads_entries_back_deflated_and_stored() {
        let text = "onset,0.5\n".repeat(500);
        let random: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let bytes = archive(&[("ds/index.json", text.as_bytes()), ("ds/a/é.bin", &random)], 0);
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("a.zip");
        std::fs::write(&path, &bytes).expect("write");
        let test = std::process::Command::new("unzip").arg("-t").arg(&path).output().expect("unzip");
        assert!(test.status.success(), "{}", String::from_utf8_lossy(&test.stdout));
        let out =
            std::process::Command::new("unzip").arg("-p").arg(&path).arg("ds/index.json").output().expect("unzip");
        assert_eq!(out.stdout, text.as_bytes());
        let out = std::process::Command::new("unzip").arg("-p").arg(&path).arg("ds/a/é.bin").output().expect("unzip");
        assert_eq!(out.stdout, random);
        // The text was deflated (much smaller), the noise stored.
        assert!(bytes.len() < text.len() / 5 + random.len() + 400, "{}", bytes.len());
    }

    /// Entries past 4 GiB carry their offset in a ZIP64 field, and the archive ends with the
    /// ZIP64 records (checked field by field: no reader can be handed 4 GiB here).
    #[test]
    fn offsets_past_four_gib_use_zip64_records() {
        let bytes = archive(&[("x", b"abc")], 5 << 30);
        let eocd = bytes.len() - 22;
        assert_eq!(u32::from_le_bytes(bytes[eocd..eocd + 4].try_into().expect("4")), END_OF_CENTRAL);
        assert_eq!(u32::from_le_bytes(bytes[eocd + 16..eocd + 20].try_into().expect("4")), u32::MAX);
        let locator = eocd - 20;
        assert_eq!(u32::from_le_bytes(bytes[locator..locator + 4].try_into().expect("4")), ZIP64_LOCATOR);
        let record = u64::from_le_bytes(bytes[locator + 8..locator + 16].try_into().expect("8"));
        let local_len = 30 + 1 + 3;
        let central = local_len;
        // The central header's extra field holds the 64-bit offset of the local header.
        let extra = central + 46 + 1;
        assert_eq!(u16::from_le_bytes(bytes[extra..extra + 2].try_into().expect("2")), 1);
        assert_eq!(u64::from_le_bytes(bytes[extra + 4..extra + 12].try_into().expect("8")), 5 << 30);
        assert_eq!(record, (5u64 << 30) + local_len as u64 + 46 + 1 + 12);
    }
}
