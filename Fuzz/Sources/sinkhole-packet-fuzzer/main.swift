// The libFuzzer entry for the packet decoder: every input is decoded as a frame of every link
// type and checked by `PacketFuzzInvariants.violations(for:)`; the first violation traps, so
// libFuzzer keeps the input as a crash (a read past the frame is caught by AddressSanitizer).
//
//   sinkhole-packet-fuzzer [libFuzzer flags] [corpus dirs or files]   fuzz, or replay files
//   sinkhole-packet-fuzzer --write-seeds DIR                          write PacketFuzzSeeds to DIR
import CLibFuzzer
import Foundation

if CommandLine.arguments.count == 3, CommandLine.arguments[1] == "--write-seeds" {
    let directory = URL(fileURLWithPath: CommandLine.arguments[2], isDirectory: true)
    do {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for seed in PacketFuzzSeeds.all {
            try Data(seed.bytes).write(to: directory.appendingPathComponent(seed.name))
        }
    } catch {
        FileHandle.standardError.write(Data("cannot write the seeds: \(error)\n".utf8))
        exit(1)
    }
    print("wrote \(PacketFuzzSeeds.all.count) seeds to \(directory.path)")
    exit(0)
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
let status = LLVMFuzzerRunDriver(&argc, &argv) { data, size in
    // libFuzzer passes a null pointer with size 0 for the empty input.
    let input = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    if let violation = PacketFuzzInvariants.violations(for: input).first {
        fatalError("packet decoder invariant violated: \(violation)")
    }
    return 0
}
exit(status)
