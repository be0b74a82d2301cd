"""Checks that the README's delivery recipes ("## Delivering to your server") are the tested code.

Usage: python3 tests/interop/readme_recipes.py README.md

Each fenced code block of that section is split at blank lines; every piece must appear word for
word, in order, in the file that tests it (for Rust: the crate docs of payseal-appserver, a
compiled doctest; for SQL: the `DeliveryGuard` trait docs, whose statements
appserver/tests/sql_delivery_guard.rs runs). A block in another language, or a language without
a block, fails. Prints one line per block and `readme recipes: N passed, N failed`.
"""

import re
import sys

SECTION = "## Delivering to your server"
TESTED = {  # fence language -> (file, prefix stripped from its lines)
    "rust": ("appserver/src/lib.rs", "//!"),
    "sql": ("appserver/src/delivery.rs", "///"),
    "js": ("tests/interop/jose/grant.mjs", None),
    "python": ("tests/interop/python/grant.py", None),
    "go": ("tests/interop/go/main.go", None),
    "kotlin": ("tests/interop/java/src/main/kotlin/Verify.kt", None),
}


def source(path, prefix):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if prefix:  # doc comments: "//! code" -> "code", "//!" -> ""
        lines = [l.strip()[len(prefix):].removeprefix(" ") for l in lines if l.strip().startswith(prefix)]
    return "\n".join(lines)


def main(argv):
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as f:
        text = f.read()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end >= 0 else len(text)]
    blocks = re.findall(r"^```(\w*)\n(.*?)^```$", section, re.S | re.M)
    passed = failed = 0
    seen = set()
    for lang, body in blocks:
        seen.add(lang)
        if lang not in TESTED:
            failed += 1
            print(f"FAIL a ```{lang} block: no tested file for that language")
            continue
        path, prefix = TESTED[lang]
        code, at, missing = source(path, prefix), 0, None
        for piece in (p.strip("\n") for p in re.split(r"\n\s*\n", body)):
            found = code.find(piece, at)
            if found < 0:
                missing = piece
                break
            at = found + len(piece)
        if missing is None:
            passed += 1
            print(f"ok   ```{lang} block ({body.count(chr(10))} lines) is in {path}")
        else:
            failed += 1
            print(f"FAIL ```{lang} block: this part is not in {path} (or not in order):\n{missing}")
    for lang in sorted(set(TESTED) - seen):
        failed += 1
        print(f"FAIL no ```{lang} block in the README's {SECTION!r}")
    print(f"readme recipes: {passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
