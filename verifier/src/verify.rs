//! The verifier: every check of protocol.md §6 (DESIGN §4) in order, then the nonce, the
//! request's answer sets and the trust list's policy, yielding an [`AgeOutcome`]; and the same
//! for blind-token answers (blind-profile.md §12.4), with a shared spent set.

use std::sync::{Arc, Mutex};

use ageband_blind::profile::{
    BlindFact, BlindPresentation, BlindQuery, BlindVerifyError, FactKind, Floor, MAX_PRESENTATION,
    MemorySpentSet, SpentSet, verify_presentation,
};
use ageband_core::age::{AssuranceLevel, Source};

use ageband_core::age::{Predicate, outcome_of};
use ageband_core::profile::{self, AgeVerifyOptions, VCT};
use ageband_core::sdjwt;

use crate::clock::{Clock, SystemClock};
use crate::error::VerifyError;
use crate::nonce::{MemoryNonceStore, NonceError, NonceStore};
use crate::outcome::{AgeOutcome, Profile};
use crate::request::AgeRequest;
use crate::trust::{TrustList, TrustStore, TrustedIssuer};

/// A spent set shared by the clones of a [`Verifier`] (blind-profile.md §9.2).
pub type SharedSpentSet = Arc<Mutex<dyn SpentSet + Send>>;

/// Verifies presentations against a trust list, with a nonce store, a spent set for blind
/// tokens and a clock.
#[derive(Clone)]
pub struct Verifier {
    trust: Arc<TrustStore>,
    nonces: Arc<dyn NonceStore>,
    spent: SharedSpentSet,
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
            spent: Arc::new(Mutex::new(MemorySpentSet::default())),
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

