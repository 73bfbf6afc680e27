//! Atomic-pointer snapshots for configuration and routing tables.
//! (Being built: see issue 3.)
