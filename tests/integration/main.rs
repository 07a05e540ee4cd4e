//! Integration tests: real GStreamer decoding of files made in the tests, the real binary,
//! a real HTTP server on 127.0.0.1. One test binary (see `common` for the signal helpers).

mod browser;
mod cli;
mod collections;
mod common;
mod decode;
mod edges;
mod encode;
mod exports;
mod graphers;
mod hardening;
mod hls;
mod http;
mod iiif;
mod interop_http;
mod interop_live;
mod mounts;
mod multi_user;
mod on_demand;
mod pipeline;
mod scale_out;
mod server;
mod sox_parity;
mod visual;
