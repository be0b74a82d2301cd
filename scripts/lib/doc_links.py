"""Checks the internal links of the book (docs/src) and of other Markdown files (README.md).

Usage: python3 scripts/lib/doc_links.py [--html BOOK_HTML_DIR] BOOK_SRC [FILE.md ...]
       python3 scripts/lib/doc_links.py --self-test

Every relative link (`[text](target)`, `![alt](target)`, `[ref]: target`) outside code must name
a file or folder that exists, relative to the file that holds it; a `#anchor` into a Markdown file
(or within the same file) must be the id of one of its headings, computed as mdBook computes it
(lowercase; letters, digits, `_` and `-` kept; whitespace to `-`; everything else dropped; a
repeated id gets `-1`, `-2`...). `{{#include path}}` must name a file that exists. Every page of
BOOK_SRC must be listed in its SUMMARY.md (a page left out is not rendered, so links to it break).
With --html, the heading ids computed here must be exactly the heading ids mdBook wrote into each
page's HTML, so the anchor rule above is checked against mdBook itself. External links (a URL
scheme such as https:) are not checked. Prints each broken link and
`doc links: N checked in M files, N broken`; exit 1 when one is broken.
"""

import os
import re
import sys
import tempfile
from pathlib import Path

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
INCLUDE = re.compile(r"\{\{#include\s+([^}\s:]+)[^}]*\}\}")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def prose_lines(text, blank_code=True):
    """(line number, line) outside fenced code blocks, inline code spans blanked unless told."""
    fence = None
    for number, line in enumerate(text.split("\n"), 1):
        m = FENCE.match(line)
        if m:
            if fence is None:
                fence = m.group(1)
            elif m.group(1) == fence:
                fence = None
            continue
        if fence is None:
            yield number, CODE_SPAN.sub(lambda s: " " * len(s.group(0)), line) if blank_code else line


def heading_text(markdown):
    """A heading's text as rendered: links by their text, inline code by its content, no emphasis."""
    text = re.sub(r"!?\[((?:[^\[\]]|\[[^\]]*\])*)\]\([^)]*\)", r"\1", markdown)
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML tags
    text = text.replace("`", "")
    text = re.sub(r"(\*+)(\S.*?\S|\S)\1", r"\2", text)  # **strong**, *emphasis*
    return text


def anchor_id(text):
    """mdBook's id for a heading's rendered text (mdbook-html utils::id_from_content)."""
    out = []
    for ch in text.strip().lower():
        if ch.isalnum() or ch in "_-":
            out.append(ch)
        elif ch.isspace():
            out.append("-")
    return "".join(out)


def expand_includes(path, text):
    """The text with each `{{#include FILE[:START[:END]]}}` replaced by those lines, as mdBook does."""

    def lines(m):
        target, spec = m.group(1).partition(":")[::2]
        if not (path.parent / target).is_file():
            return m.group(0)  # reported by the link check
        body = (path.parent / target).read_text(encoding="utf-8").split("\n")
        if not spec:
            return "\n".join(body)
        start, sep, end = spec.partition(":")
        first = int(start) - 1 if start else 0
        last = (int(end) if end else len(body)) if sep else first + 1
        return "\n".join(body[first:last])

    return re.sub(r"\{\{#include\s+([^}\s]+)\s*\}\}", lines, text)


def heading_ids(path):
    """The ids of a Markdown file's headings (included files too), made unique as mdBook does."""
    ids, used = [], set()
    for _, line in prose_lines(expand_includes(path, path.read_text(encoding="utf-8")), blank_code=False):
        m = HEADING.match(line)
        if not m:
            continue
        custom = re.search(r"\{#([^}\s]+)\}\s*$", m.group(2))
        base = custom.group(1) if custom else anchor_id(heading_text(m.group(2)))
        candidate, n = base, 0
        while candidate in used:
            n += 1
            candidate = f"{base}-{n}"
        used.add(candidate)
        ids.append(candidate)
    return ids


def links(path, includes=True):
    """(line number, target, is an include) of every link (and include) of a Markdown file, code excluded."""
    text = path.read_text(encoding="utf-8")
    for number, line in prose_lines(text):
        for m in INLINE_LINK.finditer(line):
            yield number, m.group(1), False
        m = REF_DEF.match(line)
        if m:
            yield number, m.group(1), False
    for number, line in enumerate(text.split("\n"), 1):
        for m in INCLUDE.finditer(line) if includes else ():
            yield number, m.group(1), True


def check_link(source, target, ids_of):
    """None when `target`, written in `source`, resolves; else why not."""
    if not target or SCHEME.match(target):
        return None
    path_part, _, anchor = target.partition("#")
    dest = source if not path_part else (source.parent / path_part)
    if not dest.exists():
        return f"no such file: {os.path.normpath(dest)}"
    if not anchor:
        return None
    if dest.suffix != ".md" or dest.is_dir():
        return f"anchor #{anchor} into {dest.name}, which is not a Markdown file: cannot be checked"
    if anchor not in ids_of(dest.resolve()):
        return f"no heading with id #{anchor} in {os.path.normpath(dest)}"
    return None


def summary_pages(src):
    """The pages SUMMARY.md links to, relative to src."""
    summary = src / "SUMMARY.md"
    if not summary.exists():
        return None
    return {
        os.path.normpath(t.partition("#")[0])
        for _, t, _ in links(summary, includes=False)
        if t and not SCHEME.match(t) and t.partition("#")[0]
    }


