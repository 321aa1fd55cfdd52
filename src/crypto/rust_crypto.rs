//! RustCrypto provider (placeholder, being written).
