//! `waveform_contour_white`: the outline of the waveform's envelope in black on white
//! (TimeSide's `waveform_contour_white`). Writes `waveform_contour_white.png`.

super::image_grapher!(
    "waveform_contour_white",
    "Waveform contour (white)",
    "The outline of the waveform's min/max envelope, black on white: waveform_contour_white.png.",
    waveform_image::WaveformImage,
    super::waveform_image::Style::Contour,
    ("#000000", "#ffffff")
);
