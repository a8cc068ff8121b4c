//! The wallet file: arbitrary bytes as `wallet.ageband` in a temporary folder; `Wallet::open`
//! must return an error (or a wallet), never panic. The first input byte picks the mode:
//! - 0: the rest is the file, as is (the checksum stops almost everything);
//! - 1: the rest is the file with its trailing SHA-256 recomputed, so header parsing, the
//!   Argon2 parameter bounds and the key check are reached (costly in-bounds parameters are
//!   skipped: they are allowed by design and only make runs slow);
//! - 2: the rest is the plaintext, sealed exactly as the wallet seals it now (format version 2,
//!   `FORMAT_VERSION`) under a fixed salt, nonce and passphrase, so the contents parser
//!   (credentials, blind tokens, pinned directories) and everything `open`, `status`,
//!   `credentials` and `blind_tokens` do with them are reached;
//! - 3: the same sealed as format version 1 (older files: credentials only, migrated on save).
//!
//! A wallet that opens is saved (always as version 2) and opened again: what it holds must
//! come back the same.
#![no_main]

use std::sync::{Arc, OnceLock};

use ageband_wallet::{FILE_NAME, FORMAT_VERSION, ManualClock, Wallet};
use libfuzzer_sys::fuzz_target;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::digest::{SHA256, digest};

const PASSPHRASE: &str = "fuzz passphrase";
const SALT: [u8; 16] = [3; 16];
const HEADER_LEN: usize = 8 + 1 + 1 + 4 + 4 + 4 + 16 + 16 + 12;

fn dir() -> &'static tempfile::TempDir {
    static D: OnceLock<tempfile::TempDir> = OnceLock::new();
    D.get_or_init(|| tempfile::tempdir().unwrap())
}

/// The header (format version 1 or 2; the version byte is part of the AEAD's associated
/// data) and encryption key for the test parameters (8 KiB, 1 pass, 1 lane), derived as the
/// wallet derives them: Argon2id master key, SHA-256(label ‖ master) sub-keys.
fn sealing(version: u8) -> (Vec<u8>, [u8; 32]) {
    static S: OnceLock<(Vec<u8>, [u8; 32])> = OnceLock::new();
    let (mut header, key) = S.get_or_init(|| {
        let params = argon2::Params::new(8, 1, 1, Some(32)).unwrap();
        let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut master = [0u8; 32];
        argon
            .hash_password_into(PASSPHRASE.as_bytes(), &SALT, &mut master)
            .unwrap();
        let sub = |label: &[u8]| {
            let mut v = label.to_vec();
            v.extend_from_slice(&master);
            let mut out = [0u8; 32];
            out.copy_from_slice(digest(&SHA256, &v).as_ref());
            out
        };
        let mut header = b"AGEBANDW".to_vec();
        header.extend_from_slice(&[FORMAT_VERSION, 1]);
        for n in [8u32, 1, 1] {
            header.extend_from_slice(&n.to_le_bytes());
        }
        header.extend_from_slice(&SALT);
        header.extend_from_slice(&sub(b"ageband/wallet/v1/check")[..16]);
        header.extend_from_slice(&[5; 12]);
        assert_eq!(header.len(), HEADER_LEN);
        (header, sub(b"ageband/wallet/v1/enc"))
    })
    .clone();
    header[8] = version;
    (header, key)
}

fn with_checksum(mut image: Vec<u8>) -> Vec<u8> {
    let d = digest(&SHA256, &image);
    image.extend_from_slice(d.as_ref());
    image
}

fn costly(image: &[u8]) -> bool {
    if image.len() < 22 {
        return false;
    }
    let at = |i: usize| u32::from_le_bytes([image[i], image[i + 1], image[i + 2], image[i + 3]]);
    at(10) > 1024 || at(14) > 2 || at(18) > 2
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let image = match mode % 4 {
        0 => rest.to_vec(),
        1 => {
            if rest.len() < 32 || costly(rest) {
                return;
            }
            with_checksum(rest[..rest.len() - 32].to_vec())
        }
        m => {
            let (header, key) = sealing(if m == 2 { FORMAT_VERSION } else { 1 });
            let aead = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).unwrap());
            let mut body = rest.to_vec();
            aead.seal_in_place_append_tag(
                Nonce::assume_unique_for_key([5; 12]),
                Aad::from(&header),
                &mut body,
            )
            .unwrap();
            let mut image = header;
            image.extend_from_slice(&body);
            with_checksum(image)
        }
    };
    let dir = dir().path();
    std::fs::write(dir.join(FILE_NAME), &image).unwrap();
    let clock = Arc::new(ManualClock::new(1_795_953_600));
    let Ok(mut w) = Wallet::open_with(dir, PASSPHRASE, clock.clone()) else {
        return;
    };
    let infos = w.credentials();
    assert_eq!(infos.len(), w.len());
    let status = w.status();
    assert!(status.unused + status.expired == w.len());
    for g in &status.groups {
        let _ = g.band.to_string();
        let _ = g.band.label();
    }
    for i in &infos {
        let _ = i.band().to_string();
    }
    let blind = w.blind_tokens();
    assert_eq!(blind.len(), w.blind_len());
    assert_eq!(status.blind_unused + status.blind_expired, w.blind_len());
    assert_eq!(status.blind.iter().map(|g| g.unused).sum::<usize>(), status.blind_unused);
    for g in &status.blind {
        let _ = (g.fact.name(), g.floor.number(), g.month.to_string(), g.live);
    }
    // Save (as version 2) and open again: the same credentials and blind tokens come back.
    w.save().expect("an opened wallet saves");
    drop(w);
    let again = Wallet::open_with(dir, PASSPHRASE, clock).expect("a saved wallet opens");
    assert_eq!(again.len(), infos.len());
    assert_eq!(again.blind_tokens(), blind);
});
