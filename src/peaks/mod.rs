//! Waveform peaks in audiowaveform's formats (bbc/audiowaveform `doc/DataFormat.md`), which
//! peaks.js and waveform-data.js read: the binary `.dat` (version 1 for one channel, 2 for
//! any number) and the JSON (always version 2). Values are 16-bit (an f32 sample times 32768,
//! so a 16-bit source's samples come back exactly) or 8-bit (the 16-bit value / 256,
//! truncated, as audiowaveform does).
//!
//! Also what the server stores for each item to draw it at any zoom without decoding: the
//! peaks [`pyramid`] and the [`coarse_spectrogram`].

mod blocks;
pub mod coarse_spectrogram;
pub mod pyramid;
pub mod window;

/// Min/max pairs, `channels` per pixel, as 16-bit values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peaks {
    pub sample_rate: u32,
    pub samples_per_pixel: u32,
    pub channels: u16,
    /// For each pixel, for each channel: min, then max.
    pub data: Vec<i16>,
}

/// Value width in the files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bits {
    Eight,
    Sixteen,
}

impl Bits {
    pub fn parse(bits: u8) -> Option<Bits> {
        match bits {
            8 => Some(Bits::Eight),
            16 => Some(Bits::Sixteen),
            _ => None,
        }
    }

    fn count(self) -> u8 {
        match self {
            Bits::Eight => 8,
            Bits::Sixteen => 16,
        }
    }

    /// A 16-bit value at this width.
    pub fn narrow(self, v: i16) -> i16 {
        match self {
            Bits::Eight => v / 256,
            Bits::Sixteen => v,
        }
    }
}

/// Widens `acc` (per channel: min, max) with interleaved `samples` (whole frames).
pub fn accumulate_min_max(acc: &mut [(f32, f32)], samples: &[f32]) {
    let lanes = acc.len();
    let mut frames = samples;
    if 8 % lanes == 0 {
        // Eight samples at a time (whole frames, as the channel count divides 8): slot i of the
        // accumulators holds channel i % lanes, and the loop vectorises.
        let (mut low, mut high) = ([f32::INFINITY; 8], [f32::NEG_INFINITY; 8]);
        let chunks = samples.chunks_exact(8);
        frames = chunks.remainder();
        for chunk in chunks {
            for ((l, h), &x) in low.iter_mut().zip(high.iter_mut()).zip(chunk) {
                *l = l.min(x);
                *h = h.max(x);
            }
        }
        for (i, (l, h)) in low.iter().zip(&high).enumerate() {
            let a = &mut acc[i % lanes];
            a.0 = a.0.min(*l);
            a.1 = a.1.max(*h);
        }
    }
    for frame in frames.chunks_exact(lanes) {
        for (a, &x) in acc.iter_mut().zip(frame) {
            a.0 = a.0.min(x);
            a.1 = a.1.max(x);
        }
    }
}

