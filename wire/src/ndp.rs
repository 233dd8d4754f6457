//! TODO: ndp
