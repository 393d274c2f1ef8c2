//! The server conformance suite (being written).
