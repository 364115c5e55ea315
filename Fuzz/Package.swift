// swift-tools-version:6.2
// The libFuzzer target over the DNS parser, responder and TCP framing (`make fuzz`,
// `make fuzz-smoke`). A package of its own, like Tests/TSan: its SinkholeCore and SinkholeDNS
// are symlinks to the real sources, so that coverage and AddressSanitizer instrument exactly
// those two modules (per-target flags; `-Xswiftc` would instrument SwiftNIO too and, passed to
// the link as well, pull in libFuzzer's own `main` next to the program's, which is why
// `swift build -Xswiftc -sanitize=fuzzer` does not link). The harness keeps its own `main` and
// calls `LLVMFuzzerRunDriver`, which the `-sanitize=fuzzer` link brings in.
//
// The invariants, the fixtures and the seed list are files of Tests/SinkholeDNSTests, linked
// into the harness, so the fuzzer and `FuzzCrashReplayTests` check the same things.
//
// Build: swift build -c release --package-path Fuzz   (Linux; unsafe flags are fine in a root
// package, and this one is only ever built as one).
import PackageDescription

/// Coverage counters and comparison tracing for libFuzzer, and AddressSanitizer.
let instrumented: [SwiftSetting] = [.unsafeFlags(["-sanitize=fuzzer,address"])]

let package = Package(
    name: "sinkhole-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        // The root package's version, exactly (Package.resolved is not committed).
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.3"),
    ],
    targets: [
        .target(name: "SinkholeCore", swiftSettings: instrumented),
        .target(
            name: "SinkholeDNS",
            dependencies: ["SinkholeCore", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: instrumented
        ),
        .systemLibrary(name: "CLibFuzzer"),
        .executableTarget(
            name: "sinkhole-dns-fuzzer",
            dependencies: [
                "CLibFuzzer", "SinkholeCore", "SinkholeDNS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            // The harness and its checks are not coverage-instrumented: their branches (which
            // chunk sizes a stream was cut into, say) would only add noise to the corpus.
            swiftSettings: [.unsafeFlags(["-sanitize=address"])],
            linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address", "-use-ld=lld"])]
        ),
    ],
    swiftLanguageModes: [.v6]
)
