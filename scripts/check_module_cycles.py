#!/usr/bin/env python3
"""No module imports from a module that imports it back.

For every crate of the workspace (each `*/src/lib.rs` or `src/main.rs` the root Cargo.toml's
members name, and the fuzz project), the `crate::…` and `super::…` paths of its non-test code
are read and turned into edges between modules at two levels:

  1. between the top-level modules of the crate (`src/a.rs` or `src/a/**` is module `a`);
  2. inside each top-level module, between its direct sub-modules (`src/a/b.rs`,
     `src/a/b/**` is `a::b`).

A path to an item the crate root re-exports (`crate::Verifier`, from `pub use
service::{Verifier, …}` in lib.rs) counts as an edge to the module it comes from. Comments,
`#[cfg(test)]` modules and test-only files (`tests.rs`, `*_tests.rs`, `test_support.rs`) are
left out: a test may reach anywhere. A strongly connected component of more than one module
is a cycle.

Known cycles, each named with whoever is removing it, are listed in
scripts/module_cycles_allowed.txt (one `crate: a b c` line per cycle, the modules sorted). The
check fails on a cycle not listed there, and on a listed cycle that no longer exists (so the
list only shrinks). `--self-test` runs the parser and the cycle finder on a made-up crate first.

  scripts/check_module_cycles.py             (run by scripts/test.sh)
  scripts/check_module_cycles.py --graph     also print every edge with one place it comes from
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = ROOT / "scripts" / "module_cycles_allowed.txt"

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
TEST_FILE = re.compile(r"(^tests\.rs$|_tests\.rs$|^test_support\.rs$)")


def crate_dirs(root: Path) -> list[tuple[str, Path]]:
    """(crate name, src dir) of the workspace members and the fuzz project."""
    text = (root / "Cargo.toml").read_text()
    m = re.search(r"members\s*=\s*\[(.*?)\]", text, re.S)
    members = re.findall(r'"([^"]+)"', m.group(1)) if m else []
    if (root / "fuzz" / "Cargo.toml").exists():
        members.append("fuzz")
    out = []
    for member in members:
        manifest = root / member / "Cargo.toml"
        if not manifest.exists():
            continue
        name = re.search(r'^name\s*=\s*"([^"]+)"', manifest.read_text(), re.M)
        src = root / member / "src"
        if src.is_dir() and ((src / "lib.rs").exists() or (src / "main.rs").exists()):
            out.append((name.group(1) if name else member, src))
    return out


def module_path(src: Path, file: Path) -> list[str]:
    """The module a file is, as a path below the crate root ([] for lib.rs/main.rs)."""
    rel = file.relative_to(src)
    parts = list(rel.parts)
    last = parts.pop()
    if last in ("mod.rs",):
        return parts
    stem = last[:-3]
    if not parts and stem in ("lib", "main"):
        return []
    return parts + [stem]


def strip_code(text: str) -> str:
    """The code without comments, string literals and `#[cfg(test)]` items."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    lines = []
    for line in text.splitlines():
        cut = line.find("//")
        lines.append(line if cut < 0 else line[:cut])
    text = "\n".join(lines)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    # Drop `#[cfg(test)] mod x { … }` (brace-matched) and `#[cfg(test)] mod x;`.
    out, i = [], 0
    pattern = re.compile(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+" + IDENT + r"\s*([;{])")
    while True:
        m = pattern.search(text, i)
        if not m:
            out.append(text[i:])
            break
        out.append(text[i : m.start()])
        if m.group(1) == ";":
            i = m.end()
            continue
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    return "".join(out)


def brace_group(text: str, start: int) -> str:
    """The text inside the brace group opening at text[start] == '{'."""
    depth, j = 0, start
    while j < len(text):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        j += 1
        if depth == 0:
            break
    return text[start + 1 : j - 1]


def top_items(group: str) -> list[str]:
    """The comma-separated items at the top level of a brace group."""
    items, depth, cur = [], 0, []
    for ch in group:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            items.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        items.append("".join(cur).strip())
    return items


def expand(prefix: list[str], rest: str) -> list[list[str]]:
    """Every path a `use`-style tail names: `a::b`, `a::{b, c::d}`, `{self, x}`."""
    rest = rest.strip()
    if rest.startswith("{"):
        out = []
        for item in top_items(brace_group(rest, 0)):
            out.extend(expand(prefix, item))
        return out
    m = re.match(r"(" + IDENT + r"|\*)\s*(::\s*)?", rest)
    if not m:
        return [prefix] if prefix else []
    name = m.group(1)
    if name == "self":
        return [prefix]
    if m.group(2):
        return expand(prefix + [name], rest[m.end() :])
    return [prefix + [name]]


def references(code: str, here: list[str]) -> list[tuple[list[str], int]]:
    """Absolute module paths (below the crate root) that `code` names, with their offset."""
    out = []
    for m in re.finditer(r"\b(crate|super)\s*::\s*", code):
        if m.group(1) == "crate":
            base = []
        else:
            base = here[:-1] if here else []
            # `super::super::…`
            j = m.end()
            while True:
                more = re.match(r"super\s*::\s*", code[j:])
                if not more:
                    break
                base = base[:-1]
                j += more.end()
            tail = code[j:]
            for path in expand(base, tail[: tail_end(tail)]):
                out.append((path, m.start()))
            continue
        tail = code[m.end() :]
        for path in expand(base, tail[: tail_end(tail)]):
            out.append((path, m.start()))
    return out


def tail_end(tail: str) -> int:
    """Where a path that starts `tail` ends (after its brace group, if it has one)."""
    m = re.match(r"(?:" + IDENT + r"\s*::\s*)*", tail)
    j = m.end()
    if j < len(tail) and tail[j] == "{":
        depth = 0
        while j < len(tail):
            depth += {"{": 1, "}": -1}.get(tail[j], 0)
            j += 1
            if depth == 0:
                return j
    m = re.match(r"(?:" + IDENT + r"\s*::\s*)*(?:" + IDENT + r"|\*)?", tail)
    return m.end()


def root_reexports(src: Path) -> dict[str, str]:
    """Names the crate root re-exports from one of its modules: name -> module."""
    out = {}
    for root_file in ("lib.rs", "main.rs"):
        f = src / root_file
        if not f.exists():
            continue
        code = strip_code(f.read_text())
        for m in re.finditer(r"\bpub(?:\([^)]*\))?\s+use\s+(" + IDENT + r")\s*::\s*", code):
            module = m.group(1)
            if module in ("crate", "self", "super"):
                continue
            tail = code[m.end() :]
            for path in expand([], tail[: tail_end(tail)]):
                if path:
                    out[path[-1]] = module
    return out


def graph(src: Path) -> tuple[set[str], dict[tuple[str, ...], dict[tuple[str, str], str]]]:
    """The modules of a crate and its edges per level: {parent path: {(a, b): where}}."""
    # src/bin/* are crates of their own (binaries); their `crate::` is not this crate's.
    files = sorted(
        p
        for p in src.rglob("*.rs")
        if not TEST_FILE.search(p.name) and p.relative_to(src).parts[0] != "bin"
    )
    modules = {module_path(src, f)[0] for f in files if module_path(src, f)}
    reexports = root_reexports(src)
    submodules: dict[str, set[str]] = {}
    for f in files:
        path = module_path(src, f)
        if len(path) >= 2:
            submodules.setdefault(path[0], set()).add(path[1])
    edges: dict[tuple[str, ...], dict[tuple[str, str], str]] = {}
    for f in files:
        here = module_path(src, f)
        if not here:
            continue
        text = f.read_text()
        code = strip_code(text)
        for target, offset in references(code, here):
            if not target:
                continue
            if target[0] not in modules:
                module = reexports.get(target[0])
                if module is None or module not in modules:
                    continue
                target = [module] + target
            line = code.count("\n", 0, offset) + 1
            where = f"{f.relative_to(src.parent.parent)}:{line}"
            if target[0] != here[0]:
                edges.setdefault((), {}).setdefault((here[0], target[0]), where)
            elif (
                len(here) >= 2
                and len(target) >= 2
                and target[1] != here[1]
                and target[1] in submodules.get(here[0], set())
            ):
                edges.setdefault((here[0],), {}).setdefault((here[1], target[1]), where)
    return modules, edges


def cycles(edges: dict[tuple[str, str], str]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each sorted."""
    nodes = sorted({a for a, _ in edges} | {b for _, b in edges})
    succ = {n: sorted(b for a, b in edges if a == n) for n in nodes}
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for n in nodes:
        if n not in index:
            visit(n)
    return sorted(out)


def find_all(root: Path, show_graph: bool = False) -> dict[str, tuple[list[str], list[str]]]:
    """Every cycle: 'crate: a b' -> (its modules, the edges between them with a place each)."""
    found = {}
    for crate, src in crate_dirs(root):
        _, levels = graph(src)
        for parent, edges in sorted(levels.items()):
            prefix = "::".join(parent)
            if show_graph:
                for (a, b), where in sorted(edges.items()):
                    qa = f"{prefix}::{a}" if prefix else a
                    qb = f"{prefix}::{b}" if prefix else b
                    print(f"{crate}: {qa} -> {qb}    ({where})")
            for comp in cycles(edges):
                names = [f"{prefix}::{c}" if prefix else c for c in comp]
                inner = [
                    f"{f'{prefix}::{a}' if prefix else a} -> {f'{prefix}::{b}' if prefix else b} ({w})"
                    for (a, b), w in sorted(edges.items())
                    if a in comp and b in comp
                ]
                found[f"{crate}: {' '.join(names)}"] = (names, inner)
    return found


def allowed() -> dict[str, str]:
    """The listed cycles: 'crate: a b' -> the comment after it."""
    out = {}
    if not ALLOWED.exists():
        return out
    for raw in ALLOWED.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, why = line.partition("#")
        crate, _, mods = key.partition(":")
        out[f"{crate.strip()}: {' '.join(sorted(mods.split()))}"] = why.strip()
    return out


def self_test() -> None:
    """The parser and the cycle finder on a made-up crate: a <-> b through a grouped use, a
    re-export and `super`, c -> a only, a test module of c importing c back ignored, and a
    sub-module cycle inside d."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "Cargo.toml").write_text('[workspace]\nmembers = ["k"]\n')
        (root / "k").mkdir()
        (root / "k" / "Cargo.toml").write_text('[package]\nname = "k"\n')
        src = root / "k" / "src"
        (src / "a").mkdir(parents=True)
        (src / "d").mkdir()
        (src / "lib.rs").write_text("mod a; mod b; mod c; mod d;\npub use b::{Thing, other};\n")
        (src / "a" / "mod.rs").write_text(
            "// use crate::c::X;  (a comment, not an edge)\nuse crate::{c as _, Thing};\nmod inner;\n"
        )
        (src / "a" / "inner.rs").write_text('const S: &str = "crate::c::x";\n')
        (src / "b.rs").write_text("use super::a::inner;\n")
        (src / "c.rs").write_text("use crate::a;\n#[cfg(test)]\nmod tests {\n    use crate::c;\n    use crate::{b, a};\n}\n")
        (src / "d" / "mod.rs").write_text("mod x; mod y;\n")
        (src / "d" / "x.rs").write_text("use super::y::Y;\n")
        (src / "d" / "y.rs").write_text("use crate::d::{x::X, y as _};\n")
        found = find_all(root)
        # `crate::{c as _, Thing}` in a: c is named (a -> c), and Thing is b's (a -> b).
        _, edges = graph(src)
        assert ("a", "c") in edges[()] and ("a", "b") in edges[()], edges
        assert ("c", "b") not in edges[()], "a #[cfg(test)] module made an edge"
        assert ("a", "c") in edges[()] and ("c", "a") in edges[()], edges
        # a <-> c is a cycle too (a names c in its grouped use): so the SCC is {a, b, c}.
        expected = {"k: a b c", "k: d::x d::y"}
        assert set(found) == expected, f"self-test: found {sorted(found)}, expected {sorted(expected)}"


def main() -> int:
    self_test()
    show = "--graph" in sys.argv[1:]
    found = find_all(ROOT, show_graph=show)
    listed = allowed()
    new = [k for k in found if k not in listed]
    gone = [k for k in listed if k not in found]
    for key in sorted(found):
        names, inner = found[key]
        state = f"known ({listed[key]})" if key in listed else "NEW"
        print(f"cycle [{state}] {key}")
        for e in inner:
            print(f"    {e}")
    if gone:
        for key in gone:
            print(f"check_module_cycles: {key} is listed in {ALLOWED.relative_to(ROOT)} but no longer a cycle: remove the line")
    if new:
        print(f"check_module_cycles: FAILED: {len(new)} import cycle(s) between modules (above); break them, or list them in {ALLOWED.relative_to(ROOT)} with who removes them", file=sys.stderr)
        return 1
    if gone:
        return 1
    crates = len(crate_dirs(ROOT))
    print(f"check_module_cycles: {crates} crates, no import cycle between modules beyond the {len(listed)} listed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
