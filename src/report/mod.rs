//! Reports: figures and tables from run folders.

pub mod plot;
pub mod table;
