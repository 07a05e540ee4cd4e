//! Drawing images: an anti-aliased canvas (tiny-skia) that encodes to PNG, colours given as
//! text (`#rrggbb`, `#rrggbbaa`, `transparent`), perceptual colour maps, and optional axes with
//! tick labels in a small built-in bitmap font (no font files to install).

pub mod colormap;
mod font;
pub mod plot;

pub use colormap::ColorMap;
use tiny_skia::{FillRule, Paint, PathBuilder, Pixmap, Rect, Stroke, Transform};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rgba(pub [u8; 4]);

impl Rgba {
    pub const WHITE: Rgba = Rgba([255, 255, 255, 255]);
    pub const BLACK: Rgba = Rgba([0, 0, 0, 255]);

    /// `#rrggbb`, `#rrggbbaa` or `transparent`.
    pub fn parse(text: &str) -> Option<Rgba> {
        if text.eq_ignore_ascii_case("transparent") {
            return Some(Rgba([0, 0, 0, 0]));
        }
        let hex = text.strip_prefix('#')?;
        if !(hex.len() == 6 || hex.len() == 8) || !hex.is_ascii() {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        let alpha = if hex.len() == 8 { byte(6)? } else { 255 };
        Some(Rgba([byte(0)?, byte(2)?, byte(4)?, alpha]))
    }

    pub fn rgb(c: [u8; 3]) -> Rgba {
        Rgba([c[0], c[1], c[2], 255])
    }

    fn paint(self) -> Paint<'static> {
        let mut p = Paint::default();
        p.set_color_rgba8(self.0[0], self.0[1], self.0[2], self.0[3]);
        p.anti_alias = true;
        p
    }
}

/// Most pixels an image may have (64 MB of RGBA): a client's size asks for no more memory.
pub const MAX_PIXELS: u64 = 1 << 24;

/// Checks an image size against [`MAX_PIXELS`].
pub fn check_size(problems: &mut Vec<String>, width: u32, height: u32) {
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        problems.push(format!("width x height: {width}x{height} is more than {MAX_PIXELS} pixels"));
    }
}

/// Checks a colour parameter: a message naming it when it is not a colour.
pub fn check_color(problems: &mut Vec<String>, name: &str, value: &str) {
    if Rgba::parse(value).is_none() {
        problems.push(format!("{name}: `{value}` is not a colour (#rrggbb, #rrggbbaa or transparent)"));
    }
}

/// Where the data is drawn: the whole image, or inside the axes' margins.
#[derive(Clone, Copy, Debug)]
pub struct Area {
    pub left: f32,
    pub top: f32,
    pub width: f32,
    pub height: f32,
}

pub struct Canvas {
    pixmap: Pixmap,
}

impl Canvas {
    /// A `width` x `height` canvas filled with `background`.
    pub fn new(width: u32, height: u32, background: Rgba) -> Canvas {
        // Sizes are checked by the callers' parameters (at least 1x1): fall back to 1x1.
        let mut pixmap = Pixmap::new(width.max(1), height.max(1)).or_else(|| Pixmap::new(1, 1)).expect("1x1 pixmap");
        let [r, g, b, a] = background.0;
        pixmap.fill(tiny_skia::Color::from_rgba8(r, g, b, a));
        Canvas { pixmap }
    }

    pub fn width(&self) -> u32 {
        self.pixmap.width()
    }

    pub fn height(&self) -> u32 {
        self.pixmap.height()
    }

    /// The whole image as the drawing area.
    pub fn full(&self) -> Area {
        Area { left: 0.0, top: 0.0, width: self.width() as f32, height: self.height() as f32 }
    }

