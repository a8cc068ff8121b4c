#!/usr/bin/env bash
# Builds fuzz/corpus/<target>/ from specs/vectors/ and the hand-written seeds in fuzz/seeds/.
# The corpus is generated (and grown by the fuzzer): it stays out of git.
# Needs jq and coreutils. Usage: fuzz/seed.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
vectors="$here/../specs/vectors"
corpus="$here/corpus"

targets=(presentation presentation_resign disclosure jws jwk json base64 date wallet_link vp_token
         issuer_token issuer_credential issuer_evidence wallet_file
         blind_presentation blind_directory blind_vp_token private_token issuer_blind_request)
for t in "${targets[@]}"; do mkdir -p "$corpus/$t"; done

n=0
put() { # put TARGET CONTENT — one seed file named by its hash
    local f
    f="$corpus/$1/seed-$(printf '%s' "$2" | sha1sum | cut -c1-16)"
    printf '%s' "$2" > "$f"
    n=$((n + 1))
}
b64url_decode() { # stdin → stdout, unpadded base64url
    local s
    s="$(tr -- '-_' '+/')"
    case $(( ${#s} % 4 )) in 2) s="$s==" ;; 3) s="$s=" ;; esac
    printf '%s' "$s" | base64 -d 2>/dev/null | tr -d '\000' || true
}

presentations() {
    for f in "$vectors"/verify/*.json; do jq -r '.input.presentation' "$f"; done
    for f in "$vectors"/present/*.json; do jq -r '.output' "$f"; done
    for f in "$vectors"/issue/*.json; do jq -r '.output' "$f"; done
    cat "$vectors"/external/*_presentation.txt | tr -d '\r' | grep -v '^$' || true
}

while IFS= read -r p; do
    [ -n "$p" ] || continue
    put presentation "$p"
    put vp_token "$p"
    IFS='~' read -r -a parts <<< "$p"
    jwt="${parts[0]}"
    put jws "$jwt"
    header="$(printf '%s' "${jwt%%.*}" | b64url_decode)"
    rest="${jwt#*.}"
    payload="$(printf '%s' "${rest%%.*}" | b64url_decode)"
    put json "$header"
    put json "$payload"
    lines="$payload"
    for ((i = 1; i < ${#parts[@]}; i++)); do
        part="${parts[$i]}"
        [ -n "$part" ] || continue
        if [[ "$part" == *.*.* ]]; then
            put jws "$part"
            continue
        fi
        put disclosure "$part"
        put base64 "$(printf '\xff')$part"
        d="$(printf '%s' "$part" | b64url_decode)"
        put json "$d"
        lines+=$'\n'"$d"
    done
    # The structure-aware target re-signs: payload line + decoded disclosure lines.
    put presentation_resign "$lines"
done < <(presentations)

for f in "$vectors"/verify/*.json "$vectors"/issue/*.json; do
    put jwk "$(jq -c '.input.issuer_jwks // .input.issuer_jwk' "$f")"
    put jwk "$(jq -c '.input.issuer_jwks.keys[0] // .input.holder_jwk' "$f")"
done
put jwk "$(jq -c . "$vectors"/external/spec_issuer_pub.json)"

# Blind-token profile (blind-profile.md §14): presentations in both transport forms,
# directories, vp_tokens, and wallet files (format version 2) holding a token and a pinned
# directory from the vectors.
blind="$vectors/blind"
session="$vectors/blind-session"
for f in "$blind"/*.json; do
    p="$(jq -r '.presentation' "$f")"
    put blind_presentation "$p"
    IFS='.' read -r t k s <<< "$p"
    put blind_presentation "PrivateToken token=\"$t\", binding=\"$k.$s\""
    put blind_vp_token "$p"
    put blind_directory "$(jq -r '.directory' "$f")"
done
for f in "$session"/0*.json; do
    put blind_vp_token "$(jq -r '.vp_token' "$f")"
    for i in 0 1; do put blind_directory "$(jq -r ".issuers[$i].directory" "$f")"; done
done
# Wallet file mode 2: the plaintext of a version-2 wallet, sealed by the target.
tok="$(jq -r '.presentation' "$blind/001_valid.json" | cut -d. -f1)"
dir="$(jq -r '.directory' "$blind/001_valid.json")"
key="AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"
for month in 2026-11 2026-12; do
    put wallet_file "$(printf '\x02')$(jq -cn --arg t "$tok" --arg d "$dir" --arg k "$key" --arg m "$month" '{
        version: 2, credentials: [],
        blind_tokens: [{issuer: "https://issuer.example", fact: "age_over_18", floor: 3, month: $m,
                        token: $t, key: $k}],
        directories: [{issuer: "https://issuer.example", directory: $d}]}')"
done
put wallet_file "$(printf '\x02')$(jq -cn --arg d "$dir" '{version: 2, credentials: [], blind_tokens: [],
    directories: [{issuer: "https://issuer.example", directory: $d},
                  {issuer: "https://other.example", directory: $d}]}')"

# Hand-written seeds for the inputs the vectors do not cover (dates, links, issuer bodies,
# wallet files), one file per seed.
if [ -d "$here/seeds" ]; then
    for d in "$here"/seeds/*/; do
        t="$(basename "$d")"
        mkdir -p "$corpus/$t"
        cp "$d"* "$corpus/$t/" 2>/dev/null || true
    done
fi
echo "seeded $n files from specs/vectors plus fuzz/seeds into $corpus"
