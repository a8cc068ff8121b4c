//! The verifier: every check of protocol.md §6 (DESIGN §4) in order, then the nonce, the
//! request's answer sets and the trust list's policy, yielding an [`AgeOutcome`].

use std::sync::Arc;

use ageband_core::age::{Predicate, outcome_of};
use ageband_core::profile::{self, AgeVerifyOptions, VCT};
use ageband_core::sdjwt;

use crate::clock::{Clock, SystemClock};
use crate::error::VerifyError;
use crate::nonce::{MemoryNonceStore, NonceError, NonceStore};
use crate::outcome::{AgeOutcome, Profile};
use crate::request::AgeRequest;
use crate::trust::{TrustList, TrustStore};

/// Verifies presentations against a trust list, with a nonce store and a clock.
#[derive(Clone)]
pub struct Verifier {
    trust: Arc<TrustStore>,
    nonces: Arc<dyn NonceStore>,
    clock: Arc<dyn Clock>,
    vct: String,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("vct", &self.vct)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier over a shared trust store, with an in-memory nonce store and the system
    /// clock.
    pub fn new(trust: Arc<TrustStore>) -> Self {
        Verifier {
            trust,
            nonces: Arc::new(MemoryNonceStore::default()),
            clock: Arc::new(SystemClock),
            vct: VCT.to_owned(),
        }
    }

    /// A verifier over a fixed trust list.
    pub fn from_trust_list(list: TrustList) -> Self {
        Self::new(Arc::new(TrustStore::new(list)))
    }

    /// Uses `nonces` to remember consumed nonces (share one store between verifiers that
    /// serve the same audience).
    pub fn with_nonce_store(mut self, nonces: Arc<dyn NonceStore>) -> Self {
        self.nonces = nonces;
        self
    }

    /// Uses `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Expects credentials of type `vct` (default `urn:ageband:age:1`).
    pub fn with_vct(mut self, vct: impl Into<String>) -> Self {
        self.vct = vct.into();
        self
    }

    /// The trust store.
    pub fn trust(&self) -> &Arc<TrustStore> {
        &self.trust
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Verifies `presentation` as an answer to `request`: the credential profile's checks
    /// (protocol.md §6.1–§6.4), then the nonce is consumed once (§6.5), then the disclosed
    /// predicates must be exactly one answer set of the request (§6.6), and the issuer's
    /// source and level must satisfy the trust list and the request.
    pub fn verify(&self, presentation: &str, request: &AgeRequest) -> Result<AgeOutcome, VerifyError> {
        let now = self.clock.now();
        let trust = self.trust.snapshot();
        let opts = AgeVerifyOptions {
            vct: &self.vct,
            ..AgeVerifyOptions::new(now, request.audience(), request.nonce())
        };
        let claims = match profile::verify(presentation, trust.as_ref(), &opts) {
            Ok(c) => c,
            Err(e @ (sdjwt::VerifyError::UnexpectedDisclosure | sdjwt::VerifyError::WrongVct)) => {
                // These follow a valid key binding: the holder did answer this nonce, so it
                // is spent (protocol.md §6.5).
                let _ = self.nonces.consume(request.nonce(), now);
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        };
        self.nonces.consume(request.nonce(), now).map_err(|e| match e {
            NonceError::Full => VerifyError::NonceStoreFull,
            _ => VerifyError::NonceReplayed,
        })?;
        check_answer(&claims.predicates, request)?;
        // The key resolved to this issuer, so its policy exists; a missing one means the list
        // was swapped mid-call, which we treat as untrusted.
        let policy = trust
            .issuer(&claims.issuer)
            .ok_or(VerifyError::Credential(sdjwt::VerifyError::UntrustedIssuer))?;
        if !policy.accepts(claims.source) {
            return Err(VerifyError::SourceNotAccepted {
                presented: claims.source,
            });
        }
        let required = request
            .minimum()
            .map_or(policy.minimum(), |m| m.max(policy.minimum()));
        if claims.assurance < required {
            return Err(VerifyError::AssuranceTooLow {
                required,
                presented: claims.assurance,
            });
        }
        let band = outcome_of(&claims.predicates);
        Ok(AgeOutcome {
            at_least: band.at_least,
            under: band.under,
            assurance: claims.assurance,
            source: Some(claims.source),
            issuer: claims.issuer,
            profile: Profile::SdJwt,
        })
    }
}

/// protocol.md §6.6 steps 3–4: every disclosed threshold is named by some answer set, and the
/// disclosed pairs equal exactly one set. Without a question, the pairs must be non-empty and
/// consistent.
fn check_answer(disclosed: &[Predicate], request: &AgeRequest) -> Result<(), VerifyError> {
    let sets = request.answer_sets();
    if request.question().is_none() {
        let band = outcome_of(disclosed);
        let consistent = match (band.at_least, band.under) {
            (Some(a), Some(u)) => a < u,
            (None, None) => false,
            _ => true,
        };
        return if consistent {
            Ok(())
        } else {
            Err(VerifyError::ClaimSetMismatch)
        };
    }
    if disclosed
        .iter()
        .any(|(t, _)| !sets.iter().flatten().any(|(s, _)| s == t))
    {
        return Err(VerifyError::OverDisclosure);
    }
    // `disclosed` is sorted by threshold and free of duplicates (core guarantees both).
    let matches = sets
        .iter()
        .filter(|set| {
            let mut set = set.to_vec();
            set.sort();
            set == disclosed
        })
        .count();
    if matches == 1 {
        Ok(())
    } else {
        Err(VerifyError::ClaimSetMismatch)
    }
}
