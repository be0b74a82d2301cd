// swift-tools-version:5.9
// An app as a PaySeal user writes it: its only PaySeal dependency is the release package
// (scripts/swift-release-package.sh) and it uses the product `PaySeal`, nothing else.
// scripts/test-swift-release.sh copies this folder next to a copy of the release package outside
// the repository (../PaySeal) and builds and runs it in the Swift chroot against a real
// `payseal-verifier dev`. An app on Apple platforms names the release repository instead:
//   .package(url: "https://<host>/<release repository>.git", from: "<tag>")
import PackageDescription

let package = Package(
    name: "PaySealConsumer",
    dependencies: [
        .package(path: "../PaySeal"),
    ],
    targets: [
        .executableTarget(
            name: "PaySealConsumer",
            dependencies: [.product(name: "PaySeal", package: "PaySeal")]
        ),
    ]
)
