//! `array_decoder`: Samples already in memory (tests, the API, generated signals).

use crate::processors::{Descriptor, Kind};

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "array_decoder",
    name: "Array decoder",
    kind: Kind::Decoder,
    version: "1.0",
    description: "Samples already in memory (tests, the API, generated signals).",
    unit: "",
    live: true,
};
