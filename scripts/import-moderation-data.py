#!/usr/bin/env python3
"""Converts a writer's delivered chunk files into the trainer's TSV files.

    scripts/import-moderation-data.py WRITER_DIR WRITER_TAG OUT_DIR [--lang fr|en]

A writer delivers `<label>__<category>__<n>.txt` (one language, given with
--lang) or `<label>__<category>__<lang>__<n>.txt`, one message per line.
This writes OUT_DIR/train-<lang>-<tag>.tsv per language with the header
`label lang category text`: whitespace (tabs, newlines, runs of spaces)
folded to single spaces, empty lines and exact repeats (after folding)
dropped, files read in name order so the output is the same on every run.
"""
import argparse
import pathlib
import re
import sys


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("dir", type=pathlib.Path)
    p.add_argument("tag")
    p.add_argument("out", type=pathlib.Path)
    p.add_argument("--lang", choices=["fr", "en"])
    a = p.parse_args()
    rows: dict[str, list[str]] = {}
    seen: set[str] = set()
    dropped = 0
    for f in sorted(a.dir.glob("*.txt")):
        parts = f.stem.split("__")
        if len(parts) == 3 and a.lang:
            label, category, lang = parts[0], parts[1], a.lang
        elif len(parts) == 4:
            label, category, lang = parts[0], parts[1], parts[2]
        else:
            print(f"{f}: unexpected name", file=sys.stderr)
            return 1
        if label not in ("abusive", "benign") or lang not in ("fr", "en"):
            print(f"{f}: unexpected label or language", file=sys.stderr)
            return 1
        for line in f.read_text(encoding="utf-8").splitlines():
            text = re.sub(r"\s+", " ", line).strip()
            if not text:
                continue
            if text in seen:
                dropped += 1
                continue
            seen.add(text)
            rows.setdefault(lang, []).append(f"{label}\t{lang}\t{category}\t{text}")
    for lang, lines in sorted(rows.items()):
        out = a.out / f"train-{lang}-{a.tag}.tsv"
        out.write_text("label\tlang\tcategory\ttext\n" + "\n".join(lines) + "\n", encoding="utf-8")
        print(f"{out}: {len(lines)} lines", file=sys.stderr)
    print(f"{dropped} exact repeats dropped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
