//! Pieces of the `ageband` program that tests and other tools reuse: the demo identity
//! provider. The program itself is `src/main.rs`.

#![forbid(unsafe_code)]

pub mod demo_idp;
