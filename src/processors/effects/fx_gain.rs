//! `fx_gain`: multiplies the signal by a gain given in dB (TimeSide's Gain effect).
//! Samples are not clipped: a later encoder or analyzer sees values past full scale as they are.
//!
//! ```toml
//! [[processors]]
//! id = "fx_gain"
//! params = { gain_db = -6.0 }
//! ```

use crate::media::Block;
use crate::processors::cost::{AudioShape, Cost};
use crate::processors::params::check;
use crate::processors::{BuildContext, Descriptor, Effect, Kind};
use serde::{Deserialize, Serialize};

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "fx_gain",
    name: "Gain",
    kind: Kind::Effect,
    version: "1.0",
    description: "Applies a gain in dB to every channel (no clipping).",
    unit: "",
    live: true,
};

#[derive(Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Gain in dB; negative attenuates. -120..=60. Default 0.
    pub gain_db: f64,
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        check(
            &mut p,
            (-120.0..=60.0).contains(&self.gain_db),
            "gain_db",
            format!("must be -120..=60 dB, got {}", self.gain_db),
        );
        p
    }
}

pub struct Gain {
    factor: f32,
}

/// A product per sample.
pub fn cost(_: &Params, audio: &AudioShape) -> Cost {
    Cost::streaming(audio, 1.0, 0.0, "")
}

pub fn build(p: Params, _: &mut BuildContext) -> Result<Gain, String> {
    Ok(Gain { factor: 10f64.powf(p.gain_db / 20.0) as f32 })
}

impl Effect for Gain {
    fn process(&mut self, block: &mut Block) {
        for x in &mut block.samples {
            *x *= self.factor;
        }
    }
}
