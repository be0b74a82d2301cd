#!/usr/bin/env bash
# Builds the book (docs/) with mdBook into target/book and checks every internal link: each
# relative link of docs/src/*.md and README.md names a file that exists, each #anchor a heading
# mdBook gives that id (checked against the HTML it wrote), each page is in SUMMARY.md, and no
# page links out of the book (scripts/lib/doc_links.py; its self-test runs first). Then the
# recipes the book and README.md show must be the tested code (tests/interop/readme_recipes.py).
# Installs the pinned mdBook from crates.io when it is missing or another version; fails loudly
# when it cannot.
# Usage: scripts/docs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

# Pinned: the HTML book needs none of mdBook's default features (watch, serve, search).
MDBOOK_VERSION=0.5.4
need cargo "install Rust with rustup: https://rustup.rs"
need python3 "apt-get install python3"

mdbook_bin() {
  local bin
  for bin in "$(command -v mdbook || true)" "${CARGO_HOME:-$HOME/.cargo}/bin/mdbook"; do
    [[ -n $bin && -x $bin ]] && [[ $("$bin" --version 2>/dev/null) == "mdbook v$MDBOOK_VERSION" ]] && { echo "$bin"; return 0; }
  done
  return 1
}

if ! MDBOOK=$(mdbook_bin); then
  step "installing mdBook $MDBOOK_VERSION from crates.io (cargo install mdbook --version $MDBOOK_VERSION --locked --no-default-features; about 3 minutes)"
  cargo install mdbook --version "$MDBOOK_VERSION" --locked --no-default-features ||
    fail "cannot install mdBook $MDBOOK_VERSION (needs network access to crates.io); install it by hand: cargo install mdbook --version $MDBOOK_VERSION --locked --no-default-features"
  MDBOOK=$(mdbook_bin) || fail "mdBook $MDBOOK_VERSION was installed but is not in PATH nor in ${CARGO_HOME:-$HOME/.cargo}/bin"
fi

step "docs: the link checker's self-test (a broken link must fail)"
python3 scripts/lib/doc_links.py --self-test

BOOK="$(target_dir)/book"
step "docs: mdBook $MDBOOK_VERSION builds docs/ into $BOOK"
rm -rf "$BOOK"
"$MDBOOK" build docs --dest-dir "$BOOK"

step "docs: every internal link of docs/src and README.md resolves"
python3 scripts/lib/doc_links.py --html "$BOOK" docs/src README.md

step "docs: the documented recipes are the tested code (docs/src/delivery.md, README.md)"
python3 tests/interop/readme_recipes.py
ok "docs: book built in $BOOK, links checked"
