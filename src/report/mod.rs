//! Reports: figures from run folders.

pub mod plot;
