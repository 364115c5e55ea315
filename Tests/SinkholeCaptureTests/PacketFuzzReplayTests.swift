import Foundation
import SinkholeCapture
import Testing

/// The packet fuzzer's kept inputs and seeds, replayed as ordinary tests through the same
/// `PacketFuzzInvariants` the libFuzzer target checks.
@Suite("Packet fuzz inputs replayed: kept crashes and the seed corpus")
struct PacketFuzzReplayTests {
    static let fuzzDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    static func inputs(in folder: String) throws -> [(name: String, bytes: [UInt8])] {
        let directory = fuzzDirectory.appendingPathComponent(folder)
        return try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { !$0.hasPrefix(".") && $0 != "README.md" }
            .sorted()
            .map { ($0, Array(try Data(contentsOf: directory.appendingPathComponent($0)))) }
    }

    static func replay(_ folder: String) throws -> Int {
        let inputs = try Self.inputs(in: folder)
        for input in inputs {
            for violation in PacketFuzzInvariants.violations(for: input.bytes) {
                Issue.record("\(folder)/\(input.name): \(violation)")
            }
        }
        return inputs.count
    }

    @Test("every kept crash input satisfies the invariants")
    func keptCrashes() throws {
        #expect(FileManager.default.fileExists(atPath: Self.fuzzDirectory.appendingPathComponent("crashes-packet/README.md").path))
        _ = try Self.replay("crashes-packet")
    }

    @Test("the committed seed corpus is what PacketFuzzSeeds writes (make fuzz-packet-seeds), and satisfies the invariants")
    func seeds() throws {
        #expect(try Self.replay("corpus/packet") == PacketFuzzSeeds.all.count)
        let committed = Dictionary(try Self.inputs(in: "corpus/packet").map { ($0.name, $0.bytes) }) { first, _ in first }
        for seed in PacketFuzzSeeds.all {
            #expect(committed[seed.name] == seed.bytes, "corpus/packet/\(seed.name) differs from PacketFuzzSeeds")
        }
    }

    @Test("every seed decodes as a packet under its own link type")
    func seedsDecode() {
        for seed in PacketFuzzSeeds.all {
            let link: LinkType = switch seed.name.split(separator: "-")[0] {
            case "en10mb": .ethernet
            case "sll": .linuxSLL
            case "sll2": .linuxSLL2
            case "null", "loop": .loopback
            default: .raw
            }
            let result = seed.bytes.withUnsafeBytes { PacketDecoder.decode(PacketBytes($0), link: link) }
            if seed.name.contains("later-fragment") {
                #expect(result == .undecodable(.laterFragment), "\(seed.name)")
            } else if case .undecodable(let reason) = result {
                Issue.record("\(seed.name): \(reason)")
            }
        }
    }
}