def html_heading_ids(html):
    return re.findall(r"<h[1-6][^>]*\bid=\"([^\"]+)\"", html)


def check(src, extra, html_dir=None, out=sys.stdout):
    """Check a book and extra files; returns the number of problems (each printed)."""
    src = Path(src)
    files = sorted(p for p in src.rglob("*.md")) + [Path(f) for f in extra]
    cache = {}

    def ids_of(path):
        if path not in cache:
            cache[path] = heading_ids(path)
        return cache[path]

    checked = broken = 0
    inside = src.resolve()
    for f in files:
        in_book = inside in f.resolve().parents
        for number, target, include in links(f):
            if not target or SCHEME.match(target):
                continue
            checked += 1
            why = check_link(f, target, ids_of)
            dest = (f.parent / target.partition("#")[0]).resolve()
            if not why and in_book and not include and inside not in [dest, *dest.parents]:
                why = "leaves the book: mdBook renders only its src folder (link the page that includes that file, or name the path as code)"
            if why:
                broken += 1
                print(f"BROKEN {f}:{number}: ({target}): {why}", file=out)
    listed = summary_pages(src)
    if listed is None:
        broken += 1
        print(f"BROKEN {src}/SUMMARY.md is missing", file=out)
    else:
        for page in sorted(p.relative_to(src).as_posix() for p in src.rglob("*.md")):
            if page != "SUMMARY.md" and page not in listed:
                broken += 1
                print(f"BROKEN {src / page}: not listed in SUMMARY.md (mdBook does not render it)", file=out)
    if html_dir is not None:
        for page in sorted(listed or ()):
            html = Path(html_dir) / Path(page).with_suffix(".html")
            if not html.exists():
                broken += 1
                print(f"BROKEN {html}: mdBook wrote no page for {page}", file=out)
                continue
            ours, theirs = ids_of((src / page).resolve()), html_heading_ids(html.read_text(encoding="utf-8"))
            if ours != theirs:
                broken += 1
                print(f"BROKEN {src / page}: heading ids computed here {ours} differ from mdBook's {theirs}", file=out)
    print(f"doc links: {checked} checked in {len(files)} files, {broken} broken", file=out)
    return broken


def self_test():
    """A good temporary book (with the HTML ids mdBook would write) passes; each kind of broken
    link, and HTML ids other than those computed here, fails. Returns the number of failures."""
    import io

    good = {
        "SUMMARY.md": "# Summary\n\n- [A](a.md)\n- [B](b.md)\n",
        "a.md": "# Page A\n\n## The SDK (`sdk-core`) and its packages\n\nSee [b](b.md#two-words), "
        "[here](#the-sdk-sdk-core-and-its-packages), [again](#page-a) and ![img](b.md).\n\n"
        "```sh\n[not a link](nowhere.md)\n```\n`[code](nowhere.md)`\n",
        "b.md": "# B\n\n## Two words\n\n## Two words\n\n[dup](#two-words-1) [web](https://example.com/x#y)\n",
    }
    cases = {
        "good book": ({}, 0),
        "missing file": ({"b.md": good["b.md"] + "[x](missing.md)\n"}, 1),
        "missing anchor in another page": ({"b.md": good["b.md"] + "[x](a.md#nope)\n"}, 1),
        "missing anchor in the same page": ({"b.md": good["b.md"] + "[x](#two-words-2)\n"}, 1),
        "page not in SUMMARY.md": ({"c.md": "# C\n"}, 1),
        "missing include": ({"b.md": good["b.md"] + "{{#include ../nothing.md:2:}}\n"}, 1),
        "link out of the book": ({"b.md": good["b.md"] + "[out](../outside.md)\n"}, 1),
        "ids in mdBook's HTML differ": ({"b.html": '<h1 id="b">B</h1><h2 id="two-words">x</h2><h2 id="two-words-2">x</h2>'}, 1),
    }
    html = {
        "a.html": '<h1 id="page-a">A</h1><h2 id="the-sdk-sdk-core-and-its-packages">S</h2>',
        "b.html": '<h1 id="b">B</h1><h2 id="two-words">x</h2><h2 id="two-words-1">x</h2>',
    }
    failures = 0
    for name, (changes, want) in cases.items():
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "src"
            src.mkdir()
            (Path(tmp) / "outside.md").write_text("# Outside\n", encoding="utf-8")
            (Path(tmp) / "html").mkdir()
            for file, text in {**good, **html, **changes}.items():
                (src / file if file.endswith(".md") else Path(tmp) / "html" / file).write_text(text, encoding="utf-8")
            log = io.StringIO()
            got = check(src, [], Path(tmp) / "html", out=log)
            ok = got == want
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} self-test, {name}: {got} broken (expected {want})")
            if not ok:
                print(log.getvalue())
    print(f"doc links self-test: {len(cases) - failures} passed, {failures} failed")
    return failures


def main(argv):
    if argv == ["--self-test"]:
        return 1 if self_test() else 0
    html = None
    if argv[:1] == ["--html"] and len(argv) >= 2:
        html, argv = argv[1], argv[2:]
    if not argv or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    return 1 if check(argv[0], argv[1:], html) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
