//! Turning GStreamer tag lists into plain strings (binary tags such as cover images are skipped).

use gstreamer as gst;
use gstreamer::glib;
use std::collections::BTreeMap;

pub fn collect(tags: &gst::TagListRef, into: &mut BTreeMap<String, String>) {
    for (name, value) in tags.iter() {
        if let Some(text) = value_to_string(&value) {
            into.entry(name.to_string()).or_insert(text);
        }
    }
}

/// What a player shows as now playing, from a tag list: `Artist - Title` (as Icecast shows
/// Ogg comments), or the title alone. An Icecast stream's ICY `StreamTitle` arrives as a title
/// that already holds both.
pub fn stream_title(tags: &gst::TagListRef) -> Option<String> {
    let title = tags.get::<gst::tags::Title>().map(|v| v.get().trim().to_string()).filter(|t| !t.is_empty())?;
    match tags.get::<gst::tags::Artist>().map(|v| v.get().trim().to_string()).filter(|a| !a.is_empty()) {
        Some(artist) => Some(format!("{artist} - {title}")),
        None => Some(title),
    }
}

fn value_to_string(value: &glib::SendValue) -> Option<String> {
    if let Ok(s) = value.get::<String>() {
        return Some(s);
    }
    if let Ok(v) = value.get::<u32>() {
        return Some(v.to_string());
    }
    if let Ok(v) = value.get::<u64>() {
        return Some(v.to_string());
    }
    if let Ok(v) = value.get::<i32>() {
        return Some(v.to_string());
    }
    if let Ok(v) = value.get::<f64>() {
        return Some(v.to_string());
    }
    if let Ok(v) = value.get::<gst::DateTime>() {
        return v.to_iso8601_string().ok().map(|s| s.to_string());
    }
    if let Ok(v) = value.get::<glib::Date>() {
        return Some(format!("{:04}-{:02}-{:02}", v.year(), v.month().into_glib(), v.day()));
    }
    None
}

use gstreamer::glib::translate::IntoGlib;
