//! The store threads (to be written).
