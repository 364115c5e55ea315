import Foundation
import SinkholeCore
import Testing

@Suite("SinkholeThread: named threads, storing below producing")
struct SinkholeThreadTests {
    /// Runs `start` and returns what the new thread saw of itself.
    static func seenFromInside(name: String, priority: SinkholeThread.Priority) async -> (name: String, nice: Int32) {
        await withCheckedContinuation { continuation in
            SinkholeThread.start(name: name, priority: priority) {
                continuation.resume(returning: SinkholeThread.currentNameAndNice())
            }
        }
    }

    @Test("a producing thread keeps the process's priority; a storing one runs 10 nice levels below it (capped at 19); both carry their name, cut to the kernel's 15 bytes")
    func nameAndPriority() async {
        let base = SinkholeThread.currentNameAndNice().nice
        let producing = await Self.seenFromInside(name: "dns-udp-7", priority: .producing)
        #expect(producing.name == "dns-udp-7")
        #expect(producing.nice == base)
        let storing = await Self.seenFromInside(name: "sinkhole-writer-and-more", priority: .storing)
        #expect(storing.name == "sinkhole-writer")
        #expect(storing.nice == min(base + SinkholeThread.storingNice, 19))
        // The caller's own priority is untouched.
        #expect(SinkholeThread.currentNameAndNice().nice == base)
    }
}
