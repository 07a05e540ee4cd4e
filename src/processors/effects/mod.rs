//! Effects: change the signal in place, in series, before the fan-out to every other processor.

pub mod fx_gain;
