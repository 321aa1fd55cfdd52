//! Interoperability with another JOSE implementation (josekit), both ways.
#![allow(clippy::unwrap_used, unreachable_pub)] // test code: a failed unwrap is a failed test

mod josekit;
