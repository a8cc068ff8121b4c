//! The blind-token profile in the wallet (DESIGN §9, blind-profile.md §12.3–§12.5): enrolment
//! beside the SD-JWT batch (directory fetch, pinning, the allocation of one batch over the
//! listed slots, finalize and verify, all or nothing), and the RFC 9577 `PrivateToken` header
//! form. Presentation in an OpenID4VP session is in [`crate::present`].

use std::collections::BTreeMap;
use std::fmt;

use ageband_blind::profile::{
    BlindFact, BlindToken, Directory, DirectoryError, Floor, HolderTokenRequest, MAX_AUDIENCE,
    MAX_DIRECTORY_BYTES, MAX_DIRECTORY_KEYS, MAX_VERIFIER_NONCE, MIN_VERIFIER_NONCE, Month, TokenChallenge,
    issuer_name_of,
};
use ageband_blind::token::TOKEN_RESPONSE_LEN;
use ageband_blind::{PublicKey, SystemRng, TokenResponse};
use ageband_core::b64;
use serde_json::{Map, Value, json};
use url::Url;

use crate::http::{self, HttpError};
use crate::store::StoreError;
use crate::wallet::{IssuerPins, PinError, PinnedKey, StoredBlindToken, Wallet, same_issuer};

/// The DCQL format name of the blind profile (blind-profile.md §12.4).
pub const BLIND_FORMAT: &str = "ageband-private-token";
/// Most blind tokens one enrolment asks for (the issuer's `batch_size` is at most 100).
pub const MAX_BLIND_BATCH: usize = 100;
/// Cap on the `POST /blind-token-request` answer: 100 responses of 344 base64url characters.
const MAX_BLIND_RESPONSE: usize = 128 * 1024;
/// Most slots a token response may list: every key a directory may hold.
const MAX_SLOTS: usize = MAX_DIRECTORY_KEYS;
/// Longest `WWW-Authenticate: PrivateToken` challenge value accepted before parsing.
pub const MAX_PRIVATE_TOKEN_CHALLENGE: usize = 4096;
/// Most auth-params in a `PrivateToken` challenge.
const MAX_CHALLENGE_PARAMS: usize = 12;

/// A slot of the schedule: (fact, floor, month).
pub type Slot = (BlindFact, Floor, Month);

/// How `enrol_with` enrols (see [`crate::enrol_with`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct EnrolOptions {
    /// How many SD-JWT credentials to ask for (1 ..= the issuer's batch size).
    pub count: usize,
    /// Whether to fetch blind tokens too where the issuer offers them and the evidence allows
    /// (default `true`).
    pub blind: bool,
    /// How many blind tokens to ask for; `None` = the issuer's blind `batch_size`.
    pub blind_count: Option<usize>,
}

impl EnrolOptions {
    /// `count` SD-JWT credentials and, where offered, one full batch of blind tokens.
    #[must_use]
    pub fn new(count: usize) -> Self {
        EnrolOptions {
            count,
            blind: true,
            blind_count: None,
        }
    }

    /// `count` SD-JWT credentials only.
    #[must_use]
    pub fn sd_jwt_only(count: usize) -> Self {
        EnrolOptions {
            count,
            blind: false,
            blind_count: None,
        }
    }
}

/// What the blind part of an enrolment did. Its failure never undoes the SD-JWT part.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum BlindEnrolment {
    /// Not attempted: the caller opted out.
    Skipped,
    /// The issuer does not offer blind tokens, or offers none for this evidence (self-declared
    /// evidence gets none).
    NotOffered {
        /// Why, for the user.
        reason: &'static str,
    },
    /// Tokens were finalized, verified and stored.
    Stored {
        /// How many.
        count: usize,
        /// How many per (fact, floor, month), in slot order.
        slots: Vec<(BlindFact, Floor, Month, usize)>,
    },
    /// The blind part failed; nothing of it was stored (the SD-JWT credentials were).
    Failed(BlindEnrolError),
}

impl fmt::Display for BlindEnrolment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlindEnrolment::Skipped => f.write_str("blind tokens: not requested"),
            BlindEnrolment::NotOffered { reason } => write!(f, "blind tokens: none ({reason})"),
            BlindEnrolment::Stored { count, slots } => {
                write!(f, "stored {count} blind token(s):")?;
                for (fact, floor, month, n) in slots {
                    write!(f, " {n} × {fact} floor {} for {month};", floor.number())?;
                }
                Ok(())
            }
            BlindEnrolment::Failed(e) => write!(f, "warning: no blind tokens stored: {e}"),
        }
    }
}