    /// Uses `spent` to record spent blind tokens (default: a bounded [`MemorySpentSet`] of this
    /// verifier and its clones). Verifiers of several processes MUST share one
    /// (blind-profile.md §9.2).
    pub fn with_spent_set(mut self, spent: SharedSpentSet) -> Self {
        self.spent = spent;
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

    /// The nonce store.
    pub fn nonce_store(&self) -> &Arc<dyn NonceStore> {
        &self.nonces
    }

    /// Verifies a blind-token answer to `request` (blind-profile.md §12.4, §12.5): one or two
    /// compact presentations (§8.1), each bound to the request's nonce (its UTF-8 bytes) and
    /// audience. The checks, in order, the first failure deciding:
    ///
    /// 1. one or two strings, each at most [`MAX_PRESENTATION`] bytes (`malformed`);
    /// 2. each parses (`malformed`, `wrong_token_type`, `wrong_token_length`);
    /// 3. the first token's challenge digest is that of a trusted issuer with a directory, and
    ///    every token's is the same (`wrong_challenge`);
    /// 4. each `token_key_id` names a key of that directory (`unknown_key`); no fact twice
    ///    (`claim_set_mismatch`);
    /// 5. the keys' facts are exactly one answer set of the request, with (N, true) ↔
    ///    `age_over_N` and (N, false) ↔ `age_under_N` (`claim_set_mismatch`; a strict superset
    ///    of one is `over_disclosure`); then the required level (the larger of the request's and
    ///    the issuer policy's minimum) must be at most `standard`, the most a token stands for
    ///    (`assurance_too_low`), and the policy must accept some floor
    ///    ([`lowest_acceptable_floor`], `source_not_accepted`);
    /// 6. blind-profile.md §9.1 checks 4–10 per token with the key's fact and the larger of the
    ///    floor of the required level (`basic` or lower → 2, `standard` → 3) and the policy's
    ///    lowest acceptable floor (`floor_too_low`, …), then all tokens enter the spent set
    ///    together or none does ([`SpentSet::spend_all`]: `token_spent`, `spent_set_full`);
    /// 7. the request nonce is consumed once (`nonce_replayed`, `nonce_store_full`);
    /// 8. the issuer's policy accepts every source that reaches each token's floor
    ///    (`source_not_accepted`): implied by check 6, kept as a defence.
    ///
    /// Nothing is spent and the nonce is not consumed when a check up to 6 fails.
    ///
    /// The outcome has `profile` `blind_token`, `source` `None`, the level of the lowest floor
    /// presented and the issuer's identifier.
    pub fn verify_blind(
        &self,
        presentations: &[&str],
        request: &AgeRequest,
    ) -> Result<AgeOutcome, VerifyError> {
        let parsed = parse_blind(presentations)?;
        self.verify_parsed_blind(&parsed, request)
    }

    /// [`Verifier::verify_blind`] from check 3 on, for presentations parsed elsewhere (e.g.
    /// from a `PrivateToken` header).
    pub fn verify_parsed_blind(
        &self,
        parsed: &[BlindPresentation],
        request: &AgeRequest,
    ) -> Result<AgeOutcome, VerifyError> {
        use BlindVerifyError as B;
        let now = self.clock.now();
        let first = parsed.first().ok_or(B::Malformed)?;
        if parsed.len() > 2 {
            return Err(B::Malformed.into());
        }
        // 3: the issuer, by the challenge digest; all tokens of one issuer.
        let trust = self.trust.snapshot();
        let (policy, issuer) = trust
            .blind_issuer_by_digest(&first.token.challenge_digest)
            .ok_or(B::WrongChallenge)?;
        if parsed
            .iter()
            .any(|p| p.token.challenge_digest != issuer.challenge_digest())
        {
            return Err(B::WrongChallenge.into());
        }
        // 4: the facts (and floors) of the keys, none twice.
        let mut facts: Vec<BlindFact> = Vec::with_capacity(parsed.len());
        let mut floors: Vec<Floor> = Vec::with_capacity(parsed.len());
        for p in parsed {
            let key = issuer
                .directory()
                .key_by_id(&p.token.token_key_id)
                .ok_or(B::UnknownKey)?;
            if facts.contains(&key.fact()) {
                return Err(VerifyError::ClaimSetMismatch);
            }
            facts.push(key.fact());
            floors.push(key.floor());
        }
        // 5: exactly one answer set; then the level a token can reach, then the floor from
        // which the policy accepts every source that can stand behind a token.
        check_blind_answer(&facts, request)?;
        let required = required_level(policy, request.minimum());
        let level_floor = min_floor_for(required).ok_or(VerifyError::AssuranceTooLow {
            required,
            presented: Floor::Level3.assurance(),
        })?;
        let Some(source_floor) = lowest_acceptable_floor(policy) else {
            // No floor will do: refused before anything is spent or the nonce consumed.
            let floor = floors.iter().copied().min().unwrap_or(Floor::Level3);
            return Err(VerifyError::FloorSourceNotAccepted {
                floor: floor.number(),
            });
        };
        let min_floor = level_floor.max(source_floor);
        // 6: §9.1 per token; spends are staged and recorded together once all tokens pass.
        let mut staged = StagedSpends::default();
        let mut lowest = Floor::Level3;
        for (p, fact) in parsed.iter().zip(&facts) {
            let query = BlindQuery {
                fact: *fact,
                min_floor,
                verifier_nonce: request.nonce().as_bytes(),
                audience: request.audience(),
            };
            let got = verify_presentation(p, issuer, &query, now, &mut staged)?;
            lowest = lowest.min(got.floor);
        }
        {
            // A poisoned lock means a panic mid-insert of a plain map; keep refusing replays.
            let mut spent = self.spent.lock().unwrap_or_else(|e| e.into_inner());
            spent.expire(now);
            // All or none: a spent second token must not burn the first.
            spent.spend_all(&staged.0).map_err(|e| match e {
                B::SpentSetFull => B::SpentSetFull,
                _ => B::TokenSpent,
            })?;
        }
        // 7: the nonce, once.
        self.nonces.consume(request.nonce(), now).map_err(|e| match e {
            NonceError::Full => VerifyError::NonceStoreFull,
            _ => VerifyError::NonceReplayed,
        })?;
        // 8: the policy must accept every source that can stand behind the floors presented.
        // Check 6 asked for at least `lowest_acceptable_floor`, so this cannot fail; it stays
        // as a defence should the two ever drift apart.
        for &floor in &floors {
            let refused = Source::ALL
                .iter()
                .any(|&s| Floor::of_source(s).is_some_and(|f| f >= floor) && !policy.accepts(s));
            if refused {
                return Err(VerifyError::FloorSourceNotAccepted {
                    floor: floor.number(),
                });
            }
        }
        let (mut at_least, mut under) = (None, None);
        for f in &facts {
            let (a, u) = f.bounds();
            at_least = at_least.or(a);
            under = under.or(u);
        }
        Ok(AgeOutcome {
            at_least,
            under,
            assurance: lowest.assurance(),
            source: None,
            issuer: policy.id().to_owned(),
            profile: Profile::BlindToken,
        })
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
        let required = required_level(policy, request.minimum());
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

/// blind-profile.md §12.4 checks 1–2.
fn parse_blind(presentations: &[&str]) -> Result<Vec<BlindPresentation>, VerifyError> {
    if presentations.is_empty()
        || presentations.len() > 2
        || presentations.iter().any(|p| p.len() > MAX_PRESENTATION)
    {
        return Err(BlindVerifyError::Malformed.into());
    }
    presentations
        .iter()
        .map(|p| BlindPresentation::parse(p).map_err(|e| VerifyError::Blind(e.into())))
        .collect()
}

/// The lowest floor f such that `policy` accepts every evidence source whose floor
/// ([`Floor::of_source`]) is at least f (blind-profile.md §12.4, "Policy"): floor 2 stands for
/// guardian declaration, age estimation, third-party check or official id; floor 3 for
/// third-party check or official id. A token does not say which source stood behind it, so a
/// token below this floor cannot be accepted. `None` when no floor will do (e.g. a policy
/// without `official_id`).
pub fn lowest_acceptable_floor(policy: &TrustedIssuer) -> Option<Floor> {
    Floor::ALL.into_iter().find(|&floor| {
        Source::ALL
            .iter()
            .all(|&s| Floor::of_source(s).is_none_or(|f| f < floor) || policy.accepts(s))
    })
}

/// The lowest floor a token of `policy`'s issuer must have to answer a request asking for
/// `min_assurance` (blind-profile.md §12.4): the larger of the floor of the required level
/// (the larger of `min_assurance` and the policy's minimum) and
/// [`lowest_acceptable_floor`]. `None` when the required level is above `standard` or no floor
/// is acceptable: the issuer's tokens cannot answer.
pub fn effective_min_floor(policy: &TrustedIssuer, min_assurance: Option<AssuranceLevel>) -> Option<Floor> {
    Some(min_floor_for(required_level(policy, min_assurance))?.max(lowest_acceptable_floor(policy)?))
}

/// The level an answer must reach: the larger of the request's `min_assurance` and the
/// issuer policy's minimum.
pub(crate) fn required_level(
    policy: &TrustedIssuer,
    min_assurance: Option<AssuranceLevel>,
) -> AssuranceLevel {
    min_assurance.map_or(policy.minimum(), |m| m.max(policy.minimum()))
}

/// The floor a blind token needs for `required`; `None` above `standard`, which no token
/// reaches (blind-profile.md §2.3).
pub(crate) fn min_floor_for(required: AssuranceLevel) -> Option<Floor> {
    if required <= AssuranceLevel::Basic {
        Some(Floor::Level2)
    } else if required <= AssuranceLevel::Standard {
        Some(Floor::Level3)
    } else {
        None
    }
}

/// The predicate a blind fact stands for: `age_over_N` ↔ (N, true), `age_under_N` ↔ (N, false).
pub(crate) fn predicate_of(fact: BlindFact) -> Predicate {
    (fact.threshold(), fact.kind() == FactKind::Over)
}

/// blind-profile.md §12.4 check 5: the facts are exactly one answer set; a strict superset of
/// one is over-disclosure. Without a question, the facts must be consistent.
fn check_blind_answer(facts: &[BlindFact], request: &AgeRequest) -> Result<(), VerifyError> {
    let mut got: Vec<Predicate> = facts.iter().copied().map(predicate_of).collect();
    got.sort();
    if request.question().is_none() {
        return check_answer(&got, request);
    }
    let sets: Vec<Vec<Predicate>> = request
        .answer_sets()
        .into_iter()
        .map(|mut s| {
            s.sort();
            s
        })
        .collect();
    match sets.iter().filter(|s| **s == got).count() {
        1 => Ok(()),
        0 if sets
            .iter()
            .any(|s| s.len() < got.len() && s.iter().all(|p| got.contains(p))) =>
        {
            Err(VerifyError::OverDisclosure)
        }
        _ => Err(VerifyError::ClaimSetMismatch),
    }
}

/// Records the spends of a verification so that they can be applied to the shared set together
/// (the RSA and ECDSA checks then run outside its lock).
#[derive(Default)]
struct StagedSpends(Vec<([u8; 32], [u8; 32], u64)>);

impl SpentSet for StagedSpends {
    fn spend(&mut self, token_key_id: [u8; 32], nonce: [u8; 32], not_after: u64) -> bool {
        self.0.push((token_key_id, nonce, not_after));
        true
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
