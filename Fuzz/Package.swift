// swift-tools-version:6.2
// The libFuzzer targets over the DNS parser, responder and TCP framing and the TLS hello reader
// (`make fuzz`, `make fuzz-smoke`), and over the packet decoder (`make fuzz-packet`). A package of its own, like Tests/TSan: its SinkholeCore and SinkholeDNS
// are symlinks to the real sources, so per-target flags instrument exactly those two modules
// with coverage and AddressSanitizer (`-Xswiftc` flags would reach every module, SwiftNIO
// included, and every link step). The harness keeps its own `main` and calls
// `LLVMFuzzerRunDriver`, which the `-sanitize=fuzzer` link brings in.
//
// The invariants, the fixtures and the seed list are files of Tests/SinkholeDNSTests, linked
// into the harness, so the fuzzer and `FuzzCrashReplayTests` check the same things. Likewise
// TLSFuzzInvariants (Tests/SinkholeHTTPTests, replayed by `TLSFuzzReplayTests`); its
// SinkholeHTTP here is only the hello reader's two files, symlinked: the real module needs
// swift-nio-ssl, whose BoringSSL has no business under the fuzzer's instrumentation.
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
        .target(name: "SinkholeHTTP", dependencies: ["SinkholeCore"], swiftSettings: instrumented),
        // The packet decoder alone (its two files, linked from Sources/SinkholeCapture): the
        // rest of the capture module needs libpcap, which the decoder never touches.
        .target(name: "SinkholeCapture", dependencies: ["SinkholeCore"], swiftSettings: instrumented),
        .systemLibrary(name: "CLibFuzzer"),
        .executableTarget(
            name: "sinkhole-dns-fuzzer",
            dependencies: [
                "CLibFuzzer", "SinkholeCore", "SinkholeDNS", "SinkholeHTTP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            // The harness and its checks are not coverage-instrumented: their branches (which
            // chunk sizes a stream was cut into, say) would only add noise to the corpus.
            swiftSettings: [.unsafeFlags(["-sanitize=address"])],
            // -sanitize=fuzzer links libFuzzer, whose own main stays out because this program
            // defines one. lld: gold stops on this link with an internal error in
            // format_file_lineno (Swift 6.3.1, Debian 12).
            linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address", "-use-ld=lld"])]
        ),
        .executableTarget(
            name: "sinkhole-packet-fuzzer",
            dependencies: ["CLibFuzzer", "SinkholeCore", "SinkholeCapture"],
            swiftSettings: [.unsafeFlags(["-sanitize=address"])],
            linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address", "-use-ld=lld"])]
        ),
    ],
    swiftLanguageModes: [.v6]
)
