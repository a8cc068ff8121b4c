#!/usr/bin/env bash
# Builds fuzz/corpus/<target>/ from specs/vectors/ and the hand-written seeds in fuzz/seeds/.
# The corpus is generated (and grown by the fuzzer): it stays out of git.
# Needs jq and coreutils. Usage: fuzz/seed.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
vectors="$here/../specs/vectors"
corpus="$here/corpus"

targets=(presentation presentation_resign disclosure jws jwk json base64 date wallet_link vp_token
         issuer_token issuer_credential issuer_evidence wallet_file)
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