/// Why the blind part of an enrolment failed. Messages carry no token, key or evidence.
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum BlindEnrolError {
    /// The metadata's `ageband_blind_tokens` member is unusable.
    #[error("the issuer's ageband_blind_tokens metadata is unusable: {reason}")]
    Metadata {
        /// What is wrong.
        reason: &'static str,
    },
    /// The token response's `ageband_blind_slots` is malformed.
    #[error("the issuer's ageband_blind_slots list is malformed: {reason}")]
    Slots {
        /// What is wrong.
        reason: &'static str,
    },
    /// The issuer's directory breaks a rule of blind-profile.md §4.3 (`kind` names it).
    #[error("the issuer's token directory is refused ({kind})")]
    Directory {
        /// `DirectoryError::kind`.
        kind: &'static str,
    },
    /// The directory gives a (fact, floor, month) another key than the directory this wallet
    /// pinned earlier (blind-profile.md §4.4): a key for some users only would let the issuer
    /// recognise their tokens.
    #[error(
        "the issuer's token directory changed the key of a slot this wallet pinned \
         (slot_key_changed); refusing blind tokens from it"
    )]
    DirectoryChanged,
    /// Storing the directory's keys would exceed the wallet's pinning bounds (blind-profile.md
    /// §12.3); the wallet refuses rather than unpin, so no token was requested.
    #[error(
        "the wallet cannot pin this issuer's token keys ({reason}); nothing was unpinned and no \
         blind token was requested"
    )]
    PinLimit {
        /// Which bound.
        reason: &'static str,
    },
    /// An HTTP exchange failed or the issuer answered with an error.
    #[error("{step} failed: {message}")]
    Http {
        /// `directory` or `blind-token-request`.
        step: &'static str,
        /// The HTTP status, if there was an answer.
        status: Option<u16>,
        /// The OAuth `error` code, if the answer had one.
        error: Option<String>,
        /// The whole message.
        message: String,
    },
    /// The issuer's answer does not have the shape of blind-profile.md §12.1.
    #[error("the issuer's blind-token answer is unusable: {reason}")]
    Response {
        /// What is wrong.
        reason: &'static str,
    },
    /// Building a token request failed.
    #[error("building a blind token request failed ({kind})")]
    Build {
        /// `ProfileError::kind`.
        kind: &'static str,
    },
    /// A response did not finalize into a token that verifies under the slot's key; the whole
    /// batch was discarded.
    #[error("blind token {index} of the batch does not verify ({kind}); the batch was discarded")]
    Token {
        /// Position in the batch.
        index: usize,
        /// `ProfileError::kind`.
        kind: &'static str,
    },
    /// The wallet could not be written; no token was stored.
    #[error("the wallet could not be saved: {message}")]
    Store {
        /// The store error.
        message: String,
    },
}

impl BlindEnrolError {
    fn http(step: &'static str, e: &HttpError) -> Self {
        let (status, error) = match e {
            HttpError::Status { status, error, .. } => (Some(*status), error.clone()),
            _ => (None, None),
        };
        BlindEnrolError::Http {
            step,
            status,
            error,
            message: e.to_string(),
        }
    }
}

/// The issuer's blind-token endpoints from `ageband_blind_tokens` (blind-profile.md §12.1).
#[derive(Clone, Debug)]
pub(crate) struct BlindEndpoints {
    directory: Url,
    token_request: Url,
    batch_size: usize,
}

/// Parses `ageband_blind_tokens`: both URLs on the issuer's origin (the access token goes to
/// one of them), the issuer name the challenge will use, token type 2, a batch size.
pub(crate) fn parse_metadata(
    member: &Value,
    credential_issuer: &str,
) -> Result<BlindEndpoints, BlindEnrolError> {
    let bad = |reason| BlindEnrolError::Metadata { reason };
    let obj = member.as_object().ok_or(bad("not an object"))?;
    let origin = http::checked_url(credential_issuer)
        .map_err(|_| bad("the issuer identifier is not a usable URL"))?
        .origin();
    let url = |name: &str| -> Result<Url, BlindEnrolError> {
        let raw = obj
            .get(name)
            .and_then(Value::as_str)
            .ok_or(bad("issuer_directory or token_request_endpoint is missing"))?;
        let u =
            http::checked_url(raw).map_err(|_| bad("an endpoint is not https (http only on loopback)"))?;
        if u.origin() != origin {
            return Err(bad("an endpoint is not on the issuer's origin"));
        }
        Ok(u)
    };
    let directory = url("issuer_directory")?;
    let token_request = url("token_request_endpoint")?;
    let expected_name =
        issuer_name_of(credential_issuer).ok_or(bad("the issuer identifier has no issuer name"))?;
    if obj.get("issuer_name").and_then(Value::as_str) != Some(expected_name.as_str()) {
        return Err(bad("issuer_name is not the issuer identifier's host"));
    }
    if obj.get("token_type").and_then(Value::as_u64) != Some(2) {
        return Err(bad("token_type is not 2"));
    }
    let batch_size = obj
        .get("batch_size")
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| (1..=MAX_BLIND_BATCH).contains(n))
        .ok_or(bad("batch_size is not an integer in 1..=100"))?;
    Ok(BlindEndpoints {
        directory,
        token_request,
        batch_size,
    })
}

/// Parses `ageband_blind_slots` of the token response (blind-profile.md §12.2); `None` when
/// absent.
pub(crate) fn parse_slots(member: Option<&Value>) -> Option<Result<Vec<Slot>, BlindEnrolError>> {
    let bad = |reason| BlindEnrolError::Slots { reason };
    let list = member?;
    let parse = || -> Result<Vec<Slot>, BlindEnrolError> {
        let list = list.as_array().ok_or(bad("not an array"))?;
        if list.len() > MAX_SLOTS {
            return Err(bad("more slots than a directory can hold"));
        }
        let mut out: Vec<Slot> = Vec::with_capacity(list.len());
        for s in list {
            let o = s
                .as_object()
                .filter(|o| o.len() == 3)
                .ok_or(bad("a slot is not an object of exactly fact, floor and month"))?;
            let fact = o
                .get("fact")
                .and_then(Value::as_str)
                .and_then(BlindFact::from_name)
                .ok_or(bad("a slot's fact is not one of the six facts"))?;
            let floor = o
                .get("floor")
                .and_then(Value::as_u64)
                .and_then(Floor::from_number)
                .ok_or(bad("a slot's floor is not 2 or 3"))?;
            let month = o
                .get("month")
                .and_then(Value::as_str)
                .and_then(Month::parse)
                .ok_or(bad("a slot's month is not YYYY-MM"))?;
            if out.contains(&(fact, floor, month)) {
                return Err(bad("a slot is listed twice"));
            }
            out.push((fact, floor, month));
        }
        Ok(out)
    };
    Some(parse())
}