/// An f32 sample as a 16-bit value (clamped).
pub fn to_i16(x: f32) -> i16 {
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

impl Peaks {
    /// From min/max pairs as f32 (`[min, max]` per channel per pixel, the `waveform`
    /// grapher's rows).
    pub fn from_f32(sample_rate: u32, samples_per_pixel: u32, channels: u16, pairs: &[f32]) -> Peaks {
        Peaks { sample_rate, samples_per_pixel, channels, data: pairs.iter().map(|&x| to_i16(x)).collect() }
    }

    /// Pixels (min/max pairs per channel).
    pub fn len(&self) -> usize {
        self.data.len() / (2 * self.channels.max(1) as usize)
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// One channel: per pixel, the smallest min and the largest max of all channels (the
    /// envelope a player draws for "all channels").
    pub fn merged(&self) -> Peaks {
        let lanes = 2 * usize::from(self.channels.max(1));
        let data = self
            .data
            .chunks_exact(lanes)
            .flat_map(|px| {
                let lo = px.iter().step_by(2).copied().min().unwrap_or(0);
                let hi = px.iter().skip(1).step_by(2).copied().max().unwrap_or(0);
                [lo, hi]
            })
            .collect();
        Peaks { channels: 1, data, ..*self }
    }

    /// Widens the last pixel to take in every pixel of `more` (same channels): a window's end
    /// that was decoded apart. With `replace`, the last pixel is made of `more` alone (it held
    /// no frame of its own).
    pub fn widen_last_pixel(&mut self, more: &Peaks, replace: bool) {
        let lanes = 2 * usize::from(self.channels.max(1));
        let Some(at) = self.data.len().checked_sub(lanes) else { return };
        if replace && let Some(first) = more.data.get(..lanes) {
            self.data[at..].copy_from_slice(first);
        }
        for pixel in more.data.chunks_exact(lanes) {
            for (k, &v) in pixel.iter().enumerate() {
                let mine = &mut self.data[at + k];
                *mine = if k % 2 == 0 { (*mine).min(v) } else { (*mine).max(v) };
            }
        }
    }

    /// Channel `c`'s (min, max) per pixel.
    pub fn channel(&self, c: usize) -> impl Iterator<Item = (i16, i16)> + '_ {
        let lanes = 2 * usize::from(self.channels.max(1));
        self.data.chunks_exact(lanes).map(move |px| (px[2 * c], px[2 * c + 1]))
    }

    /// The binary format: version 1 for one channel (as audiowaveform writes), else 2.
    pub fn to_dat(&self, bits: Bits) -> Vec<u8> {
        let version: i32 = if self.channels == 1 { 1 } else { 2 };
        let width = if bits == Bits::Eight { 1 } else { 2 };
        let mut out = Vec::with_capacity(24 + self.data.len() * width);
        out.extend(version.to_le_bytes());
        out.extend(u32::from(bits == Bits::Eight).to_le_bytes());
        out.extend((self.sample_rate as i32).to_le_bytes());
        out.extend((self.samples_per_pixel as i32).to_le_bytes());
        out.extend((self.len() as u32).to_le_bytes());
        if version == 2 {
            out.extend(i32::from(self.channels).to_le_bytes());
        }
        for &v in &self.data {
            match bits {
                Bits::Eight => out.push(bits.narrow(v) as i8 as u8),
                Bits::Sixteen => out.extend(v.to_le_bytes()),
            }
        }
        out
    }

    /// The JSON format (version 2).
    pub fn to_json(&self, bits: Bits) -> String {
        let data: Vec<i16> = self.data.iter().map(|&v| bits.narrow(v)).collect();
        serde_json::json!({
            "version": 2,
            "channels": self.channels,
            "sample_rate": self.sample_rate,
            "samples_per_pixel": self.samples_per_pixel,
            "bits": bits.count(),
            "length": self.len(),
            "data": data,
        })
        .to_string()
    }

    /// Reads a `.dat` (versions 1 and 2): the peaks (8-bit values as read, not widened) and
    /// their width.
    pub fn from_dat(bytes: &[u8]) -> Result<(Peaks, Bits), String> {
        let word = |at: usize| -> Result<[u8; 4], String> {
            bytes.get(at..at + 4).and_then(|w| w.try_into().ok()).ok_or_else(|| "truncated header".to_string())
        };
        let version = i32::from_le_bytes(word(0)?);
        let flags = u32::from_le_bytes(word(4)?);
        let sample_rate = i32::from_le_bytes(word(8)?);
        let samples_per_pixel = i32::from_le_bytes(word(12)?);
        let length = u32::from_le_bytes(word(16)?) as usize;
        let (channels, start) = match version {
            1 => (1, 20),
            2 => (i32::from_le_bytes(word(20)?), 24),
            v => return Err(format!("version {v} (1 or 2 expected)")),
        };
        if !(1..=1024).contains(&channels) || sample_rate <= 0 || samples_per_pixel <= 0 {
            return Err("bad header values".into());
        }
        let bits = if flags & 1 == 1 { Bits::Eight } else { Bits::Sixteen };
        let values = length * 2 * channels as usize;
        let body = &bytes[start..];
        let data: Vec<i16> = match bits {
            Bits::Eight if body.len() == values => body.iter().map(|&b| i16::from(b as i8)).collect(),
            Bits::Sixteen if body.len() == values * 2 => {
                body.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect()
            }
            _ => return Err(format!("{} data bytes for {length} pixels of {channels} channels", body.len())),
        };
        let peaks = Peaks {
            sample_rate: sample_rate as u32,
            samples_per_pixel: samples_per_pixel as u32,
            channels: channels as u16,
            data,
        };
        Ok((peaks, bits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stereo() -> Peaks {
        Peaks {
            sample_rate: 44100,
            samples_per_pixel: 256,
            channels: 2,
            data: vec![-300, 400, -32768, 32767, 0, 1, -1, 255],
        }
    }

    #[test]
    fn dat_headers_follow_audiowaveform_and_read_back() {
        let p = stereo();
        let dat = p.to_dat(Bits::Sixteen);
        // version 2, 16 bits, rate, zoom, 2 pixels, 2 channels; then the values.
        let header: Vec<i32> = dat[..24].chunks(4).map(|c| i32::from_le_bytes(c.try_into().expect("4"))).collect();
        assert_eq!(header, vec![2, 0, 44100, 256, 2, 2]);
        assert_eq!(dat.len(), 24 + 8 * 2);
        assert_eq!(Peaks::from_dat(&dat), Ok((p.clone(), Bits::Sixteen)));
        // Mono: version 1, no channel count; 8 bits: value / 256, truncated toward zero.
        let mono = Peaks { channels: 1, ..p };
        let dat = mono.to_dat(Bits::Eight);
        assert_eq!(i32::from_le_bytes(dat[..4].try_into().expect("4")), 1);
        assert_eq!(u32::from_le_bytes(dat[4..8].try_into().expect("4")), 1);
        assert_eq!(dat.len(), 20 + 8);
        let (read, bits) = Peaks::from_dat(&dat).expect("read");
        assert_eq!((bits, read.len()), (Bits::Eight, 4));
        assert_eq!(read.data, vec![-1, 1, -128, 127, 0, 0, 0, 0]);
        assert!(Peaks::from_dat(&dat[..dat.len() - 1]).is_err());
        assert!(Peaks::from_dat(&dat[..10]).is_err());
    }

    #[test]
    fn json_is_version_2_with_the_same_values() {
        let v: serde_json::Value = serde_json::from_str(&stereo().to_json(Bits::Eight)).expect("json");
        assert_eq!(v["version"], 2);
        assert_eq!((v["channels"].as_u64(), v["bits"].as_u64(), v["length"].as_u64()), (Some(2), Some(8), Some(2)));
        assert_eq!(v["data"], serde_json::json!([-1, 1, -128, 127, 0, 0, 0, 0]));
    }

    #[test]
    fn sixteen_bit_samples_come_back_exactly() {
        for s in [-32768i16, -1, 0, 1, 12345, 32767] {
            assert_eq!(to_i16(f32::from(s) / 32768.0), s);
        }
        assert_eq!((to_i16(2.0), to_i16(-2.0)), (32767, -32768));
    }
}
