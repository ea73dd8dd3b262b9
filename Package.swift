// swift-tools-version: 6.0
// Takt: exact productivity metrics from factory camera events.
// Dependencies point one way: domain at the bottom, executables at the top (see docs/ARCHITECTURE.md).
import PackageDescription

let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "takt",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "taktd", targets: ["taktd"]),
        .executable(name: "takt", targets: ["takt"]),
        .executable(name: "takt-load", targets: ["takt-load"]),
        .executable(name: "takt-gateway", targets: ["takt-gateway"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        // C libraries from Debian (pkg-config), one copy each linked into the process.
        .systemLibrary(name: "CProtobufC", path: "Sources/CProtobufC", pkgConfig: "libprotobuf-c",
                       providers: [.apt(["libprotobuf-c-dev"])]),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        // protoc-c output for proto/takt/v1 (committed; scripts/gen-proto.sh regenerates it).
        .target(name: "TaktProtoC", dependencies: ["CProtobufC"], path: "Sources/TaktProtoC"),

        // Pure Swift: events, validation, metric types, statuses.
        .target(name: "TaktDomain", swiftSettings: strict),
        // Locks ThreadSanitizer can see (pthread mutexes), for every module that shares state across threads.
        .target(name: "TaktSync", swiftSettings: strict),
        // The only Swift code that touches protobuf-c: C messages <-> domain types.
        .target(name: "TaktProto", dependencies: ["TaktDomain", "TaktProtoC", "CProtobufC"], swiftSettings: strict),
        // Frame layout of PROTOCOL.md: pure byte codec, no sockets.
        .target(name: "TaktWire", dependencies: ["TaktDomain"], swiftSettings: strict),
        // Sockets, system calls and the Dispatch-source channel that moves frames (the one place doing socket I/O).
        .target(name: "TaktPosix", dependencies: ["TaktWire"], swiftSettings: strict),
        // SQLite store: schema, migrations, group-commit writer, readers.
        .target(name: "TaktStore", dependencies: ["TaktDomain", "TaktSync", "CSQLite", .product(name: "Logging", package: "swift-log")],
                swiftSettings: strict),
        // Metric engine (spec sections 2–7) over an in-memory index of stored events.
        .target(name: "TaktMetrics", dependencies: ["TaktDomain", "TaktSync"], swiftSettings: strict),
        // Deterministic realistic event streams (demo data, load generation).
        .target(name: "TaktSimulation", dependencies: ["TaktDomain"], swiftSettings: strict),
        // RPC server on Dispatch sources, and the Takt service behind it.
        .target(name: "TaktServer",
                dependencies: ["TaktDomain", "TaktSync", "TaktProto", "TaktWire", "TaktPosix", "TaktStore", "TaktMetrics",
                               .product(name: "Logging", package: "swift-log")],
                swiftSettings: strict),
        // Client library used by takt, takt-load and the tests.
        .target(name: "TaktClient", dependencies: ["TaktDomain", "TaktSync", "TaktProto", "TaktWire", "TaktPosix"],
                swiftSettings: strict),

        .executableTarget(name: "taktd",
                          dependencies: ["TaktServer", "TaktDomain", "TaktSync", "TaktSimulation", "TaktPosix", "TaktStore",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser"),
                                         .product(name: "Logging", package: "swift-log")],
                          swiftSettings: strict),
        .executableTarget(name: "takt",
                          dependencies: ["TaktClient", "TaktDomain", "TaktSimulation", "TaktPosix",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: strict),
        .executableTarget(name: "takt-load",
                          dependencies: ["TaktClient", "TaktDomain", "TaktSync", "TaktSimulation", "TaktPosix", "TaktProto", "TaktStore",
                                         "TaktMetrics",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser"),
                                         .product(name: "Histogram", package: "hdrhistogram-swift"),
                                         .product(name: "Logging", package: "swift-log")],
                          swiftSettings: strict),
        .executableTarget(name: "takt-gateway",
                          dependencies: ["TaktClient", "TaktDomain", "TaktSync", "TaktProto", "TaktStore", "TaktPosix",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser"),
                                         .product(name: "Logging", package: "swift-log")],
                          swiftSettings: strict),

        .testTarget(name: "TaktDomainTests", dependencies: ["TaktDomain"]),
        .testTarget(name: "TaktSimulationTests", dependencies: ["TaktSimulation", "TaktDomain"]),
        .testTarget(name: "TaktProtoTests", dependencies: ["TaktProto", "TaktDomain"]),
        .testTarget(name: "TaktWireTests", dependencies: ["TaktWire", "TaktDomain"]),
        .testTarget(name: "TaktStoreTests", dependencies: ["TaktStore", "TaktDomain", "TaktSync"]),
        .testTarget(name: "TaktMetricsTests", dependencies: ["TaktMetrics", "TaktDomain", "TaktSync"]),
        .testTarget(name: "EndToEndTests",
                    dependencies: ["TaktClient", "TaktServer", "TaktDomain", "TaktMetrics", "TaktSimulation", "TaktPosix",
                                   "TaktWire", "TaktProto"]),
    ]
)
