"""Checks that the documented recipes are the tested code: the delivery recipes of the book
(docs/src/delivery.md, "Delivering to your server") and the server check on the front page
(README.md, "Check the verdict on your server").

Usage: python3 tests/interop/readme_recipes.py        (run by scripts/docs.sh)

Each fenced code block of those sections is split at blank lines; every piece must appear word for
word, in order, in the file that tests it (for Rust: the crate docs of payseal-appserver, a
compiled doctest; for SQL: the `DeliveryGuard` trait docs, whose statements
appserver/tests/sql_delivery_guard.rs runs). A block in another language, or a language without
a block, fails. Prints one line per block and `readme recipes: N passed, N failed`.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPSERVER_DOCS = ("appserver/src/lib.rs", "//!")
SECTIONS = [  # (file, heading, {fence language: (tested file, prefix stripped from its lines)})
    (
        "docs/src/delivery.md",
        "# Delivering to your server",
        {
            "rust": APPSERVER_DOCS,
            "sql": ("appserver/src/delivery.rs", "///"),
            "js": ("tests/interop/jose/grant.mjs", None),
            "python": ("tests/interop/python/grant.py", None),
            "go": ("tests/interop/go/main.go", None),
            "kotlin": ("tests/interop/java/src/main/kotlin/Verify.kt", None),
        },
    ),
    ("README.md", "## Check the verdict on your server", {"rust": APPSERVER_DOCS}),
]


def source(path, prefix):
    lines = (ROOT / path).read_text(encoding="utf-8").split("\n")
    if prefix:  # doc comments: "//! code" -> "code", "//!" -> ""
        lines = [l.strip()[len(prefix):].removeprefix(" ") for l in lines if l.strip().startswith(prefix)]
    return "\n".join(lines)


def section(path, heading):
    """The text under `heading` up to the next heading of its level or higher, code included."""
    level = len(heading) - len(heading.lstrip("#"))
    lines, out, fence = (ROOT / path).read_text(encoding="utf-8").split("\n"), None, False
    for line in lines:
        if line.startswith("```"):
            fence = not fence
        if not fence and out is None and line.strip() == heading:
            out = []
            continue
        if out is not None:
            m = re.match(r"^(#{1,6}) ", line)
            if not fence and m and len(m.group(1)) <= level:
                break
            out.append(line)
    if out is None:
        raise SystemExit(f"FAIL {path} has no heading {heading!r}")
    return "\n".join(out) + "\n"


def check(path, heading, tested):
    passed = failed = 0
    blocks = re.findall(r"^```(\w*)\n(.*?)^```$", section(path, heading), re.S | re.M)
    seen = set()
    for lang, body in blocks:
        seen.add(lang)
        if lang not in tested:
            failed += 1
            print(f"FAIL {path}: a ```{lang} block: no tested file for that language")
            continue
        file, prefix = tested[lang]
        code, at, missing = source(file, prefix), 0, None
        for piece in (p.strip("\n") for p in re.split(r"\n\s*\n", body)):
            found = code.find(piece, at)
            if found < 0:
                missing = piece
                break
            at = found + len(piece)
        if missing is None:
            passed += 1
            print(f"ok   {path}: ```{lang} block ({body.count(chr(10))} lines) is in {file}")
        else:
            failed += 1
            print(f"FAIL {path}: ```{lang} block: this part is not in {file} (or not in order):\n{missing}")
    for lang in sorted(set(tested) - seen):
        failed += 1
        print(f"FAIL no ```{lang} block in {path}'s {heading!r}")
    return passed, failed


def main(argv):
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    passed = failed = 0
    for path, heading, tested in SECTIONS:
        p, f = check(path, heading, tested)
        passed, failed = passed + p, failed + f
    print(f"readme recipes: {passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
