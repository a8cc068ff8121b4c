#!/usr/bin/env python3
"""Interoperability fixtures: ageband presentations made by the reference Python SD-JWT
implementation (`pip install sd-jwt`, OpenWallet Foundation, tested with 0.10.4), plus inputs
that library accepts but ageband must reject (issue 3 §4).

    python3 -m venv /tmp/sdjwt && /tmp/sdjwt/bin/pip install sd-jwt==0.10.4
    /tmp/sdjwt/bin/python verifier/tests/interop/generate.py

Writes one JSON file per case next to this script, in the format of specs/vectors/verify
(`input` with issuer, issuer_jwks, aud, nonce, now, presentation; `expect` "ok" or an error
kind) plus `question` (what the verifier asks) and, for "ok", the expected `outcome`.
`python_sd_jwt_accepts` records whether the Python verifier accepted the input. Keys, salts
and signatures are fresh on every run; the clock is fixed.
"""

import json
from pathlib import Path

import sd_jwt
import sd_jwt.holder
from jwcrypto.jwk import JWK
from sd_jwt.common import SDObj
from sd_jwt.holder import SDJWTHolder
from sd_jwt.issuer import SDJWTIssuer
from sd_jwt.verifier import SDJWTVerifier

OUT = Path(__file__).resolve().parent
ISS = "https://issuer.interop.example"
AUD = "redirect_uri:https://platform.example/v1/sessions/interop/response"
NONCE = "aW50ZXJvcC1ub25jZS0wMQ"
DAY = 86400
IAT = 1782864000  # 2026-07-01, a Day
NOW = IAT + 3600
VCT = "urn:ageband:age:1"

# The holder's KB-JWT `iat` is taken from time(); fix it so that the fixtures have one clock.
sd_jwt.holder.time = lambda: NOW

issuer_key = JWK.generate(kty="EC", crv="P-256")
holder_key = JWK.generate(kty="EC", crv="P-256")
other_key = JWK.generate(kty="EC", crv="P-256")
kid = issuer_key.thumbprint()
jwks = {"keys": [dict(issuer_key.export_public(as_dict=True), kid=kid, use="sig", alg="ES256")]}


def credential(predicates, typ="dc+sd-jwt", decoys=True):
    claims = {
        "iss": ISS,
        "vct": VCT,
        "iat": IAT,
        "exp": IAT + 90 * DAY,
        "assurance": "enhanced",
        "source": "official_id",
    }
    for nn, value in predicates.items():
        claims[SDObj(f"age_over_{nn:02d}")] = value
    return SDJWTIssuer(
        claims,
        issuer_key,
        holder_key=holder_key,
        sign_alg="ES256",
        add_decoy_claims=decoys,
        extra_header_parameters={"typ": typ, "kid": kid},
    ).sd_jwt_issuance


def present(issuance, disclose, key=holder_key, nonce=NONCE, aud=AUD):
    holder = SDJWTHolder(issuance)
    holder.create_presentation({f"age_over_{nn:02d}": True for nn in disclose}, nonce, aud, key, "ES256")
    return holder.sd_jwt_presentation


def python_accepts(presentation):
    def issuer_key_for(iss, header):
        return issuer_key

    try:
        SDJWTVerifier(presentation, issuer_key_for, AUD, NONCE).get_verified_payload()
        return True
    except Exception:  # noqa: BLE001 - any refusal counts
        return False


def write(name, description, presentation, expect, question, outcome=None):
    case = {
        "description": description,
        "expect": expect,
        "python_sd_jwt_accepts": python_accepts(presentation),
        "question": question,
        "input": {
            "aud": AUD,
            "issuer": ISS,
            "issuer_jwks": jwks,
            "nonce": NONCE,
            "now": NOW,
            "presentation": presentation,
        },
    }
    if outcome is not None:
        case["outcome"] = outcome
    (OUT / f"{name}.json").write_text(json.dumps(case, indent=2, sort_keys=True) + "\n")


