//! Fragmented MP4 (ISO/IEC 14496-12) for one audio track, as CMAF and HLS (RFC 8216 §3.3) use
//! it: an initialisation segment (`ftyp` + `moov` with no samples, `mvex`), then fragments
//! (`moof` + `mdat`) whose samples carry their own sizes and whose first sample's decode time
//! is in `tfdt`. Timed metadata goes in `emsg` boxes (ID3 tags under AOM's scheme, as Apple's
//! HLS and hls.js read them), before the fragment they belong to.
//!
//! Only what an audio stream of fixed frame length needs: every sample lasts `frame_samples`
//! (1024 for AAC-LC, 960 for 20 ms Opus), all are sync samples. Codecs: AAC (`mp4a` with its
//! `esds`) and Opus (`Opus` with its `dOps`, as the Opus-in-ISOBMFF encapsulation defines).

/// AOM's scheme for ID3 tags in `emsg` (read by hls.js, Safari and Shaka).
const ID3_SCHEME: &str = "https://aomedia.org/emsg/ID3";

/// What the track holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudioTrack {
    /// The track's timescale: its sample rate (48000 for Opus, whatever its input's).
    pub samplerate: u32,
    pub channels: u16,
    /// Samples of every frame (1024 for AAC-LC).
    pub frame_samples: u32,
    pub codec: AudioCodec,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AudioCodec {
    /// The AAC AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1).
    Aac { config: [u8; 2] },
    /// What OpusHead says: samples to drop at the start.
    Opus { pre_skip: u16 },
}

