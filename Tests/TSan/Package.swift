// swift-tools-version:6.2
// The EventRing stress test alone, built in release under ThreadSanitizer by `make test`.
// A separate package (its sources are symlinks to the real ones) so that the release + TSan
// build compiles SinkholeCore and one test file, not SwiftNIO and the whole server.
import PackageDescription

let package = Package(
    name: "sinkhole-tsan",
    targets: [
        .target(name: "SinkholeCore"),
        .testTarget(name: "EventRingStressTests", dependencies: ["SinkholeCore"]),
    ],
    swiftLanguageModes: [.v6]
)
