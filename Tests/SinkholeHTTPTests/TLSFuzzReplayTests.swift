import Foundation
import Testing

/// The fuzzer's kept inputs replayed through `TLSFuzzInvariants`, as `FuzzCrashReplayTests`
/// replays them through the DNS ones: the libFuzzer target checks both on every input.
@Suite("Fuzz inputs replayed through the TLS hello invariants")
struct TLSFuzzReplayTests {
    /// `Fuzz/` at the top of the repository, found from this file's place in it.
    static let fuzzDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    static func replay(_ folder: String) throws -> Int {
        let directory = fuzzDirectory.appendingPathComponent(folder)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { !$0.hasPrefix(".") && $0 != "README.md" }
        for name in names {
            let bytes = Array(try Data(contentsOf: directory.appendingPathComponent(name)))
            for violation in TLSFuzzInvariants.violations(for: bytes) {
                Issue.record("\(folder)/\(name): \(violation)")
            }
        }
        return names.count
    }

    @Test("kept crashes and the seed corpus hold the TLS invariants")
    func keptInputs() throws {
        _ = try Self.replay("crashes")
        #expect(try Self.replay("corpus/dns") > 0)
    }

    @Test("a real hello, every prefix of it and of its body hold the TLS invariants")
    func hellos() {
        let hello = TLSHelloFixtures.openSSLClientHello
        for length in 0...hello.count {
            #expect(TLSFuzzInvariants.violations(for: Array(hello.prefix(length))).isEmpty, "prefix \(length)")
            #expect(TLSFuzzInvariants.violations(for: Array(hello.dropFirst(9).prefix(length))).isEmpty, "body prefix \(length)")
        }
    }
}
