// swift-tools-version:5.9
// PaySeal Swift package. The generated files are NOT committed; scripts/test-swift.sh
// stages this package with them (see README.md):
//   Sources/PaySeal/PaySeal.swift                  <- uniffi-bindgen generate -l swift
//   Sources/PaySealFFI/include/PaySealFFI.h        <- same run
//   Sources/PaySealFFI/include/module.modulemap    <- same run (PaySealFFI.modulemap, renamed)
// Linux/host linking of the Rust cdylib is driven by environment variables:
//   PAYSEAL_LIB_DIR   folder holding lib<name>.so (adds -L and an rpath)
//   PAYSEAL_LIB_NAME  library name without lib/.so (default payseal_sdk_core)
import PackageDescription

let libDir = Context.environment["PAYSEAL_LIB_DIR"]
let libName = Context.environment["PAYSEAL_LIB_NAME"] ?? "payseal_sdk_core"

var ffiLinker: [LinkerSetting] = [.linkedLibrary(libName)]
if let dir = libDir, !dir.isEmpty {
    ffiLinker.append(.unsafeFlags(["-L", dir, "-Xlinker", "-rpath", "-Xlinker", dir]))
}

let package = Package(
    name: "PaySeal",
    platforms: [.iOS(.v13), .macOS(.v10_15)],
    products: [
        .library(name: "PaySeal", targets: ["PaySeal"]),
    ],
    targets: [
        // C declarations of the Rust FFI (header + modulemap from uniffi-bindgen).
        .target(
            name: "PaySealFFI",
            path: "Sources/PaySealFFI",
            linkerSettings: ffiLinker
        ),
        // Generated Swift API, plus any hand-written Swift next to it.
        .target(
            name: "PaySeal",
            dependencies: ["PaySealFFI"],
            path: "Sources/PaySeal"
        ),
        .testTarget(
            name: "PaySealTests",
            dependencies: ["PaySeal"],
            path: "Tests/PaySealTests"
        ),
    ]
)