def with_disclosures(presentation, disclosures):
    """Rebuilds `<JWT>~<D…>~<KB>` with other disclosures, keeping the (now stale) KB-JWT."""
    parts = presentation.split("~")
    return "~".join([parts[0], *disclosures, parts[-1]])


def main():
    for f in OUT.glob("*.json"):
        f.unlink()
    band = {"band": [13, 16, 18]}
    teen = credential({13: True, 16: False, 18: False})
    ok_teen = present(teen, [13, 16])
    write("001_ok_band_teen", "sd-jwt (Python) issues and presents {13 true, 16 false}", ok_teen, "ok", band,
          {"at_least": 13, "under": 16, "assurance": "enhanced", "source": "official_id", "issuer": ISS})
    adult = credential({13: True, 16: True, 18: True})
    write("002_ok_at_least_18", "sd-jwt (Python) presents {18 true} of an adult", present(adult, [18]), "ok",
          {"at_least": 18},
          {"at_least": 18, "under": None, "assurance": "enhanced", "source": "official_id", "issuer": ISS})
    write("003_ok_no_decoys", "no decoy digests (the Python default)", present(
        credential({13: False}, decoys=False), [13]), "ok", {"under": 13},
        {"at_least": None, "under": 13, "assurance": "enhanced", "source": "official_id", "issuer": ISS})

    # Inputs ageband must reject.
    parts = ok_teen.split("~")
    d1, d2 = parts[1], parts[2]
    foreign = credential({13: True, 16: False, 18: False}).split("~")[1]
    write("010_unreferenced_disclosure", "a disclosure from another credential added",
          present(teen, [13, 16]).replace("~", "~" + foreign + "~", 1), "UnreferencedDisclosure", band)
    write("011_duplicated_disclosure", "the same disclosure presented twice",
          with_disclosures(ok_teen, [d1, d1, d2]), "DuplicateDigest", band)
    tampered = sd_jwt.common.SDJWTCommon._base64url_decode(d2).decode().replace("false", "true")
    tampered = sd_jwt.common.SDJWTCommon._base64url_encode(tampered.encode())
    write("012_tampered_disclosure", "a disclosure's value flipped (its digest no longer matches)",
          with_disclosures(ok_teen, [d1, tampered]), "UnreferencedDisclosure", band)
    holder = SDJWTHolder(teen)
    holder.create_presentation({"age_over_13": True, "age_over_16": True})
    write("013_kb_missing", "no KB-JWT (the Python verifier accepts it when not asked for one)",
          holder.sd_jwt_presentation, "KbMissing", band)
    sd_jwt.holder.time = lambda: NOW - 301
    write("014_kb_iat_stale", "KB-JWT iat 301 s old", present(teen, [13, 16]), "KbIat", band)
    sd_jwt.holder.time = lambda: NOW
    write("015_typ_example", "the library's default typ example+sd-jwt",
          present(credential({13: True, 16: False, 18: False}, typ="example+sd-jwt"), [13, 16]), "WrongTyp", band)
    write("016_typ_vc", "the pre-2024 typ vc+sd-jwt",
          present(credential({13: True, 16: False, 18: False}, typ="vc+sd-jwt"), [13, 16]), "WrongTyp", band)
    write("017_kb_other_key", "KB-JWT signed by a key other than cnf.jwk",
          present(teen, [13, 16], key=other_key), "BadSignature", band)
    write("018_kb_dropped_disclosure", "a disclosure dropped after the KB-JWT was made",
          with_disclosures(ok_teen, [d1]), "KbSdHash", band)
    write("019_over_disclosure", "all three predicates for an 'at least 13' question",
          present(teen, [13, 16, 18]), "OverDisclosure", {"at_least": 13})
    write("020_claim_set_mismatch", "half of the fitting answer set",
          present(teen, [13]), "ClaimSetMismatch", band)


if __name__ == "__main__":
    main()
