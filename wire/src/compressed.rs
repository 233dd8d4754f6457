//! TODO: compressed
