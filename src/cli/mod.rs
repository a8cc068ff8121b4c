//! Subcommands of the `ageband` program, one module per role.

pub mod issuer;
pub mod verifier;
pub mod wallet;
