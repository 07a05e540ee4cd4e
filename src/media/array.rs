//! An in-memory source: samples already decoded (tests, the API, generated demo signals).

use super::{AudioFormat, Block, DecodeOptions, MediaError, Reblocker, Source, SourceSummary, clip_to_segment};

pub struct ArraySource {
    samples: Vec<f32>,
    format: AudioFormat,
    reblocker: Reblocker,
    segment: (u64, Option<u64>),
    position: usize,
    out: std::collections::VecDeque<Block>,
    delivered: u64,
    first_frame: Option<u64>,
    name: String,
}

impl ArraySource {
    /// `samples` are interleaved. Resampling and channel changes are GStreamer's job: options
    /// asking for them are refused here rather than silently ignored.
    pub fn new(samples: Vec<f32>, format: AudioFormat, options: &DecodeOptions) -> Result<Self, MediaError> {
        let name = "array".to_string();
        let bad = |message: String| MediaError::Options { input: name.clone(), message };
        if format.channels == 0 || format.samplerate == 0 {
            return Err(bad("samplerate and channels must be non-zero".into()));
        }
        if (options.samplerate != 0 && options.samplerate != format.samplerate)
            || (options.channels != 0 && options.channels != format.channels)
        {
            return Err(bad("an array source cannot resample or remix".into()));
        }
        if let Some(p) = options.problems().into_iter().next() {
            return Err(bad(p));
        }
        let total = (samples.len() / format.channels as usize) as u64;
        let segment = segment_frames(options, format.samplerate);
        if segment.0 >= total && total > 0 {
            return Err(MediaError::SegmentOutOfRange {
                input: name,
                start_s: options.start_s,
                duration_s: total as f64 / format.samplerate as f64,
            });
        }
        Ok(ArraySource {
            reblocker: Reblocker::new(format, options.block_size()),
            samples,
            format,
            segment,
            position: 0,
            out: Default::default(),
            delivered: 0,
            first_frame: None,
            name,
        })
    }
}

/// The segment of `options` in frames at `rate`: (start, end exclusive).
pub fn segment_frames(options: &DecodeOptions, rate: u32) -> (u64, Option<u64>) {
    let start = (options.start_s * rate as f64).round() as u64;
    let end = options.duration_s.map(|d| start + (d * rate as f64).round() as u64);
    (start, end)
}

impl Source for ArraySource {
    fn format(&self) -> AudioFormat {
        self.format
    }

    fn expected_frames(&self) -> Option<u64> {
        let total = (self.samples.len() / self.format.channels as usize) as u64;
        let end = self.segment.1.map_or(total, |e| e.min(total));
        Some(end.saturating_sub(self.segment.0))
    }

    fn next_block(&mut self) -> Result<Option<Block>, MediaError> {
        let ch = self.format.channels as usize;
        // Feed the reblocker from the array in chunks until a block is out or the data ends.
        while self.out.is_empty() && self.position < self.samples.len() {
            let chunk_end = (self.position + 65536 * ch).min(self.samples.len());
            let frame = (self.position / ch) as u64;
            let chunk = &self.samples[self.position..chunk_end];
            self.position = chunk_end;
            if let Some((f, part)) = clip_to_segment(frame, chunk, ch, self.segment) {
                let out = &mut self.out;
                self.reblocker.push(f, part, &mut |b| out.push_back(b));
            }
        }
        if self.out.is_empty() {
            let out = &mut self.out;
            self.reblocker.flush(&mut |b| out.push_back(b));
        }
        let block = self.out.pop_front();
        if let Some(b) = &block {
            self.first_frame.get_or_insert(b.frame);
            self.delivered += b.frames() as u64;
        }
        Ok(block)
    }

    fn stop(&mut self) {
        self.position = self.samples.len();
    }

    fn summary(&mut self) -> Result<SourceSummary, MediaError> {
        Ok(SourceSummary {
            uri: self.name.clone(),
            source_samplerate: Some(self.format.samplerate),
            source_channels: Some(self.format.channels),
            frames: self.delivered,
            start_frame: self.first_frame.unwrap_or(self.segment.0),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_sample_accurate() {
        let fmt = AudioFormat { samplerate: 1000, channels: 2 };
        let samples: Vec<f32> = (0..4000).map(|i| (i / 2) as f32).collect(); // frame index in both channels
        let opts = DecodeOptions { start_s: 0.25, duration_s: Some(0.5), block_size: 128, ..Default::default() };
        let mut src = ArraySource::new(samples, fmt, &opts).expect("source");
        let mut frames = Vec::new();
        while let Some(b) = src.next_block().expect("block") {
            frames.extend(b.samples.iter().step_by(2).copied());
        }
        assert_eq!(frames.len(), 500);
        assert_eq!(frames[0], 250.0);
        assert_eq!(*frames.last().expect("frames"), 749.0);
    }
}
