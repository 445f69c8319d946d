#!/usr/bin/env bash
# Fuzz smoke run: builds every cargo-fuzz target in fuzz/ and runs each for a
# few seconds from a fixed seed, failing on any crash, panic, leak or hang.
# Installs cargo-fuzz when missing. The fuzz crate needs nightly flags
# (-Zsanitizer, -Cpasses=sancov); RUSTC_BOOTSTRAP=1 enables them on the
# stable toolchain for this crate only. The longer run is in fuzz/README.md.
#
#   tests/fuzz_smoke.sh            # every target, 5 s each
#   FUZZ_SECONDS=60 tests/fuzz_smoke.sh anonymizer
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${FUZZ_SECONDS:-5}"
if [ $# -gt 0 ]; then
    targets=("$@")
else
    targets=(smtp_command data_receiver anonymizer moderation store_records mime_nesting attachment pdf office)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
# The same flags for build and run, so `run` does not rebuild.
flags=(--sanitizer address --debug-assertions --codegen-units 16)

start=$SECONDS
echo "== building fuzz targets"
cargo fuzz build "${flags[@]}"
echo "== built in $((SECONDS - start)) s"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=()
for target in "${targets[@]}"; do
    echo "== fuzzing $target for ${seconds} s (seed 1)"
    # New inputs go to a scratch corpus; the committed seeds are read only.
    mkdir -p "$work/$target"
    if ! cargo fuzz run "${flags[@]}" "$target" "$work/$target" "seeds/$target" -- \
        -seed=1 -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 2>"$work/$target.log"; then
        failed+=("$target")
        tail -n 40 "$work/$target.log"
        echo "!! $target failed; crashing inputs:" "artifacts/$target"/* 2>/dev/null || true
    else
        grep -E '^(Done|stat::number_of_executed_units)' "$work/$target.log" || true
    fi
done

echo "== fuzz smoke finished in $((SECONDS - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "!! failing targets: ${failed[*]}"
    exit 1
fi
