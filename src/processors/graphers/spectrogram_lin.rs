//! `spectrogram_lin`: a spectrogram image with a linear frequency axis (0 Hz to Nyquist by
//! default), magma colours over `range_db` below full scale. Writes `spectrogram_lin.png`.

super::image_grapher!(
    "spectrogram_lin",
    "Spectrogram (linear frequency)",
    "Spectrogram image, linear frequency axis, perceptual colour map: spectrogram_lin.png.",
    spectrogram_image::SpectrogramImage,
    super::spectrogram_image::Scale::Linear
);
