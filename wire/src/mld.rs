//! TODO: mld
