//! `waveform_transparent`: the waveform in white on a transparent background, to lay over a
//! spectrogram or a page (TimeSide's `waveform_transparent`). Writes `waveform_transparent.png`.

super::image_grapher!(
    "waveform_transparent",
    "Waveform (transparent)",
    "The waveform on a transparent background: waveform_transparent.png.",
    waveform_image::WaveformImage,
    super::waveform_image::Style::Filled,
    ("#ffffffe0", "transparent")
);
