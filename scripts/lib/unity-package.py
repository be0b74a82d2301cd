#!/usr/bin/env python3
"""The Unity package's .meta files (bindings/unity), used by scripts/package-unity.sh and
scripts/test-unity.sh.

Unity ignores every asset without a .meta file in an immutable package (one installed from a
git URL or a tarball), so each file and folder Unity sees carries one, committed. Unity does not
see dotfiles nor folders ending in `~` (`Native~/`, the Rust crate). GUIDs are derived from the
package name and the path, so they are stable and re-running `write` changes nothing.

  unity-package.py write PACKAGE_DIR     add the missing .meta files (plugins get PluginImporter
                                         settings from their folder: Android/<abi>, iOS, Editor/<os>)
  unity-package.py check PACKAGE_DIR     fail when an asset lacks its .meta or a .meta its asset
"""
import hashlib
import os
import sys

PACKAGE = "dev.payseal.sdk"
ANDROID_CPU = {"arm64-v8a": "ARM64", "armeabi-v7a": "ARMv7", "x86_64": "X86_64"}
EDITOR_OS = {"Linux": "Linux", "macOS": "OSX", "Windows": "Windows"}
PLUGIN_EXT = (".so", ".a", ".dylib", ".dll", ".bundle")


def visible(name):
    return not name.startswith(".") and not name.endswith("~") and not name.endswith(".meta")


def assets(root):
    """Every file and folder Unity imports, as paths relative to root."""
    out = []
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if visible(x))
        rel = os.path.relpath(d, root)
        for x in dirs:
            out.append(os.path.normpath(os.path.join(rel, x)))
        for f in sorted(files):
            if visible(f):
                out.append(os.path.normpath(os.path.join(rel, f)))
    return out


def guid(rel):
    return hashlib.md5((PACKAGE + "/" + rel.replace(os.sep, "/")).encode()).hexdigest()


TAIL = "  userData: \n  assetBundleName: \n  assetBundleVariant: \n"


def plugin_meta(rel):
    parts = rel.split(os.sep)
    platforms = []  # (first, enabled, settings lines)
    if "Android" in parts:
        abi = parts[parts.index("Android") + 1]
        if abi not in ANDROID_CPU:
            raise SystemExit("unity-package: %s: not under Android/<arm64-v8a|armeabi-v7a|x86_64>/" % rel)
        platforms.append(("Android: Android", 1, ["CPU: " + ANDROID_CPU[abi]]))
        platforms.append(("Editor: Editor", 0, ["DefaultValueInitialized: true"]))
    elif "iOS" in parts:
        platforms.append(("iPhone: iOS", 1, ["AddToEmbeddedBinaries: false", "CPU: ARM64"]))
        platforms.append(("Editor: Editor", 0, ["DefaultValueInitialized: true"]))
    elif "Editor" in parts:
        os_name = parts[parts.index("Editor") + 1]
        if os_name not in EDITOR_OS:
            raise SystemExit("unity-package: %s: not under Editor/<Linux|macOS|Windows>/" % rel)
        platforms.append(("Editor: Editor", 1, ["CPU: x86_64", "DefaultValueInitialized: true", "OS: " + EDITOR_OS[os_name]]))
    else:
        raise SystemExit("unity-package: %s: a native library outside Plugins/Android, Plugins/iOS, Plugins/Editor" % rel)
    platforms.append(("Any: ", 0, []))
    lines = [
        "PluginImporter:",
        "  externalObjects: {}",
        "  serializedVersion: 2",
        "  iconMap: {}",
        "  executionOrder: {}",
        "  defineConstraints: []",
        "  isPreloaded: 0",
        "  isOverridable: 0",
        "  isExplicitlyReferenced: 0",
        "  validateReferences: 1",
        "  platformData:",
    ]
    for first, enabled, settings in platforms:
        lines += ["  - first:", "      " + first, "    second:", "      enabled: %d" % enabled]
        if settings:
            lines.append("      settings:")
            lines += ["        " + s for s in settings]
        else:
            lines.append("      settings: {}")
    return "\n".join(lines) + "\n" + TAIL


def meta(root, rel):
    head = "fileFormatVersion: 2\nguid: %s\n" % guid(rel)
    path = os.path.join(root, rel)
    if os.path.isdir(path):
        return head + "folderAsset: yes\nDefaultImporter:\n  externalObjects: {}\n" + TAIL
    if rel.endswith(".cs"):
        return head + (
            "MonoImporter:\n  externalObjects: {}\n  serializedVersion: 2\n  defaultReferences: []\n"
            "  executionOrder: 0\n  icon: {instanceID: 0}\n" + TAIL
        )
    if rel.endswith(".asmdef"):
        return head + "AssemblyDefinitionImporter:\n  externalObjects: {}\n" + TAIL
    if rel == "package.json":
        return head + "PackageManifestImporter:\n  externalObjects: {}\n" + TAIL
    if rel.endswith(PLUGIN_EXT):
        return head + plugin_meta(rel)
    if rel.endswith((".md", ".json", ".txt")):
        return head + "TextScriptImporter:\n  externalObjects: {}\n" + TAIL
    return head + "DefaultImporter:\n  externalObjects: {}\n" + TAIL


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("write", "check"):
        raise SystemExit(__doc__)
    cmd, root = sys.argv[1], sys.argv[2]
    found = assets(root)
    problems = []
    for rel in found:
        m = os.path.join(root, rel + ".meta")
        if not os.path.exists(m):
            if cmd == "write":
                with open(m, "w") as f:
                    f.write(meta(root, rel))
            else:
                problems.append("no .meta for %s" % rel)
    known = set(found)
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if visible(x)]
        for f in files:
            if f.endswith(".meta"):
                rel = os.path.normpath(os.path.join(os.path.relpath(d, root), f[: -len(".meta")]))
                if rel not in known:
                    problems.append("%s.meta has no asset" % rel)
    if problems:
        raise SystemExit("unity-package: %s:\n  %s" % (root, "\n  ".join(problems)))


if __name__ == "__main__":
    main()