/// The wallet's allocation of one batch of `budget` requests over the listed `slots`
/// (blind-profile.md §12.3): the slots are ordered by month (earliest, i.e. the current one,
/// first), then floor (2 before 3), then the order in which their fact is first listed; the
/// requests are dealt out one per slot in that order, round after round, until the budget is
/// spent. Every slot gets ⌊budget / slots⌋ or one more; the extra ones go to the earliest
/// months and, within a month, to floor 2 before floor 3, fact after fact.
#[must_use]
pub fn allocate(slots: &[Slot], budget: usize) -> Vec<Slot> {
    let mut facts: Vec<BlindFact> = Vec::new();
    for (f, _, _) in slots {
        if !facts.contains(f) {
            facts.push(*f);
        }
    }
    let mut ordered: Vec<Slot> = slots.to_vec();
    ordered.sort_by_key(|(f, floor, m)| (*m, *floor, facts.iter().position(|x| x == f)));
    ordered.dedup();
    if ordered.is_empty() {
        return Vec::new();
    }
    ordered.iter().copied().cycle().take(budget).collect()
}

/// Checks a fetched `directory` of `issuer` against the wallet's pins (blind-profile.md §4.4,
/// §12.3) and returns all pins as they are to be stored with the batch. Every key of the
/// directory is compared with every pinned slot: a pinned slot with another key is
/// [`BlindEnrolError::DirectoryChanged`], a pinned key serving another slot `duplicate_key`.
/// The issuer's new pin list is the directory's slots plus the pinned slots it no longer lists
/// whose month has not ended — a list of its own, not a directory, so no rule of §4.3 can make
/// the wallet drop a pin. Past the bounds the wallet refuses ([`BlindEnrolError::PinLimit`])
/// rather than unpin; this runs before any token is requested.
fn accept_directory(
    wallet: &Wallet,
    issuer: &str,
    directory: &Directory,
) -> Result<Vec<IssuerPins>, BlindEnrolError> {
    let pinned = wallet.pinned(issuer);
    let mut keys: Vec<PinnedKey> = directory.keys().iter().map(PinnedKey::of).collect();
    for k in &keys {
        for p in pinned {
            match (p.slot() == k.slot(), p.token_key_id == k.token_key_id) {
                (true, false) => return Err(BlindEnrolError::DirectoryChanged),
                (false, true) => {
                    return Err(BlindEnrolError::Directory {
                        kind: DirectoryError::DuplicateKey.kind(),
                    });
                }
                _ => {}
            }
        }
    }
    let now = wallet.now();
    for p in pinned {
        if p.month.not_after() > now && !keys.iter().any(|k| k.slot() == p.slot()) {
            keys.push(*p);
        }
    }
    keys.sort_by_key(|k| (k.month, k.floor, k.fact));
    wallet
        .pins_with(issuer, keys)
        .map_err(|e| BlindEnrolError::PinLimit {
            reason: match e {
                PinError::TooManySlots => "more slots of this issuer than the wallet pins",
                PinError::TooManyIssuers => "the wallet already pins live keys of the most issuers it keeps",
            },
        })
}

/// The blind part of an enrolment (blind-profile.md §12.3), after the access token was issued.
pub(crate) async fn enrol_blind(
    client: &reqwest::Client,
    wallet: &mut Wallet,
    credential_issuer: &str,
    ep: &BlindEndpoints,
    access_token: &str,
    slots: Vec<Slot>,
    count: Option<usize>,
) -> BlindEnrolment {
    match enrol_blind_inner(client, wallet, credential_issuer, ep, access_token, slots, count).await {
        Ok(done) => done,
        Err(e) => BlindEnrolment::Failed(e),
    }
}

