//! `waveform_simple`: the waveform of the mono mix, min/max filled, anti-aliased, in one colour
//! on white (TimeSide's `waveform_simple`). Writes `waveform_simple.png`.

super::image_grapher!(
    "waveform_simple",
    "Waveform",
    "The waveform (min/max of the mono mix) filled in one colour: waveform_simple.png.",
    waveform_image::WaveformImage,
    super::waveform_image::Style::Filled,
    ("#26547c", "#ffffff")
);
