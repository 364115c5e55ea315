import Foundation
import NIOCore
import SinkholeDNS
import Testing

/// The fuzzer's kept inputs, replayed as ordinary tests (house style: fuzz crash inputs are
/// kept and replayed). Every file of `Fuzz/crashes/` and of the seed corpus `Fuzz/corpus/dns/`
/// goes through the same `DNSFuzzInvariants` the libFuzzer target checks, so a crash found
/// once stays fixed without anyone running the fuzzer.
@Suite("Fuzz inputs replayed: kept crashes and the seed corpus")
struct FuzzCrashReplayTests {
    /// `Fuzz/` at the top of the repository, found from this file's place in it.
    static let fuzzDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent() // SinkholeDNSTests
        .deletingLastPathComponent() // Tests
        .deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    /// The inputs in a folder of `Fuzz/`, by name; the folder's README is not an input.
    static func inputs(in folder: String) throws -> [(name: String, bytes: [UInt8])] {
        let directory = fuzzDirectory.appendingPathComponent(folder)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { !$0.hasPrefix(".") && $0 != "README.md" }
            .sorted()
        return try names.map { name in
            (name, Array(try Data(contentsOf: directory.appendingPathComponent(name))))
        }
    }

    static func replay(_ folder: String) throws -> Int {
        let inputs = try Self.inputs(in: folder)
        for input in inputs {
            for violation in DNSFuzzInvariants.violations(for: input.bytes) {
                Issue.record("\(folder)/\(input.name) (\(hex(input.bytes))): \(violation)")
            }
        }
        return inputs.count
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String(($0 >> 4) & 0xF, radix: 16) + String($0 & 0xF, radix: 16) }.joined()
    }

    @Test("every kept crash input gets an orderly reply and orderly framing")
    func keptCrashes() throws {
        // The folder is kept in git by its README, so a missing one means the path is wrong.
        #expect(FileManager.default.fileExists(atPath: Self.fuzzDirectory.appendingPathComponent("crashes/README.md").path))
        _ = try Self.replay("crashes")
    }

    @Test("every seed of the corpus satisfies the invariants")
    func seedCorpus() throws {
        // Not vacuous: the folder was found and holds the seeds.
        #expect(try Self.replay("corpus/dns") == DNSFuzzSeeds.all.count)
    }

    @Test("the committed seed corpus is what DNSFuzzSeeds writes (regenerate with make fuzz-seeds)")
    func seedsMatchTheirSource() throws {
        let committed = Dictionary(try Self.inputs(in: "corpus/dns").map { ($0.name, $0.bytes) }) { first, _ in first }
        #expect(Set(DNSFuzzSeeds.all.map(\.name)).count == DNSFuzzSeeds.all.count, "two seeds share a name")
        #expect(Set(committed.keys) == Set(DNSFuzzSeeds.all.map(\.name)), "files in corpus/dns that are not seeds, or the reverse")
        for seed in DNSFuzzSeeds.all where committed[seed.name] != nil {
            #expect(committed[seed.name] == seed.bytes, "corpus/dns/\(seed.name) differs from DNSFuzzSeeds")
        }
    }

    @Test("the seeds reach every verdict of the parser and the reply classes of the responder")
    func seedsCoverTheVerdicts() throws {
        var verdicts: Set<String> = []
        var rcodes: Set<UInt8> = []
        var truncated = false
        for seed in DNSFuzzSeeds.all {
            switch DNSQuery.parse(buffer(seed.bytes)) {
            case .noReply(let error): verdicts.insert("noReply.\(error)")
            case .malformed(_, let error): verdicts.insert("malformed.\(error)")
            case .malformedRecords(_, let error): verdicts.insert("malformedRecords.\(error)")
            case .query: verdicts.insert("query")
            }
            let outcome = DNSFuzzInvariants.respond(buffer(seed.bytes), DNSFuzzInvariants.responder, .udp)
            if outcome.sent {
                rcodes.insert(outcome.checkIn.dnsRcode)
                truncated = truncated || outcome.reply.getInteger(at: 2, as: UInt8.self).map { $0 & 0x02 != 0 } == true
            }
        }
        // Every parse error is reached by some seed, in some verdict.
        for error in DNSParseError.allCases {
            #expect(verdicts.contains { $0.hasSuffix(".\(error)") }, "no seed gives \(error)")
        }
        #expect(verdicts.contains("query"))
        #expect(rcodes == Set([DNSRcode.noError, .formErr, .notImp, .refused, .badVers].map(\.rawValue)))
        #expect(truncated, "no seed gets a truncated UDP reply")
    }
}
