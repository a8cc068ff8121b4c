//! The verifier's clock is core's (STYLE: inject the world): one `Clock` trait shared by the
//! issuer, the wallet and the verifier, so that a demo or a test drives all three with one
//! `ManualClock`.

pub use ageband_core::clock::{Clock, ManualClock, SystemClock};