/// Writes a box: its size (patched once `body` wrote it) and type.
fn boxed(out: &mut Vec<u8>, kind: &[u8; 4], body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(kind);
    body(out);
    let size = u32::try_from(out.len() - start).unwrap_or(u32::MAX);
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

/// A full box: a box whose body starts with a version and 24 bits of flags.
fn full_box(out: &mut Vec<u8>, kind: &[u8; 4], version: u8, flags: u32, body: impl FnOnce(&mut Vec<u8>)) {
    boxed(out, kind, |out| {
        out.push(version);
        out.extend_from_slice(&flags.to_be_bytes()[1..]);
        body(out);
    });
}

fn u16be(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn u32be(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// The identity matrix of `mvhd` and `tkhd`.
fn matrix(out: &mut Vec<u8>) {
    for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
        u32be(out, v);
    }
}

/// The initialisation segment: `ftyp` and a `moov` that describes the track and no samples.
pub fn init_segment(track: &AudioTrack) -> Vec<u8> {
    let mut out = Vec::with_capacity(700);
    boxed(&mut out, b"ftyp", |out| {
        out.extend_from_slice(b"iso6");
        u32be(out, 0);
        for brand in [b"iso6", b"cmfc", b"mp41"] {
            out.extend_from_slice(brand);
        }
    });
    boxed(&mut out, b"moov", |out| {
        full_box(out, b"mvhd", 0, 0, |out| {
            // Creation and modification times, timescale (ms), duration (unknown: 0).
            for v in [0, 0, 1000, 0] {
                u32be(out, v);
            }
            u32be(out, 0x0001_0000); // rate 1.0
            u16be(out, 0x0100); // volume 1.0
            out.extend_from_slice(&[0; 10]);
            matrix(out);
            out.extend_from_slice(&[0; 24]);
            u32be(out, 2); // next track id
        });
        boxed(out, b"trak", |out| {
            // Enabled, in the movie.
            full_box(out, b"tkhd", 0, 3, |out| {
                for v in [0, 0, 1, 0, 0] {
                    u32be(out, v); // times, track id 1, reserved, duration
                }
                out.extend_from_slice(&[0; 8]);
                u16be(out, 0); // layer
                u16be(out, 0); // alternate group
                u16be(out, 0x0100); // volume
                u16be(out, 0);
                matrix(out);
                u32be(out, 0); // width
                u32be(out, 0); // height
            });
            boxed(out, b"mdia", |out| {
                full_box(out, b"mdhd", 0, 0, |out| {
                    for v in [0, 0, track.samplerate, 0] {
                        u32be(out, v);
                    }
                    u16be(out, 0x55C4); // "und", packed
                    u16be(out, 0);
                });
                full_box(out, b"hdlr", 0, 0, |out| {
                    u32be(out, 0);
                    out.extend_from_slice(b"soun");
                    out.extend_from_slice(&[0; 12]);
                    out.extend_from_slice(b"SoundHandler\0");
                });
                boxed(out, b"minf", |out| {
                    full_box(out, b"smhd", 0, 0, |out| u32be(out, 0));
                    boxed(out, b"dinf", |out| {
                        full_box(out, b"dref", 0, 0, |out| {
                            u32be(out, 1);
                            // The media is in this file.
                            full_box(out, b"url ", 0, 1, |_| {});
                        });
                    });
                    boxed(out, b"stbl", |out| {
                        full_box(out, b"stsd", 0, 0, |out| {
                            u32be(out, 1);
                            sample_entry(out, track);
                        });
                        // No samples here: they are all in fragments.
                        for kind in [b"stts", b"stsc", b"stco"] {
                            full_box(out, kind, 0, 0, |out| u32be(out, 0));
                        }
                        full_box(out, b"stsz", 0, 0, |out| {
                            u32be(out, 0);
                            u32be(out, 0);
                        });
                    });
                });
            });
        });
        boxed(out, b"mvex", |out| {
            full_box(out, b"trex", 0, 0, |out| {
                // Track 1, description 1, each sample `frame_samples` long, sizes per sample.
                for v in [1, 1, track.frame_samples, 0, 0] {
                    u32be(out, v);
                }
            });
        });
    });
    out
}

/// The audio sample entry (ISO/IEC 14496-12 §12.2.3) of the track's codec.
fn sample_entry(out: &mut Vec<u8>, track: &AudioTrack) {
    let kind = match track.codec {
        AudioCodec::Aac { .. } => b"mp4a",
        AudioCodec::Opus { .. } => b"Opus",
    };
    boxed(out, kind, |out| {
        out.extend_from_slice(&[0; 6]);
        u16be(out, 1); // data reference index
        out.extend_from_slice(&[0; 8]);
        u16be(out, track.channels);
        u16be(out, 16); // sample size
        u32be(out, 0);
        u32be(out, track.samplerate << 16);
        match &track.codec {
            AudioCodec::Aac { config } => esds(out, config),
            AudioCodec::Opus { pre_skip } => {
                // OpusSpecificBox: version, channels, pre-skip, input rate, gain, mapping family
                // 0. The input rate is informative (Opus decodes at 48 kHz), but Chromium refuses
                // one that differs from the sample entry's: 48 kHz, whatever the input was.
                boxed(out, b"dOps", |out| {
                    out.push(0);
                    out.push(track.channels as u8);
                    u16be(out, *pre_skip);
                    u32be(out, track.samplerate);
                    u16be(out, 0);
                    out.push(0);
                });
            }
        }
    });
}

/// AAC's `esds` (ISO/IEC 14496-1 §7.2.6.5: ES, decoder config and decoder-specific
/// descriptors; every length fits one byte).
fn esds(out: &mut Vec<u8>, config: &[u8; 2]) {
    full_box(out, b"esds", 0, 0, |out| {
        let decoder_specific = [&[0x05, config.len() as u8][..], config].concat();
        let mut decoder_config = vec![0x40, 0x15, 0, 0, 0];
        decoder_config.extend_from_slice(&[0; 8]); // max and average bitrate: not said
        decoder_config.extend_from_slice(&decoder_specific);
        let mut es = vec![0, 0, 0]; // ES id, flags
        es.extend_from_slice(&[0x04, decoder_config.len() as u8]);
        es.extend_from_slice(&decoder_config);
        es.extend_from_slice(&[0x06, 0x01, 0x02]); // SL config: MP4
        out.extend_from_slice(&[0x03, es.len() as u8]);
        out.extend_from_slice(&es);
    });
}

/// An `emsg` (version 1: absolute time) with an ID3 tag at `time` (in the track's timescale).
pub fn id3_event(out: &mut Vec<u8>, timescale: u32, time: u64, id: u32, tag: &[u8]) {
    full_box(out, b"emsg", 1, 0, |out| {
        u32be(out, timescale);
        out.extend_from_slice(&time.to_be_bytes());
        u32be(out, 0xFFFF_FFFF); // duration: unknown
        u32be(out, id);
        out.extend_from_slice(ID3_SCHEME.as_bytes());
        out.push(0);
        out.push(0); // value: empty
        out.extend_from_slice(tag);
    });
}

/// A fragment: `moof` (fragment `sequence`, first sample at `decode_time`, each lasting
/// `frame_samples`) and `mdat` with `samples`, one frame each of `sizes`.
pub fn fragment(out: &mut Vec<u8>, sequence: u32, decode_time: u64, frame_samples: u32, samples: &[u8], sizes: &[u32]) {
    let moof_start = out.len();
    let mut data_offset_at = 0;
    boxed(out, b"moof", |out| {
        full_box(out, b"mfhd", 0, 0, |out| u32be(out, sequence));
        boxed(out, b"traf", |out| {
            // default-base-is-moof (data offsets count from this moof), default-sample-duration
            // (the fragment says how long its samples last, whatever the init segment says).
            full_box(out, b"tfhd", 0, 0x02_0008, |out| {
                u32be(out, 1);
                u32be(out, frame_samples);
            });
            full_box(out, b"tfdt", 1, 0, |out| out.extend_from_slice(&decode_time.to_be_bytes()));
            // data-offset-present, sample-size-present.
            full_box(out, b"trun", 0, 0x0201, |out| {
                u32be(out, sizes.len() as u32);
                data_offset_at = out.len();
                u32be(out, 0);
                for size in sizes {
                    u32be(out, *size);
                }
            });
        });
    });
    // The samples start after the moof and the mdat's 8-byte header.
    let offset = u32::try_from(out.len() - moof_start + 8).unwrap_or(u32::MAX);
    out[data_offset_at..data_offset_at + 4].copy_from_slice(&offset.to_be_bytes());
    boxed(out, b"mdat", |out| out.extend_from_slice(samples));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The boxes at the top of `bytes`: (type, size).
    fn top_boxes(bytes: &[u8]) -> Vec<(String, usize)> {
        let mut at = 0;
        let mut out = Vec::new();
        while at + 8 <= bytes.len() {
            let size = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
            out.push((String::from_utf8_lossy(&bytes[at + 4..at + 8]).into_owned(), size));
            assert!(size >= 8 && at + size <= bytes.len(), "box at {at} of size {size} in {}", bytes.len());
            at += size;
        }
        assert_eq!(at, bytes.len(), "boxes fill the bytes");
        out
    }

    #[test]
    fn segments_are_whole_boxes_with_offsets_to_their_samples() {
        let track = AudioTrack {
            samplerate: 44100,
            channels: 2,
            frame_samples: 1024,
            codec: AudioCodec::Aac { config: [0x12, 0x10] },
        };
        let init = init_segment(&track);
        let names: Vec<String> = top_boxes(&init).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["ftyp", "moov"]);
        let opus = AudioTrack {
            samplerate: 48000,
            channels: 2,
            frame_samples: 960,
            codec: AudioCodec::Opus { pre_skip: 312 },
        };
        let init = init_segment(&opus);
        let dops = init.windows(4).position(|w| w == b"dOps").expect("dOps");
        assert_eq!(&init[dops + 4..dops + 8], &[0, 2, 0x01, 0x38], "version, channels, pre-skip 312");
        let mut media = Vec::new();
        id3_event(&mut media, 44100, 2048, 7, b"ID3tag");
        let samples = [vec![1u8; 10], vec![2u8; 20]].concat();
        fragment(&mut media, 3, 2048, 1024, &samples, &[10, 20]);
        let boxes = top_boxes(&media);
        let names: Vec<&str> = boxes.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["emsg", "moof", "mdat"]);
        // The trun's data offset points at the first sample, counted from the moof.
        let moof_at = boxes[0].1;
        let trun = media.windows(4).position(|w| w == b"trun").expect("trun");
        let offset = u32::from_be_bytes(media[trun + 12..trun + 16].try_into().expect("4 bytes")) as usize;
        assert_eq!(&media[moof_at + offset..moof_at + offset + 10], &[1u8; 10]);
    }
}
