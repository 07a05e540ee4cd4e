//! `waveform_centroid`: the waveform coloured column by column by the spectral centroid of its
//! audio (viridis, log frequency from 50 Hz to Nyquist: dark is dull or low, yellow is bright).
//! TimeSide's `waveform_centroid`. Writes `waveform_centroid.png`.

super::image_grapher!(
    "waveform_centroid",
    "Waveform (spectral centroid colours)",
    "The waveform, each column coloured by the spectral centroid (viridis, log 50 Hz..Nyquist): \
     waveform_centroid.png.",
    waveform_image::WaveformImage,
    super::waveform_image::Style::Centroid,
    ("#26547c", "#ffffff")
);
