//! `spectrogram_log`: a spectrogram image with a logarithmic frequency axis (20 Hz to Nyquist
//! by default: octaves equally tall, as ears hear them), magma colours over `range_db` below
//! full scale. Writes `spectrogram_log.png`.

super::image_grapher!(
    "spectrogram_log",
    "Spectrogram (log frequency)",
    "Spectrogram image, logarithmic frequency axis, perceptual colour map: spectrogram_log.png.",
    spectrogram_image::SpectrogramImage,
    super::spectrogram_image::Scale::Log
);
