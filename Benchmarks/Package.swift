// swift-tools-version:6.2
// The sinkhole's throughput benchmarks, a package of their own (as SwiftNIO keeps its
// `Benchmarks/`), so the server's build and tests never compile or run them.
// `make bench` runs `swift run -c release --package-path Benchmarks sinkhole-bench`.
import PackageDescription

let package = Package(
    name: "sinkhole-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // Named, because a path dependency's identity is otherwise its folder's name
        // (`main`, a worktree's name, CI's clone), which the product references below can't know.
        .package(name: "sinkhole", path: ".."),
        // The anchor queue of the ring benchmark: Mutex<Deque<CheckIn>>.
        .package(url: "https://github.com/apple/swift-collections", exact: "1.6.0"),
        // Writer.init takes a Logger; the root package already resolves this version.
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        // The DNS path benchmark builds ByteBuffers, as the UDP workers do; the root's version.
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.3"),
        // The PostgreSQL writer benchmark's anchor sends its one-row INSERTs itself; the root's version.
        .package(url: "https://github.com/vapor/postgres-nio", exact: "1.33.2"),
    ],
    targets: [
        // The raw SQLite C API for the writer's anchor. The root package's CSQLite target is
        // not a product, so this package declares its own (same header, same library).
        .systemLibrary(name: "CSQLiteBench"),
        // Replaces malloc and friends in the benchmark binary to count allocations (see
        // MallocCounter.c for why forwarding to glibc's own allocator is safe). A few lines of
        // C rather than a package: it only has to count, and it stays off until asked.
        .target(name: "CMallocCounter"),
        .executableTarget(
            name: "sinkhole-bench",
            dependencies: [
                "CSQLiteBench",
                "CMallocCounter",
                .product(name: "SinkholeCore", package: "sinkhole"),
                .product(name: "SinkholeStore", package: "sinkhole"),
                .product(name: "SinkholeDNS", package: "sinkhole"),
                .product(name: "PostgresTestSupport", package: "sinkhole"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "SinkholeFeeds", package: "sinkhole"),
                // The capture path benchmark reads frames through the capture thread's code.
                .product(name: "SinkholeCapture", package: "sinkhole"),
                .product(name: "SinkholeHTTP", package: "sinkhole"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