async fn enrol_blind_inner(
    client: &reqwest::Client,
    wallet: &mut Wallet,
    credential_issuer: &str,
    ep: &BlindEndpoints,
    access_token: &str,
    slots: Vec<Slot>,
    count: Option<usize>,
) -> Result<BlindEnrolment, BlindEnrolError> {
    let challenge =
        TokenChallenge::for_issuer_url(credential_issuer).map_err(|_| BlindEnrolError::Metadata {
            reason: "the issuer identifier has no issuer name",
        })?;
    // 1. The directory: fetched without credentials, capped, validated, checked against the pin.
    let directory = fetch_directory(client, &ep.directory).await?;
    let request_uri = directory.issuer_request_uri();
    let resolved = if request_uri.starts_with('/') {
        ep.directory.join(request_uri).ok()
    } else {
        Url::parse(request_uri).ok()
    };
    if resolved.as_ref() != Some(&ep.token_request) {
        return Err(BlindEnrolError::Response {
            reason: "the directory's issuer-request-uri is not the metadata's token_request_endpoint",
        });
    }
    let pin = accept_directory(wallet, credential_issuer, &directory)?;
    let now = wallet.now();

    // 2. The allocation over the listed slots that have a key and whose month has not ended.
    let usable: Vec<Slot> = slots
        .into_iter()
        .filter(|(f, fl, m)| m.not_after() > now && directory.key_for(*f, *fl, *m).is_some())
        .collect();
    if usable.is_empty() {
        return Err(BlindEnrolError::Slots {
            reason: "no listed slot has a key in the issuer's directory",
        });
    }
    let budget = count
        .unwrap_or(ep.batch_size)
        .min(ep.batch_size)
        .min(MAX_BLIND_BATCH);
    if budget == 0 {
        return Ok(BlindEnrolment::Skipped);
    }
    let plan = allocate(&usable, budget);

    // 3. One request per token, one batch, finalize and verify each, store all or none.
    let mut rng = SystemRng;
    let mut pending = Vec::with_capacity(plan.len());
    let mut list = Vec::with_capacity(plan.len());
    for (fact, floor, month) in &plan {
        let key = directory
            .key_for(*fact, *floor, *month)
            .ok_or(BlindEnrolError::Slots {
                reason: "a slot has no key",
            })?;
        let req = HolderTokenRequest::new(&mut rng, key, &challenge)
            .map_err(|e| BlindEnrolError::Build { kind: e.kind() })?;
        list.push(json!({
            "fact": fact.name(),
            "floor": floor.number(),
            "month": month.to_string(),
            "token_request": b64::encode(req.request().to_bytes()),
        }));
        pending.push((req, key));
    }
    let body = json!({ "requests": list }).to_string();
    let answer = http::json_object(
        client
            .post(ep.token_request.clone())
            .bearer_auth(access_token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body),
        MAX_BLIND_RESPONSE,
    )
    .await
    .map_err(|e| BlindEnrolError::http("blind-token-request", &e))?;
    let responses = answer
        .get("responses")
        .and_then(Value::as_array)
        .ok_or(BlindEnrolError::Response {
            reason: "no responses array",
        })?;
    if responses.len() != pending.len() {
        return Err(BlindEnrolError::Response {
            reason: "not one response per request",
        });
    }
    let mut stored = Vec::with_capacity(pending.len());
    for (index, ((req, key), r)) in pending.into_iter().zip(responses).enumerate() {
        let raw = r
            .as_object()
            .filter(|o| o.len() == 1)
            .and_then(|o| o.get("token_response"))
            .and_then(Value::as_str)
            .ok_or(BlindEnrolError::Response {
                reason: "a response is not an object with exactly token_response",
            })?;
        let bytes = b64::decode(raw, TOKEN_RESPONSE_LEN).map_err(|_| BlindEnrolError::Token {
            index,
            kind: "not_base64url",
        })?;
        let response = TokenResponse::from_bytes(&bytes).map_err(|_| BlindEnrolError::Token {
            index,
            kind: "wrong_length",
        })?;
        let token = req.finalize(key, &response).map_err(|e| BlindEnrolError::Token {
            index,
            kind: e.kind(),
        })?;
        if token.token().challenge_digest != challenge.digest() {
            return Err(BlindEnrolError::Token {
                index,
                kind: "wrong_challenge",
            });
        }
        stored.push(StoredBlindToken::new(credential_issuer, &token));
    }
    let count = stored.len();
    wallet
        .add_blind_batch(stored, pin)
        .map_err(|e| BlindEnrolError::Store {
            message: e.to_string(),
        })?;
    let mut per: BTreeMap<(Month, Floor, BlindFact), usize> = BTreeMap::new();
    for (f, fl, m) in &plan {
        *per.entry((*m, *fl, *f)).or_default() += 1;
    }
    let slots = per.into_iter().map(|((m, fl, f), n)| (f, fl, m, n)).collect();
    Ok(BlindEnrolment::Stored { count, slots })
}

async fn fetch_directory(client: &reqwest::Client, url: &Url) -> Result<Directory, BlindEnrolError> {
    let req = client.get(url.clone()).header(
        reqwest::header::ACCEPT,
        "application/private-token-issuer-directory",
    );
    let (status, body) = http::send(req, MAX_DIRECTORY_BYTES)
        .await
        .map_err(|e| BlindEnrolError::http("directory", &e))?;
    if !status.is_success() {
        return Err(BlindEnrolError::http(
            "directory",
            &http::status_error(status, &body),
        ));
    }
    Directory::parse(&body).map_err(|e| BlindEnrolError::Directory { kind: e.kind() })
}

// ---------------------------------------------------------------------------------------------
// The header form (blind-profile.md §12.5).

/// A parsed `WWW-Authenticate: PrivateToken` challenge of an ageband gate (blind-profile.md
/// §12.5). `Debug` prints the fact and floor only.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateTokenChallenge {
    /// The TokenChallenge (RFC 9577 §2.1); ageband's form.
    pub challenge: TokenChallenge,
    /// `token_key_id` of the `token-key` the platform names (the live key for the fact at the
    /// minimum floor).
    pub token_key_id: [u8; 32],
    /// `ageband-fact`.
    pub fact: BlindFact,
    /// `ageband-min-floor`.
    pub min_floor: Floor,
    /// `nonce`: the verifier's nonce; the binding signs its UTF-8 bytes (16 to 64).
    pub nonce: String,
}

impl fmt::Debug for PrivateTokenChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateTokenChallenge")
            .field("issuer_name", &self.challenge.issuer_name)
            .field("fact", &self.fact)
            .field("min_floor", &self.min_floor)
            .finish_non_exhaustive()
    }
}

/// Why the header form did not answer. Nothing was shared, except for
/// [`PrivateTokenError::Build`] after which the token is used up.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum PrivateTokenError {
    /// The challenge is not a well-formed ageband `PrivateToken` challenge.
    #[error("not an ageband PrivateToken challenge: {reason}")]
    Challenge {
        /// What is wrong.
        reason: &'static str,
    },
    /// The audience is empty or longer than 512 bytes.
    #[error("the audience must be 1 to 512 bytes")]
    Audience,
    /// No held token's issuer has this challenge.
    #[error("the challenge names an issuer this wallet holds no blind tokens from")]
    UnknownIssuer,
    /// The platform's `token-key` is not the key the wallet pinned for that slot.
    #[error("the challenge's token-key is not the key this wallet pinned for that fact, floor and month")]
    KeyMismatch,
    /// No unused live token of that issuer, fact and floor.
    #[error(
        "no unused blind token for {fact} at floor {} or higher this month; \
         enrol again: ageband wallet --wallet DIR enrol --issuer URL …",
        floor.number()
    )]
    NoToken {
        /// The fact asked for.
        fact: BlindFact,
        /// The minimum floor.
        floor: Floor,
    },
    /// The user said no; nothing was shared.
    #[error("declined; nothing was shared")]
    Declined,
    /// The presentation could not be built (the token is used up).
    #[error("could not build the presentation ({kind})")]
    Build {
        /// `ProfileError::kind`.
        kind: &'static str,
    },
    /// The wallet could not be read or written; nothing was shared.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the header form is about to share, for consent.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TokenSummary {
    /// The audience (the platform's origin) the answer is bound to.
    pub audience: String,
    /// The issuer identifier (visible to the platform as its name).
    pub issuer: String,
    /// The fact.
    pub fact: BlindFact,
    /// The floor of the token's key.
    pub floor: Floor,
    /// The month of the token's key.
    pub month: Month,
    /// Unused live tokens of this issuer and fact left afterwards.
    pub remaining: usize,
}

