#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 10) one after another, seeding the corpus from
# specs/vectors/ first, and prints one line per target: executions, corpus size, result.
# Exits non-zero if any target finds a crash, leak or timeout (kept in fuzz/artifacts/<target>/).
#
# cargo-fuzz needs nightly flags; on a stable toolchain RUSTC_BOOTSTRAP=1 lets them through.
# Usage: fuzz/run-all.sh [SECONDS] [TARGET...]
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
secs="${1:-10}"
shift || true
cd "$here/.."
export RUSTC_BOOTSTRAP="${RUSTC_BOOTSTRAP:-1}"
[ -d "$here/corpus" ] || "$here/seed.sh"
if [ "$#" -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo fuzz list); fi
cargo fuzz build >/dev/null || exit 2
failed=0
mkdir -p "$here/logs"
for t in "${targets[@]}"; do
    log="$here/logs/$t.log"
    mkdir -p "$here/corpus/$t"
    if cargo fuzz run "$t" "$here/corpus/$t" -- -max_total_time="$secs" -timeout=20 \
        -rss_limit_mb=3072 -print_final_stats=1 >"$log" 2>&1; then
        result=ok
    else
        result=FAILED
        failed=1
    fi
    runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)"
    size="$(find "$here/corpus/$t" -type f | wc -l)"
    printf '%-20s %10s execs  %6s corpus files  %s\n' "$t" "${runs:-?}" "$size" "$result"
done
exit "$failed"