    /// A rectangle (fractional edges are anti-aliased).
    pub fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, color: Rgba) {
        if let Some(r) = Rect::from_xywh(x, y, w.max(0.0), h.max(0.0)) {
            self.pixmap.fill_rect(r, &color.paint(), Transform::identity(), None);
        }
    }

    /// A filled polygon.
    pub fn polygon(&mut self, points: &[(f32, f32)], color: Rgba) {
        if let Some(path) = path_of(points, true) {
            self.pixmap.fill_path(&path, &color.paint(), FillRule::Winding, Transform::identity(), None);
        }
    }

    /// A line through `points`.
    pub fn polyline(&mut self, points: &[(f32, f32)], color: Rgba, width: f32) {
        if let Some(path) = path_of(points, false) {
            let stroke = Stroke { width, line_join: tiny_skia::LineJoin::Round, ..Default::default() };
            self.pixmap.stroke_path(&path, &color.paint(), &stroke, Transform::identity(), None);
        }
    }

    /// One pixel, replaced (images drawn pixel by pixel: spectrograms).
    pub fn set(&mut self, x: u32, y: u32, c: [u8; 3]) {
        let w = self.pixmap.width();
        if x < w && y < self.pixmap.height() {
            let at = ((y * w + x) * 4) as usize;
            self.pixmap.data_mut()[at..at + 4].copy_from_slice(&[c[0], c[1], c[2], 255]);
        }
    }

    /// Text in the bitmap font, its top-left corner at (x, y).
    pub fn text(&mut self, x: f32, y: f32, text: &str, color: Rgba) {
        for (i, c) in text.chars().enumerate() {
            let rows = font::glyph(c);
            let gx = x + i as f32 * font::ADVANCE as f32;
            for (row, bits) in rows.iter().enumerate() {
                for col in 0..font::WIDTH {
                    if bits & (1 << (font::WIDTH - 1 - col)) != 0 {
                        self.rect(gx + col as f32, y + row as f32, 1.0, 1.0, color);
                    }
                }
            }
        }
    }

    /// Encodes as PNG (RGBA, 8 bits).
    pub fn png(&self) -> Vec<u8> {
        // tiny-skia stores premultiplied alpha; PNG wants it straight.
        let mut data = self.pixmap.data().to_vec();
        for px in data.chunks_exact_mut(4) {
            let a = u32::from(px[3]);
            if a != 0 && a != 255 {
                for c in &mut px[..3] {
                    *c = ((u32::from(*c) * 255 + a / 2) / a).min(255) as u8;
                }
            }
        }
        encode_png(self.width(), self.height(), &data)
    }
}

/// Straight RGBA pixels (8 bits, row after row) as a PNG.
pub fn encode_png(width: u32, height: u32, rgba: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    // Encoding into a Vec cannot fail for a correctly sized buffer.
    if let Ok(mut writer) = enc.write_header() {
        let _ = writer.write_image_data(rgba);
    }
    out
}

/// A PNG as straight RGBA pixels (8 bits) and its size; any 8-bit PNG is expanded to RGBA.
pub fn decode_png(bytes: &[u8]) -> std::io::Result<(u32, u32, Vec<u8>)> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::ALPHA);
    let mut reader = decoder.read_info().map_err(std::io::Error::other)?;
    let size = reader.output_buffer_size().ok_or_else(|| std::io::Error::other("the image is too large"))?;
    let mut rgba = vec![0u8; size];
    let frame = reader.next_frame(&mut rgba).map_err(std::io::Error::other)?;
    if frame.color_type != png::ColorType::Rgba || frame.bit_depth != png::BitDepth::Eight {
        return Err(std::io::Error::other(format!(
            "a {:?} {:?} PNG, not 8-bit RGBA",
            frame.color_type, frame.bit_depth
        )));
    }
    rgba.truncate(frame.buffer_size());
    Ok((frame.width, frame.height, rgba))
}

fn path_of(points: &[(f32, f32)], close: bool) -> Option<tiny_skia::Path> {
    let (first, rest) = points.split_first()?;
    let mut pb = PathBuilder::new();
    pb.move_to(first.0, first.1);
    for p in rest {
        pb.line_to(p.0, p.1);
    }
    if close {
        pb.close();
    }
    pb.finish()
}

/// Margins kept for axes: room for five-character labels on the left, one line below.
pub const AXIS_LEFT: f32 = 6.0 * font::ADVANCE as f32 + 4.0;
pub const AXIS_BOTTOM: f32 = font::HEIGHT as f32 + 6.0;

/// The area inside the axes' margins.
pub fn plot_area(canvas: &Canvas, axes: bool) -> Area {
    if !axes {
        return canvas.full();
    }
    let (w, h) = (canvas.width() as f32, canvas.height() as f32);
    Area { left: AXIS_LEFT, top: 2.0, width: (w - AXIS_LEFT - 2.0).max(1.0), height: (h - AXIS_BOTTOM - 2.0).max(1.0) }
}

