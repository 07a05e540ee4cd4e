//! `waveform_transparent`: the waveform in white on a transparent background, to lay over a
//! spectrogram or a page (TimeSide's `waveform_transparent`). Writes `waveform_transparent.png`.

super::waveform_image::waveform_grapher!(
    "waveform_transparent",
    "Waveform (transparent)",
    "The waveform on a transparent background: waveform_transparent.png.",
    super::waveform_image::Style::Filled,
    ("#ffffffe0", "transparent")
);