impl fmt::Display for TokenSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (lo, hi) = self.fact.bounds();
        let words = match (lo, hi) {
            (Some(n), _) => format!("at least {n}"),
            (_, Some(n)) => format!("under {n}"),
            _ => String::new(),
        };
        write!(
            f,
            "{} asks how old you are. If you agree, it will learn that your age is {words} ({}), \
             as attested by {} (level {} or higher, key of {}). It will not learn your name, your \
             birth date or any other age fact, and neither it nor the issuer can link this answer \
             to your enrolment. The answer uses up one blind token ({} left afterwards).",
            self.audience,
            self.fact,
            self.issuer,
            self.floor.assurance(),
            self.month,
            self.remaining
        )
    }
}

/// The `Authorization` header value and what it shares.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateTokenAnswer {
    /// `PrivateToken token="…", binding="…", nonce="…"` (blind-profile.md §8.2, §12.5).
    pub header: String,
    /// What was shared.
    pub summary: TokenSummary,
}

impl fmt::Debug for PrivateTokenAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateTokenAnswer")
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}

/// Parses a `WWW-Authenticate` challenge value of an ageband gate (blind-profile.md §12.5):
/// at most [`MAX_PRIVATE_TOKEN_CHALLENGE`] characters; the scheme `PrivateToken`
/// (case-insensitive) and one space; comma-separated auth-params (optional spaces or tabs around
/// them and around `=`), at most 12; names RFC 9110 tokens compared case-insensitively; values a
/// token or a quoted-string without backslash escapes; `challenge`, `token-key`,
/// `ageband-fact`, `ageband-min-floor` and `nonce` exactly once each; other parameters ignored.
/// `challenge` and `token-key` are base64url (trailing `=` padding allowed); the challenge must
/// be ageband's form (type 2, empty redemption context and origin info) and `token-key` an RFC
/// 9578 SPKI of an RSA-2048 key.
///
/// # Errors
/// [`PrivateTokenError::Challenge`].
pub fn parse_private_token_challenge(value: &str) -> Result<PrivateTokenChallenge, PrivateTokenError> {
    let bad = |reason| PrivateTokenError::Challenge { reason };
    if value.len() > MAX_PRIVATE_TOKEN_CHALLENGE {
        return Err(bad("longer than 4096 characters"));
    }
    let (scheme, rest) = value.split_once(' ').ok_or(bad("no auth-params"))?;
    if !scheme.eq_ignore_ascii_case("PrivateToken") {
        return Err(bad("the scheme is not PrivateToken"));
    }
    let params: Vec<&str> = rest.split(',').collect();
    if params.len() > MAX_CHALLENGE_PARAMS {
        return Err(bad("too many parameters"));
    }
    const NAMES: [&str; 5] = [
        "challenge",
        "token-key",
        "ageband-fact",
        "ageband-min-floor",
        "nonce",
    ];
    let mut found: [Option<&str>; 5] = [None; 5];
    for p in params {
        let (name, raw) = p
            .trim_matches([' ', '\t'])
            .split_once('=')
            .ok_or(bad("a parameter is not name=value"))?;
        let name = name.trim_end_matches([' ', '\t']);
        let raw = raw.trim_start_matches([' ', '\t']);
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(bad("a parameter name is not a token"));
        }
        let inner = match raw.strip_prefix('"') {
            Some(r) => r.strip_suffix('"').ok_or(bad("an unterminated quoted-string"))?,
            None => raw,
        };
        if inner.is_empty() || !inner.bytes().all(|c| is_tchar(c) || c == b'=' || c == b'/') {
            return Err(bad("a parameter value is empty or not a token"));
        }
        if let Some(i) = NAMES.iter().position(|n| n.eq_ignore_ascii_case(name))
            && found[i].replace(inner).is_some()
        {
            return Err(bad("a parameter appears twice"));
        }
    }
    let [Some(ch), Some(key), Some(fact), Some(floor), Some(nonce)] = found else {
        return Err(bad(
            "challenge, token-key, ageband-fact, ageband-min-floor and nonce are required",
        ));
    };
    let unpad = |s: &'static str, v: &str| -> Result<Vec<u8>, PrivateTokenError> {
        let v = v.strip_suffix("==").or_else(|| v.strip_suffix('=')).unwrap_or(v);
        b64::decode(v, 1024).map_err(|_| bad(s))
    };
    let challenge = TokenChallenge::parse(&unpad("challenge is not base64url", ch)?)
        .map_err(|_| bad("challenge is not a TokenChallenge"))?;
    if !challenge.is_ageband_form() {
        return Err(bad(
            "challenge is not ageband's (type 2, no redemption context or origin info)",
        ));
    }
    let spki = unpad("token-key is not base64url", key)?;
    let public = PublicKey::from_spki(&spki).map_err(|_| bad("token-key is not an RSA-PSS SPKI"))?;
    if public.modulus_bits() != 2048 {
        return Err(bad("token-key is not an RSA-2048 key"));
    }
    let fact = BlindFact::from_name(fact).ok_or(bad("ageband-fact is not one of the six facts"))?;
    let min_floor = match floor {
        "2" => Floor::Level2,
        "3" => Floor::Level3,
        _ => return Err(bad("ageband-min-floor is not 2 or 3")),
    };
    if !(MIN_VERIFIER_NONCE..=MAX_VERIFIER_NONCE).contains(&nonce.len()) {
        return Err(bad("nonce is not 16 to 64 characters"));
    }
    Ok(PrivateTokenChallenge {
        challenge,
        token_key_id: public.token_key_id(),
        fact,
        min_floor,
        nonce: nonce.to_owned(),
    })
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// Answers an ageband `PrivateToken` gate (blind-profile.md §8.2, §12.5): parses `challenge`
/// (the `WWW-Authenticate` value), picks an unused live token of an issuer whose ageband
/// challenge it is, for the fact at the lowest sufficient floor (then the earliest month),
/// checks the platform's `token-key` against the pinned directory, asks `consent`, deletes the
/// token and saves the wallet, and returns the `Authorization` header value bound to the
/// challenge's `nonce` (its UTF-8 bytes) and to `audience` (the platform's origin):
/// `PrivateToken token="…", binding="…", nonce="…"` (§8.2 plus the nonce echoed, so that the
/// gate can stay stateless until redemption).
///
/// # Errors
/// [`PrivateTokenError`].
pub fn private_token_header(
    wallet: &mut Wallet,
    challenge: &str,
    audience: &str,
    consent: impl FnOnce(&TokenSummary) -> bool,
) -> Result<PrivateTokenAnswer, PrivateTokenError> {
    let c = parse_private_token_challenge(challenge)?;
    if audience.is_empty() || audience.len() > MAX_AUDIENCE {
        return Err(PrivateTokenError::Audience);
    }
    let now = wallet.now();
    let month = Month::containing(now);
    // The issuers whose ageband challenge this is: each distinct issuer's challenge is built
    // once, not once per stored token.
    let issuers: Vec<&str> = {
        let mut v: Vec<&str> = wallet.raw_blind().iter().map(|t| t.issuer.as_str()).collect();
        v.sort_unstable();
        v.dedup();
        v.retain(|issuer| TokenChallenge::for_issuer_url(issuer).is_ok_and(|ch| ch == c.challenge));
        v
    };
    if issuers.is_empty() {
        return Err(PrivateTokenError::UnknownIssuer);
    }
    // The platform's token-key must be the pinned key of (fact, min floor, this month) when the
    // wallet knows that slot.
    for &issuer in &issuers {
        let pinned = month.and_then(|m| wallet.pinned_key(issuer, c.fact, c.min_floor, m));
        if pinned.is_some_and(|k| k != c.token_key_id) {
            return Err(PrivateTokenError::KeyMismatch);
        }
    }
    let candidates: Vec<(usize, Floor, Month)> = wallet
        .raw_blind()
        .iter()
        .enumerate()
        .filter(|(_, t)| issuers.binary_search(&t.issuer.as_str()).is_ok())
        .filter_map(|(i, t)| t.slot().map(|(f, fl, m)| (i, f, fl, m)))
        .filter(|&(_, f, fl, m)| f == c.fact && fl >= c.min_floor && m.is_live(now))
        .map(|(i, _, fl, m)| (i, fl, m))
        .collect();
    let Some(&(index, floor, key_month)) = candidates.iter().min_by_key(|(i, fl, m)| (*fl, *m, *i)) else {
        return Err(PrivateTokenError::NoToken {
            fact: c.fact,
            floor: c.min_floor,
        });
    };
    let stored = &wallet.raw_blind()[index];
    // A token at exactly the platform's floor must be under the platform's key.
    if floor == c.min_floor && stored.token_key_id()? != c.token_key_id {
        return Err(PrivateTokenError::KeyMismatch);
    }
    let summary = TokenSummary {
        audience: audience.to_owned(),
        issuer: stored.issuer.clone(),
        fact: c.fact,
        floor,
        month: key_month,
        remaining: candidates.len() - 1,
    };
    if !consent(&summary) {
        return Err(PrivateTokenError::Declined);
    }
    let token: BlindToken = stored.to_token()?;
    let presentation = token
        .present(c.nonce.as_bytes(), audience)
        .map_err(|e| PrivateTokenError::Build { kind: e.kind() })?;
    // Single use: deleted and saved before the header leaves the wallet.
    drop(wallet.take_blind(&[index])?);
    // The gate is stateless until redemption: the client echoes the nonce it was given
    // (blind-profile.md §12.5).
    Ok(PrivateTokenAnswer {
        header: format!(
            "{}, nonce=\"{}\"",
            presentation.to_private_token_header(),
            c.nonce
        ),
        summary,
    })
}

