// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "sinkhole",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sinkhole", targets: ["sinkhole"]),
        .library(name: "SinkholeCore", targets: ["SinkholeCore"]),
        .library(name: "SinkholeDNS", targets: ["SinkholeDNS"]),
        .library(name: "SinkholeHTTP", targets: ["SinkholeHTTP"]),
        .library(name: "SinkholeStore", targets: ["SinkholeStore"]),
        .library(name: "SinkholeCapture", targets: ["SinkholeCapture"]),
        .library(name: "SinkholeServer", targets: ["SinkholeServer"]),
        .library(name: "SinkholeFeeds", targets: ["SinkholeFeeds"]),
        // The tests' throwaway PostgreSQL cluster, also started by the writer benchmark
        // (Benchmarks/), which can only use products.
        .library(name: "PostgresTestSupport", targets: ["PostgresTestSupport"]),
    ],
    // Exact versions: Package.resolved is not committed (the local mirror's commit ids are not
    // upstream's), so the manifest is what makes two builds of this evidence tool the same.
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
        // TLS termination, and the self-signed certificates made at start for the seized names.
        .package(url: "https://github.com/apple/swift-nio-ssl", exact: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates", exact: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "4.5.2"),
        .package(url: "https://github.com/apple/swift-asn1", exact: "1.7.4"),
        // The PostgreSQL store (several sinkhole nodes, one store).
        .package(url: "https://github.com/vapor/postgres-nio", exact: "1.33.2"),
        // /metrics: the writer times its batches through swift-metrics; the server exposes
        // everything in the Prometheus text format from a registry of its own.
        .package(url: "https://github.com/apple/swift-metrics", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
    ],
    targets: [
        // The system SQLite through its C API: measured 473k rows/s against GRDB's 363k for
        // the writer's batched inserts on this machine, and no extra package to build.
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // libpcap for the capture engine: live capture and pcap/pcapng files, the same reader
        // tcpdump uses, so a file tcpdump reads is a file `sinkhole replay` reads.
        .systemLibrary(
            name: "CPcap",
            pkgConfig: "libpcap",
            providers: [.apt(["libpcap-dev"])]
        ),
        // recvmmsg/sendmmsg batches with packet info, original destinations and timestamps for
        // the UDP workers (DNS and the catch-all): the control-message macros do not import into Swift.
        .target(name: "CSinkholeSocket"),
        .target(name: "SinkholeCore"),
        .target(
            name: "SinkholeDNS",
            dependencies: [
                "SinkholeCore",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .target(
            name: "SinkholeHTTP",
            dependencies: [
                // SeizedZones (Host → family) and the listener's connection table.
                "SinkholeCore", "SinkholeDNS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ]
        ),
        .target(
            name: "SinkholeCapture",
            dependencies: [
                // The DNS codec and the HTTP request parser decode replayed payloads as the
                // live responders do; SeizedTargets labels them with the same families.
                "SinkholeCore", "SinkholeDNS", "SinkholeHTTP", "CPcap",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .target(
            name: "SinkholeStore",
            dependencies: [
                "SinkholeCore", "CSQLite",
                .product(name: "Logging", package: "swift-log"),
                // The several-node store: its own connection on its own event loop group,
                // bridged to the writer thread's synchronous `CheckInStore` calls.
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // What ISPs and CERTs receive: address → ASN → ISP, daily Shadowserver-compatible
        // exports, the per-ISP feed API.
        .target(
            name: "SinkholeFeeds",
            dependencies: [
                "SinkholeCore", "SinkholeStore",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                // The feed API: HTTP/1.1 over SwiftNIO, the responders' stack.
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .target(
            name: "SinkholeServer",
            dependencies: [
                "SinkholeCore", "SinkholeDNS", "SinkholeHTTP", "SinkholeStore", "SinkholeCapture", "SinkholeFeeds", "CSinkholeSocket",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        .executableTarget(
            name: "sinkhole",
            dependencies: [
                "SinkholeServer", "SinkholeStore", "SinkholeCapture", "SinkholeFeeds",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "SinkholeCoreTests", dependencies: ["SinkholeCore"]),
        .testTarget(name: "EventRingStressTests", dependencies: ["SinkholeCore"]),
        .testTarget(
            name: "SinkholeDNSTests",
            dependencies: ["SinkholeDNS", .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOEmbedded", package: "swift-nio")]
        ),
        .testTarget(
            name: "SinkholeHTTPTests",
            dependencies: ["SinkholeHTTP", "SinkholeDNS", .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOEmbedded", package: "swift-nio"),
                           // A real TLS client, and a reader for the certificates it is shown.
                           .product(name: "NIOSSL", package: "swift-nio-ssl"),
                           .product(name: "X509", package: "swift-certificates")]
        ),
        .testTarget(
            name: "SinkholeCaptureTests",
            dependencies: ["SinkholeCapture", "SinkholeDNS", "SinkholeHTTP", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(name: "SinkholeFeedsTests", dependencies: ["SinkholeFeeds", "SinkholeCore", "SinkholeStore"]),
        // The throwaway PostgreSQL cluster both store and binary tests run against.
        .target(name: "PostgresTestSupport", path: "Tests/PostgresTestSupport"),
        .testTarget(
            name: "SinkholeStoreTests",
            dependencies: ["SinkholeStore", "CSQLite", "PostgresTestSupport",
                           .product(name: "PostgresNIO", package: "postgres-nio"),
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "SinkholeServerTests",
            dependencies: [
                "SinkholeServer", "sinkhole", "CSQLite", "PostgresTestSupport",
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
