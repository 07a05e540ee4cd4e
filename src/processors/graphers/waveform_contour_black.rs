//! `waveform_contour_black`: the outline of the waveform's envelope in white on black
//! (TimeSide's `waveform_contour_black`). Writes `waveform_contour_black.png`.

super::image_grapher!(
    "waveform_contour_black",
    "Waveform contour (black)",
    "The outline of the waveform's min/max envelope, white on black: waveform_contour_black.png.",
    waveform_image::WaveformImage,
    super::waveform_image::Style::Contour,
    ("#ffffff", "#000000")
);
