//! aws-lc-rs provider (placeholder, being written).