/// Issuers of `tokens` (wallet order) whose identifier is in `wanted` (blind-profile.md §12.4).
pub(crate) fn issuer_listed(issuer: &str, wanted: &[String]) -> bool {
    wanted.iter().any(|w| same_issuer(w, issuer))
}

/// The `ageband_blind_tokens` member of issuer metadata, if present.
pub(crate) fn metadata_member(meta: &Map<String, Value>) -> Option<&Value> {
    meta.get("ageband_blind_tokens")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use ageband_core::clock::ManualClock;

    use crate::store::KdfParams;

    const ISSUER: &str = "https://issuer.example";

    fn fake_key(i: u16) -> PublicKey {
        crate::testutil::fake_blind_key(i)
    }

    fn directory(keys: &[(Slot, u16)]) -> Directory {
        crate::testutil::fake_directory(keys)
    }

    /// A wallet whose clock is ten days into 2026-11.
    fn pin_wallet(dir: &std::path::Path) -> (Wallet, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(m("2026-11").not_before() + 10 * 86_400));
        let w = Wallet::create_with(dir, "pw", KdfParams::INSECURE_TEST, clock.clone()).unwrap();
        (w, clock)
    }

    /// What an enrolment does with a fetched directory: check it against the pin, then store
    /// the new pin with the batch (empty here).
    fn enrol_directory(w: &mut Wallet, d: &Directory) -> Result<(), BlindEnrolError> {
        let pin = accept_directory(w, ISSUER, d)?;
        w.add_blind_batch(Vec::new(), pin).unwrap();
        Ok(())
    }

    /// The slot (age_over_13, floor 2, 2026-11 + k).
    fn s(k: u32) -> Slot {
        (f("age_over_13"), Floor::Level2, m("2026-11").plus(k).unwrap())
    }

    #[test]
    fn a_month_left_out_so_that_the_union_breaks_a_rule_stays_pinned() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut w, _) = pin_wallet(tmp.path());
        enrol_directory(&mut w, &directory(&[(s(0), 1), (s(1), 2), (s(2), 3)])).unwrap();
        // The issuer leaves out the current month and lists the next four: pinned ∪ new spans
        // five months, more than one directory may hold.
        enrol_directory(&mut w, &directory(&[(s(1), 2), (s(2), 3), (s(3), 4), (s(4), 5)])).unwrap();
        // The current month comes back with another key: this wallet would be tagged.
        let fresh = directory(&[(s(0), 6), (s(1), 2), (s(2), 3)]);
        assert_eq!(
            enrol_directory(&mut w, &fresh),
            Err(BlindEnrolError::DirectoryChanged)
        );
        // Also after a reopen.
        drop(w);
        let clock = Arc::new(ManualClock::new(m("2026-11").not_before() + 10 * 86_400));
        let mut w = Wallet::open_with(tmp.path(), "pw", clock).unwrap();
        assert_eq!(
            enrol_directory(&mut w, &fresh),
            Err(BlindEnrolError::DirectoryChanged)
        );
    }

    fn m(s: &str) -> Month {
        Month::parse(s).unwrap()
    }

    fn f(s: &str) -> BlindFact {
        BlindFact::from_name(s).unwrap()
    }

    #[test]
    fn honest_rotation_is_accepted_and_ended_months_are_unpinned() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut w, clock) = pin_wallet(tmp.path());
        enrol_directory(&mut w, &directory(&[(s(0), 1), (s(1), 2), (s(2), 3)])).unwrap();
        // A month added ahead.
        enrol_directory(&mut w, &directory(&[(s(0), 1), (s(1), 2), (s(2), 3), (s(3), 4)])).unwrap();
        assert_eq!(w.pinned(ISSUER).len(), 4);
        // A directory that leaves out a live pinned month keeps its pin.
        enrol_directory(&mut w, &directory(&[(s(1), 2)])).unwrap();
        assert_eq!(w.pinned(ISSUER).len(), 4);
        assert_eq!(
            w.pinned_key(ISSUER, s(0).0, s(0).1, s(0).2),
            Some(fake_key(1).token_key_id())
        );
        // The turn of the month: the ended month is retired and its pin dropped at the next
        // update; the others stay.
        clock.advance(30 * 86_400);
        enrol_directory(&mut w, &directory(&[(s(1), 2), (s(2), 3), (s(3), 4)])).unwrap();
        let slots: Vec<Slot> = w.pinned(ISSUER).iter().map(PinnedKey::slot).collect();
        assert_eq!(slots, vec![s(1), s(2), s(3)]);
    }

    #[test]
    fn a_pinned_key_serving_another_slot_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut w, _) = pin_wallet(tmp.path());
        enrol_directory(&mut w, &directory(&[(s(0), 1), (s(1), 2)])).unwrap();
        let other = (f("age_under_16"), Floor::Level3, m("2026-11"));
        assert_eq!(
            enrol_directory(&mut w, &directory(&[(other, 1)])),
            Err(BlindEnrolError::Directory {
                kind: "duplicate_key"
            })
        );
        // Also for a slot of a month the pins span beyond one directory.
        enrol_directory(&mut w, &directory(&[(s(1), 2), (s(2), 3), (s(3), 4), (s(4), 5)])).unwrap();
        assert_eq!(w.pinned(ISSUER).len(), 5);
        assert_eq!(
            enrol_directory(&mut w, &directory(&[(s(5), 1)])),
            Err(BlindEnrolError::Directory {
                kind: "duplicate_key"
            })
        );
    }

    #[test]
    fn pins_beyond_the_cap_are_refused_not_evicted() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut w, _) = pin_wallet(tmp.path());
        // Full directories of four far-ahead months each: the pins grow by 48 slots a fetch.
        let full = |first: u32, key: u16| {
            let mut keys = Vec::new();
            let mut i = key;
            for mo in first..first + 4 {
                for fa in BlindFact::all() {
                    for fl in Floor::ALL {
                        keys.push(((fa, fl, m("2026-11").plus(mo).unwrap()), i));
                        i += 1;
                    }
                }
            }
            directory(&keys)
        };
        for n in 0..4 {
            enrol_directory(&mut w, &full(4 * n, 1000 + 48 * n as u16)).unwrap();
        }
        assert_eq!(w.pinned(ISSUER).len(), crate::wallet::MAX_PINNED_SLOTS);
        let err = enrol_directory(&mut w, &full(16, 2000)).unwrap_err();
        assert!(matches!(err, BlindEnrolError::PinLimit { .. }), "{err:?}");
        assert!(err.to_string().contains("nothing was unpinned"));
        // Nothing was unpinned: the first month's keys are still enforced.
        assert_eq!(w.pinned(ISSUER).len(), crate::wallet::MAX_PINNED_SLOTS);
        assert_eq!(
            enrol_directory(&mut w, &directory(&[(s(0), 3000)])),
            Err(BlindEnrolError::DirectoryChanged)
        );
    }

    #[test]
    fn allocation_rule() {
        let (o13, u16) = (f("age_over_13"), f("age_under_16"));
        let (l2, l3) = (Floor::Level2, Floor::Level3);
        // The issuer's order: facts, then floors, then months.
        let listed = vec![
            (o13, l2, m("2026-11")),
            (o13, l2, m("2026-12")),
            (o13, l3, m("2026-11")),
            (o13, l3, m("2026-12")),
            (u16, l2, m("2026-11")),
            (u16, l3, m("2026-11")),
        ];
        let plan = allocate(&listed, 8);
        assert_eq!(
            plan,
            vec![
                (o13, l2, m("2026-11")),
                (u16, l2, m("2026-11")),
                (o13, l3, m("2026-11")),
                (u16, l3, m("2026-11")),
                (o13, l2, m("2026-12")),
                (o13, l3, m("2026-12")),
                (o13, l2, m("2026-11")),
                (u16, l2, m("2026-11")),
            ]
        );
        assert_eq!(allocate(&listed, 3).len(), 3);
        assert!(allocate(&[], 30).is_empty());
        assert!(allocate(&listed, 0).is_empty());
        // 30 over 12 slots: every slot gets 2 or 3.
        let twelve: Vec<Slot> = [o13, u16]
            .into_iter()
            .flat_map(|fa| {
                Floor::ALL
                    .into_iter()
                    .flat_map(move |fl| ["2026-11", "2026-12", "2027-01"].map(|x| (fa, fl, m(x))))
            })
            .collect();
        let plan = allocate(&twelve, 30);
        for s in &twelve {
            let n = plan.iter().filter(|p| *p == s).count();
            assert!((2..=3).contains(&n), "{s:?}: {n}");
        }
    }

    #[test]
    fn slots_parse_strictly() {
        let ok = json!([{"fact": "age_over_13", "floor": 2, "month": "2026-11"}]);
        assert_eq!(
            parse_slots(Some(&ok)).unwrap().unwrap(),
            vec![(f("age_over_13"), Floor::Level2, m("2026-11"))]
        );
        assert!(parse_slots(None).is_none());
        // One more distinct slot than a directory holds: refused for its length alone (the
        // slots are distinct, so no other rule refuses it).
        let distinct = |n: usize| -> Value {
            let all: Vec<Value> = (0..)
                .flat_map(|mo| {
                    BlindFact::all().into_iter().flat_map(move |fa| {
                        Floor::ALL.into_iter().map(move |fl| {
                            json!({"fact": fa.name(), "floor": fl.number(),
                                   "month": m("2026-11").plus(mo).unwrap().to_string()})
                        })
                    })
                })
                .take(n)
                .collect();
            Value::Array(all)
        };
        assert_eq!(
            parse_slots(Some(&distinct(MAX_SLOTS))).unwrap().unwrap().len(),
            MAX_SLOTS
        );
        for (bad, reason) in [
            (json!({}), "not an array"),
            (
                json!([{"fact": "age_over_14", "floor": 2, "month": "2026-11"}]),
                "a slot's fact is not one of the six facts",
            ),
            (
                json!([{"fact": "age_over_13", "floor": 1, "month": "2026-11"}]),
                "a slot's floor is not 2 or 3",
            ),
            (
                json!([{"fact": "age_over_13", "floor": "2", "month": "2026-11"}]),
                "a slot's floor is not 2 or 3",
            ),
            (
                json!([{"fact": "age_over_13", "floor": 2, "month": "2026-13"}]),
                "a slot's month is not YYYY-MM",
            ),
            (
                json!([{"fact": "age_over_13", "floor": 2, "month": "2026-11", "x": 1}]),
                "a slot is not an object of exactly fact, floor and month",
            ),
            (
                json!([{"fact": "age_over_13", "floor": 2, "month": "2026-11"},
                       {"fact": "age_over_13", "floor": 2, "month": "2026-11"}]),
                "a slot is listed twice",
            ),
            (distinct(MAX_SLOTS + 1), "more slots than a directory can hold"),
        ] {
            assert_eq!(
                parse_slots(Some(&bad)).unwrap(),
                Err(BlindEnrolError::Slots { reason }),
                "{bad}"
            );
        }
    }

    #[test]
    fn metadata_parses_strictly() {
        let good = json!({
            "issuer_directory": "https://issuer.example/.well-known/private-token-issuer-directory",
            "token_request_endpoint": "https://issuer.example/blind-token-request",
            "issuer_name": "issuer.example", "token_type": 2, "batch_size": 30,
            "facts": ["age_over_13"]
        });
        let ep = parse_metadata(&good, "https://issuer.example").unwrap();
        assert_eq!(ep.batch_size, 30);
        let tweak = |k: &str, v: Value| {
            let mut x = good.clone();
            x[k] = v;
            x
        };
        for bad in [
            tweak("issuer_directory", json!("https://evil.example/dir")),
            tweak("token_request_endpoint", json!("http://issuer.example/b")),
            tweak("issuer_name", json!("Issuer.example")),
            tweak("token_type", json!(1)),
            tweak("batch_size", json!(0)),
            tweak("batch_size", json!(101)),
            json!([]),
        ] {
            assert!(parse_metadata(&bad, "https://issuer.example").is_err(), "{bad}");
        }
    }
}
