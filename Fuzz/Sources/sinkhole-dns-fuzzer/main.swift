// The libFuzzer entry: every input goes through `DNSFuzzInvariants.violations(for:)` (the
// parser, the responder over UDP and TCP, and the TCP frame decoder) and
// `TLSFuzzInvariants.violations(for:)` (the TLS hello reader), and the first violation traps,
// so libFuzzer keeps the input as a crash.
//
//   sinkhole-dns-fuzzer [libFuzzer flags] [corpus dirs or files]   fuzz, or replay files
//   sinkhole-dns-fuzzer --write-seeds DIR                          write DNSFuzzSeeds to DIR
import CLibFuzzer
import Foundation
import NIOCore

if CommandLine.arguments.count == 3, CommandLine.arguments[1] == "--write-seeds" {
    let directory = URL(fileURLWithPath: CommandLine.arguments[2], isDirectory: true)
    do {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for seed in DNSFuzzSeeds.all {
            try Data(seed.bytes).write(to: directory.appendingPathComponent(seed.name))
        }
    } catch {
        FileHandle.standardError.write(Data("cannot write the seeds: \(error)\n".utf8))
        exit(1)
    }
    print("wrote \(DNSFuzzSeeds.all.count) seeds to \(directory.path)")
    exit(0)
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
let status = LLVMFuzzerRunDriver(&argc, &argv) { data, size in
    // libFuzzer passes a null pointer with size 0 for the empty input.
    let input = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    if let violation = DNSFuzzInvariants.violations(for: input).first {
        fatalError("DNS invariant violated: \(violation)")
    }
    if let violation = TLSFuzzInvariants.violations(for: input).first {
        fatalError("TLS invariant violated: \(violation)")
    }
    return 0
}
exit(status)
