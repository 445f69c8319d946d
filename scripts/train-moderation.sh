#!/usr/bin/env bash
# Retrains the moderation model from the repository's labelled lines and
# writes crates/leak-moderation/model/weights.bin (deterministic: the same
# files give the same bytes). Prints the cross-validated figures.
#
#   scripts/train-moderation.sh            retrain and write the weights
#   scripts/train-moderation.sh --check    retrain, fail unless identical to the shipped file
#   scripts/train-moderation.sh --dry-run  retrain, print the figures, write nothing
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet --release -p leak-moderation --example train -- "$@"
