//! Bounds shared by several layers, each written once.

/// Parent links a lineage walk follows at most (a guard against corrupt cycles): the
/// store's own walks, and the scripts', which get it as an argument.
pub const MAX_LINEAGE_HOPS: usize = 100_000;