/// Ticks at 1, 2 or 5 × 10^k, about `target` of them over `lo..hi`.
pub fn ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) || target == 0 {
        return Vec::new();
    }
    let raw = (hi - lo) / target as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(10.0 * magnitude);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 && out.len() < 100 {
        out.push(t);
        t += step;
    }
    out
}

/// `m:ss` past a minute, else seconds with the decimals the tick step needs.
pub fn time_label(seconds: f64, step: f64) -> String {
    if seconds >= 60.0 && step >= 1.0 {
        let s = seconds.round() as u64;
        if s >= 3600 {
            format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
        } else {
            format!("{}:{:02}", s / 60, s % 60)
        }
    } else {
        let decimals = if step >= 1.0 { 0 } else { (-step.log10().floor()) as usize };
        format!("{seconds:.decimals$}")
    }
}

/// `440`, `1.5k`, `12k`.
pub fn hz_label(hz: f64) -> String {
    if hz >= 1000.0 {
        let k = hz / 1000.0;
        if (k - k.round()).abs() < 1e-6 { format!("{}k", k.round()) } else { format!("{k:.1}k") }
    } else {
        format!("{}", hz.round())
    }
}

/// Draws the time axis under `area` for `start..stop` seconds, and the given value ticks
/// (position 0..1 from the bottom, label) on the left.
pub fn draw_axes(canvas: &mut Canvas, area: Area, start: f64, stop: f64, values: &[(f32, String)], color: Rgba) {
    let bottom = area.top + area.height;
    canvas.rect(area.left - 1.0, area.top, 1.0, area.height + 1.0, color);
    canvas.rect(area.left - 1.0, bottom, area.width + 1.0, 1.0, color);
    let count = (area.width / (font::ADVANCE as f32 * 8.0)).max(1.0) as usize;
    let t = ticks(start, stop, count);
    let step = if t.len() > 1 { t[1] - t[0] } else { stop - start };
    for s in t {
        let x = area.left + ((s - start) / (stop - start)) as f32 * area.width;
        canvas.rect(x, bottom, 1.0, 3.0, color);
        let label = time_label(s, step);
        let w = label.len() as f32 * font::ADVANCE as f32;
        let lx = (x - w / 2.0).clamp(area.left, (area.left + area.width - w).max(area.left));
        canvas.text(lx.round(), bottom + 4.0, &label, color);
    }
    for (pos, label) in values {
        let y = bottom - pos * area.height;
        canvas.rect(area.left - 4.0, y, 3.0, 1.0, color);
        let w = label.len() as f32 * font::ADVANCE as f32;
        let ly = (y - font::HEIGHT as f32 / 2.0).clamp(area.top, bottom - font::HEIGHT as f32);
        canvas.text((area.left - 5.0 - w).max(0.0).round(), ly.round(), label, color);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_parse_and_ticks_are_round() {
        assert_eq!(Rgba::parse("#26547c"), Some(Rgba([0x26, 0x54, 0x7c, 255])));
        assert_eq!(Rgba::parse("#ffffff80"), Some(Rgba([255, 255, 255, 128])));
        assert_eq!(Rgba::parse("transparent").map(|c| c.0[3]), Some(0));
        assert_eq!(Rgba::parse("red"), None);
        assert_eq!(Rgba::parse("#12345"), None);
        assert_eq!(ticks(0.0, 10.0, 5), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(time_label(125.0, 30.0), "2:05");
        assert_eq!(time_label(1.5, 0.5), "1.5");
        assert_eq!((hz_label(440.0), hz_label(1500.0), hz_label(12000.0)), ("440".into(), "1.5k".into(), "12k".into()));
    }

    #[test]
    fn transparent_pixels_stay_transparent_in_the_png() {
        let mut c = Canvas::new(4, 4, Rgba::parse("transparent").expect("colour"));
        c.rect(0.0, 0.0, 2.0, 4.0, Rgba([255, 0, 0, 255]));
        let png = c.png();
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let mut reader = decoder.read_info().expect("png");
        let mut buf = vec![0; reader.output_buffer_size().expect("size")];
        reader.next_frame(&mut buf).expect("frame");
        assert_eq!(&buf[..4], &[255, 0, 0, 255]);
        assert_eq!(buf[3 * 4 + 3], 0);
    }
}
