//! Shared helpers of the integration tests.

pub mod fixtures;

// Fixture dispatch of the op families that landed after the core, one module per family.
pub mod conv_pool;
pub mod losses;
pub mod nn;
