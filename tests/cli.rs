//! The `ageband` program as a user runs it: real processes, real services on 127.0.0.1 port 0,
//! the wallet commands, the offline checker's exit codes, `inspect`, and the demo.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_ageband");

/// A child process killed when the test ends, whatever happens.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `ageband ARGS` and returns it with the first `http://…` URL it prints.
fn serve(args: &[&str], env: &[(&str, &str)]) -> (Service, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let start = line.rfind("http://").expect("the service prints its URL");
    let url = line[start..].trim_end_matches([')', '\n', ' ']).to_owned();
    (Service(child), url)
}

/// The test vector `specs/vectors/NAME`.
fn vector(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("specs/vectors")
        .join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn run(args: &[&str], dir: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("AGEBAND_PASSPHRASE", "correct horse")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_and_wallet_commands_work_together() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("issuer");
    let (_issuer, issuer_url) = serve(
        &[
            "issuer",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        !issuer_url.ends_with(":0"),
        "the identifier is the bound address: {issuer_url}"
    );
    let (_verifier, verifier_url) = serve(
        &[
            "verifier",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--trust-issuer",
            &issuer_url,
        ],
        &[("AGEBAND_VERIFIER_API_KEY", "platform-key")],
    );

    let w = tmp.path().join("w");
    let w = w.to_str().unwrap();
    let ok = |o: Output| {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    ok(run(&["wallet", "--wallet", w, "init"], tmp.path()));
    let enrolled = ok(run(
        &[
            "wallet",
            "--wallet",
            w,
            "enrol",
            "--issuer",
            &issuer_url,
            "--self-birthdate",
            "2011-05-04",
            "--count",
            "2",
        ],
        tmp.path(),
    ));
    assert!(enrolled.contains("stored 2 credential"), "{enrolled}");
    let status = ok(run(&["wallet", "--wallet", w, "status"], tmp.path()));
    assert!(status.contains("2 unused"), "{status}");

    let http = reqwest::Client::new();
    let session: Value = http
        .post(format!("{verifier_url}/v1/sessions"))
        .bearer_auth("platform-key")
        .json(&serde_json::json!({"band": [13, 16, 18]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link = session["link"].as_str().unwrap();
    let presented = ok(run(
        &["wallet", "--wallet", w, "present", "--yes", link],
        tmp.path(),
    ));
    assert!(presented.contains("shared with"), "{presented}");
    let done: Value = http
        .get(format!(
            "{verifier_url}/v1/sessions/{}",
            session["id"].as_str().unwrap()
        ))
        .bearer_auth("platform-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(done["status"], "verified", "{done}");
    assert_eq!(done["outcome"]["band"], "13-15");
    assert_eq!(done["outcome"]["source"], "self_declared");
    // Without the API key the platform endpoints refuse.
    let r = http
        .get(format!(
            "{verifier_url}/v1/sessions/{}",
            session["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // A wrong passphrase is a clear error and changes nothing.
    let before = std::fs::read(Path::new(w).join("wallet.ageband")).unwrap();
    let o = Command::new(BIN)
        .args(["wallet", "--wallet", w, "status"])
        .env("AGEBAND_PASSPHRASE", "wrong")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("passphrase"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        std::fs::read(Path::new(w).join("wallet.ageband")).unwrap(),
        before
    );

    // Key administration on the running issuer's store.
    let keys = ok(run(
        &["issuer", "keys", "list", "--data-dir", data.to_str().unwrap()],
        tmp.path(),
    ));
    assert!(keys.contains("active"), "{keys}");

    // The blind-token keys: none until the directory is first fetched, then one per slot.
    let blind = ok(run(
        &["issuer", "keys", "blind", "--data-dir", data.to_str().unwrap()],
        tmp.path(),
    ));
    assert!(blind.contains("no blind-token keys yet"), "{blind}");
    let dir = http
        .get(format!("{issuer_url}/.well-known/private-token-issuer-directory"))
        .send()
        .await
        .unwrap();
    assert_eq!(dir.status(), 200);
    let blind = ok(run(
        &["issuer", "keys", "blind", "--data-dir", data.to_str().unwrap()],
        tmp.path(),
    ));
    let rows: Vec<&str> = blind.lines().skip(1).collect();
    // Six facts, two floors, this month and two ahead.
    assert_eq!(rows.len(), 36, "{blind}");
    assert_eq!(rows.iter().filter(|r| r.ends_with("live")).count(), 12, "{blind}");
    assert_eq!(
        rows.iter().filter(|r| r.ends_with("ahead")).count(),
        24,
        "{blind}"
    );
}

#[test]
fn offline_verify_exit_codes_and_inspect() {
    let tmp = tempfile::tempdir().unwrap();
    let vector = vector("verify/001_ok_teen_band.json");
    let input = &vector["input"];
    let jwks = tmp.path().join("jwks.json");
    std::fs::write(&jwks, input["issuer_jwks"].to_string()).unwrap();
    let vp = tmp.path().join("vp.txt");
    std::fs::write(&vp, input["presentation"].as_str().unwrap()).unwrap();
    let now = input["now"].to_string();
    let args = |aud: &str| {
        vec![
            "verify".to_owned(),
            "--issuer-jwk".into(),
            jwks.to_str().unwrap().into(),
            "--aud".into(),
            aud.into(),
            "--nonce".into(),
            input["nonce"].as_str().unwrap().into(),
            "--issuer".into(),
            input["issuer"].as_str().unwrap().into(),
            "--at".into(),
            now.clone(),
            vp.to_str().unwrap().into(),
        ]
    };
    let o = Command::new(BIN)
        .args(args(input["aud"].as_str().unwrap()))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let outcome: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(outcome["at_least"], 13);
    assert_eq!(outcome["under"], 16);
    let mut keys: Vec<&String> = outcome.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["assurance", "at_least", "issuer", "profile", "source", "under"]
    );
    assert_eq!(outcome["profile"], "sd_jwt");

    let o = Command::new(BIN)
        .args(args("redirect_uri:https://other.example"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "rejection exits 1");
    assert!(!o.stderr.is_empty());
    let o = Command::new(BIN).args(["verify", "--aud", "x"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "usage errors exit 2");
    // The program's own usage errors, past clap: a key file that is not a JWK, a missing key
    // file and a missing presentation exit 2 too, never 1 (a rejection) or 0.
    let not_a_jwk = tmp.path().join("not-a-jwk.json");
    std::fs::write(&not_a_jwk, b"{\"kty\":\"none\"}").unwrap();
    let missing = tmp.path().join("missing");
    for (jwk, presentation) in [(&not_a_jwk, &vp), (&missing, &vp), (&jwks, &missing)] {
        let mut a = args(input["aud"].as_str().unwrap());
        a[2] = jwk.to_str().unwrap().into();
        *a.last_mut().unwrap() = presentation.to_str().unwrap().into();
        let o = Command::new(BIN).args(&a).output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(2),
            "{a:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            String::from_utf8_lossy(&o.stderr).starts_with("ageband verify: "),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    let o = Command::new(BIN)
        .args(["inspect", vp.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success());
    let decoded: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(decoded["verified"], false);
    assert_eq!(decoded["disclosures"].as_array().unwrap().len(), 2);
}

#[test]
fn offline_verify_of_a_blind_token_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let vector = vector("blind-session/002_ok_band_13_15.json");
    let issuer = &vector["issuers"][0];
    let dir = tmp.path().join("directory.json");
    std::fs::write(&dir, issuer["directory"].as_str().unwrap()).unwrap();
    let vp: Value = serde_json::from_str(vector["vp_token"].as_str().unwrap()).unwrap();
    let tokens: Vec<&str> = vp["age_blind"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(tokens.len(), 2);
    let run_with = |input: String, nonce: &str| {
        let file = tmp.path().join("tokens.txt");
        std::fs::write(&file, input).unwrap();
        Command::new(BIN)
            .args([
                "verify",
                "--blind-directory",
                dir.to_str().unwrap(),
                "--issuer",
                issuer["id"].as_str().unwrap(),
                "--aud",
                vector["request"]["audience"].as_str().unwrap(),
                "--nonce",
                nonce,
                "--at",
                &vector["now"].to_string(),
                file.to_str().unwrap(),
            ])
            .output()
            .unwrap()
    };
    let nonce = vector["request"]["nonce"].as_str().unwrap();
    let o = run_with(tokens.join("\n"), nonce);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let outcome: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (
            &outcome["at_least"],
            &outcome["under"],
            &outcome["profile"],
            &outcome["source"]
        ),
        (&json!(13), &json!(16), &json!("blind_token"), &Value::Null),
        "{outcome}"
    );
    // Bound to another nonce: refused with the binding's kind (exit 1).
    let o = run_with(tokens.join(" "), "another-nonce-of-16-bytes");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("bad_binding"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // --blind-directory needs --issuer, and excludes --issuer-jwk: usage errors (exit 2).
    let o = Command::new(BIN)
        .args([
            "verify",
            "--blind-directory",
            dir.to_str().unwrap(),
            "--aud",
            "a",
            "--nonce",
            "n",
            "x",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = Command::new(BIN)
        .args([
            "verify",
            "--blind-directory",
            dir.to_str().unwrap(),
            "--issuer-jwk",
            dir.to_str().unwrap(),
            "--issuer",
            issuer["id"].as_str().unwrap(),
            "--aud",
            "a",
            "--nonce",
            "n",
            "x",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--issuer-jwk"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A directory file that is not an RFC 9578 directory: the program's usage error (exit 2).
    let bad_dir = tmp.path().join("not-a-directory.json");
    std::fs::write(&bad_dir, b"{}").unwrap();
    let o = Command::new(BIN)
        .args([
            "verify",
            "--blind-directory",
            bad_dir.to_str().unwrap(),
            "--issuer",
            issuer["id"].as_str().unwrap(),
            "--aud",
            "a",
            "--nonce",
            "n",
            tmp.path().join("tokens.txt").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stderr).starts_with("ageband verify: "),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn the_demo_tells_the_story_and_exits_0() {
    let o = Command::new(BIN).arg("demo").output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for needle in [
        "demo identity provider",
        "guardian declaration",
        "\"band\":\"13-15\"",
        "\"band\":\"18+\"",
        "\"band\":\"0-12\"",
        "did not learn",
        "admitted",
        "kept out (age 0-17)",
        "shows its 13-15 experience",
        // The double-blind path beside the SD-JWT one.
        "+ 30 blind tokens",
        "\"profile\":\"blind_token\"",
        "one age_over_13 token (floor 2",
        "one age_under_16 token (floor 2",
        "wallet sent one age_over_18 token → 200",
    ] {
        assert!(out.contains(needle), "demo output lacks {needle}:\n{out}");
    }
}
