//! Interoperability with another JOSE implementation (josekit), both ways.

mod josekit;
