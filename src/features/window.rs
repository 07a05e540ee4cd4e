//! Analysis windows (periodic, as used for spectral analysis).

use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    #[default]
    Hann,
    Hamming,
    Blackman,
    /// No tapering.
    Rectangular,
}

impl Window {
    pub fn coefficients(self, size: usize) -> Vec<f32> {
        let n = size as f64;
        (0..size)
            .map(|i| {
                let x = 2.0 * PI * i as f64 / n;
                (match self {
                    Window::Hann => 0.5 - 0.5 * x.cos(),
                    Window::Hamming => 0.54 - 0.46 * x.cos(),
                    Window::Blackman => 0.42 - 0.5 * x.cos() + 0.08 * (2.0 * x).cos(),
                    Window::Rectangular => 1.0,
                }) as f32
            })
            .collect()
    }
}
