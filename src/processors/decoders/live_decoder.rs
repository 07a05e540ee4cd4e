//! `live_decoder`: Runs a GStreamer launch description producing audio (e.g. `audiotestsrc is-live=true`, `alsasrc`, `udpsrc ! ...`) until stopped or for a duration.

use crate::processors::{Descriptor, Kind};

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "live_decoder",
    name: "Live decoder",
    kind: Kind::Decoder,
    version: "1.0",
    description: "Runs a GStreamer launch description producing audio (e.g. `audiotestsrc is-live=true`, `alsasrc`, `udpsrc ! ...`) until stopped or for a duration.",
    unit: "",
    live: true,
};
