// swift-tools-version:6.0
// SwiftVerse: a virtual-actor runtime with its own gRPC stack on nghttp2, protobuf-c, zlib and
// OpenSSL. Layers: CModules -> VerseCodec -> VerseProtobuf / VerseGRPC ->
// runtime -> applications (docs/DESIGN.md). Tests and benchmarks build in this one package.
import PackageDescription

/// Per-message code paths (measured with callgrind):
/// - dynamic exclusivity checks cost about 5% of a unary call; the code is
///   single-threaded per connection by design (debug builds keep the checks);
/// - nonisolated async functions run on their caller's executor (SE-0461) instead of
///   checking for a switch to the generic executor on every call: handlers already run
///   on their connection's event loop, and nothing here blocks.
let hotPathSettings: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
    .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
]

/// The executables replace glibc malloc with mimalloc (a library should not choose its
/// users' allocator). Each call allocates a few dozen small objects that are freed in
/// batches (a read's worth of calls at once), which overflows glibc's per-thread cache
/// into its slow path: mimalloc cuts malloc+free from about 5,000 to 1,500 instructions
/// per unary call (callgrind).
let executableLinking: [LinkerSetting] = [.linkedLibrary("mimalloc")]

let package = Package(
    name: "SwiftVerse",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "interop-server", targets: ["InteropServer"]),
        .executable(name: "interop-client", targets: ["InteropClient"]),
        .executable(name: "grpc-bench", targets: ["GRPCBench"]),
        .executable(name: "gate", targets: ["VerseGate"]),
        .executable(name: "verse-testnode", targets: ["VerseTestNode"]),
        .executable(name: "chat-server", targets: ["ChatServer"]),
        .executable(name: "chat", targets: ["ChatClient"]),
        .executable(name: "chat-bench", targets: ["ChatBench"]),
        .executable(name: "verse-fuzz", targets: ["VerseFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // C libraries, wrapped as system-library targets (Debian -dev packages).
        .systemLibrary(name: "CNghttp2", path: "CModules/CNghttp2", pkgConfig: "libnghttp2",
                       providers: [.apt(["libnghttp2-dev"])]),
        .systemLibrary(name: "CProtobufC", path: "CModules/CProtobufC", pkgConfig: "libprotobuf-c",
                       providers: [.apt(["libprotobuf-c-dev"])]),
        .systemLibrary(name: "COpenSSL", path: "CModules/COpenSSL", pkgConfig: "openssl",
                       providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CZlib", path: "CModules/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CMimalloc", path: "CModules/CMimalloc", providers: [.apt(["libmimalloc-dev"])]),
        .systemLibrary(name: "CSQLite", path: "CModules/CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        // protoc-c output for proto/ (committed; `make proto` regenerates it).
        .target(name: "CSwiftVerseProto", dependencies: ["CProtobufC"], path: "CModules/CSwiftVerseProto"),

        // The codec seam: what the transport needs of a message (VerseGRPC knows only this).
        .target(name: "VerseCodec", swiftSettings: hotPathSettings),
        // Swift message API over protobuf-c; its messages implement VerseCodec.
        .target(name: "VerseProtobuf", dependencies: ["CProtobufC", "CSwiftVerseProto", "VerseCodec"], swiftSettings: hotPathSettings),
        // HTTP/2 (nghttp2) + TLS (OpenSSL) + gRPC calls, server and client; no protobuf.
        .target(name: "VerseGRPC", dependencies: [
            "CNghttp2", "COpenSSL", "CZlib", "VerseCodec",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
        ], swiftSettings: hotPathSettings),
        // etcd v3 client (KV, Lease, Watch) on VerseGRPC.
        .target(name: "VerseEtcd", dependencies: [
            "VerseGRPC", "VerseProtobuf",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        // Objects, shards, membership, routing, push; node and gate roles.
        .target(name: "VerseRuntime", dependencies: [
            "VerseGRPC", "VerseProtobuf", "VerseEtcd",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
        ],
        // The cluster page every gate serves at /cluster: plain HTML and JavaScript.
        resources: [.copy("Gate/HTTP/ClusterPage")]),
        // The object store in one SQLite file (one machine; the embedded mode's default).
        .target(name: "VerseSQLite", dependencies: [
            "CSQLite", "VerseRuntime",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        // The object store on PostgreSQL (clusters), through postgres-nio.
        .target(name: "VersePostgres", dependencies: [
            "VerseRuntime", "VerseGRPC",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        // Object types for the runtime's tests and verse-testnode.
        .target(name: "VerseTestObjects", dependencies: ["VerseRuntime", "VerseGRPC", "VerseProtobuf"]),
        // The chat application: ChatRoomMgr and ChatRoom objects.
        .target(name: "ChatService", dependencies: ["VerseRuntime", "VerseGRPC", "VerseProtobuf",
                                                    .product(name: "NIOConcurrencyHelpers", package: "swift-nio")],
                // The web chat client the gate serves: plain HTML, CSS and JavaScript modules.
                resources: [.copy("Web")]),
        .executableTarget(name: "ChatServer", dependencies: [
            "ChatService", "VerseServer", "VerseRuntime", "VerseCLI",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], linkerSettings: executableLinking),
        .executableTarget(name: "ChatClient", dependencies: [
            "VerseGRPC", "VerseProtobuf", "VerseCLI", "VerseGateClient", "TerminalInput",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], linkerSettings: executableLinking),
        // The chat CLI's line model and key decoding, apart from the terminal so they test alone.
        .target(name: "TerminalInput"),
        // A client of gate.GateService: registration, calls, pushes.
        .target(name: "VerseGateClient", dependencies: ["VerseGRPC", "VerseProtobuf"]),
        // The load generator for the chat service (speaks only the client protocol).
        .executableTarget(name: "ChatBench", dependencies: [
            "VerseGRPC", "VerseProtobuf", "VerseCLI", "VerseGateClient",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Histogram", package: "hdrhistogram-swift"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ], linkerSettings: executableLinking),
        // What every executable shares: logging setup, signals, a valgrind-friendly main.
        .target(name: "VerseCLI", dependencies: [
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        // Flags and startup shared by node, gate and embedded executables.
        .target(name: "VerseServer", dependencies: [
            "VerseRuntime", "VerseCLI", "VerseGRPC", "VerseSQLite", "VersePostgres", "CMimalloc",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "VerseGate", dependencies: [
            "VerseServer", "VerseRuntime", "VerseCLI",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], linkerSettings: executableLinking),
        .executableTarget(name: "VerseTestNode", dependencies: [
            "VerseServer", "VerseRuntime", "VerseCLI", "VerseTestObjects",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], linkerSettings: executableLinking),
        // grpc.testing.TestService: server implementation and the standard client cases.
        .target(name: "GRPCInterop", dependencies: ["VerseGRPC", "VerseProtobuf"]),

        .executableTarget(name: "InteropServer", dependencies: [
            "GRPCInterop", "VerseGRPC", "VerseCLI",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], linkerSettings: executableLinking),
        .executableTarget(name: "InteropClient", dependencies: [
            "GRPCInterop", "VerseGRPC", "VerseCLI",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], linkerSettings: executableLinking),
        .executableTarget(name: "GRPCBench", dependencies: [
            "GRPCInterop", "VerseGRPC", "VerseProtobuf", "VerseCLI",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], linkerSettings: executableLinking),

        // The fuzz targets (make fuzz), replayed by the tests.
        .target(name: "VerseFuzzTargets", dependencies: [
            "VerseGRPC", "VerseProtobuf",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
        ]),
        // No mimalloc here: the fuzz build runs under AddressSanitizer, which owns malloc.
        .executableTarget(name: "VerseFuzz", dependencies: [
            "VerseFuzzTargets",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "SwiftVerseTests", dependencies: [
            "VerseProtobuf", "VerseGRPC", "GRPCInterop", "VerseEtcd", "VerseRuntime", "VerseTestObjects", "ChatService", "VerseGateClient", "TerminalInput", "VerseCLI",
            "CNghttp2", "VerseFuzzTargets", "VerseSQLite", "VersePostgres",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
