import Foundation
import SinkholeCore
import Testing

@Suite("SinkholeThread: named threads, storing below producing")
struct SinkholeThreadTests {
    /// The calling thread's kernel name and nice value.
    static func currentNameAndNice() -> (name: String, nice: Int32) {
        let comm = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
        return (comm.trimmingCharacters(in: .newlines), getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0))
    }

    /// Runs `start` and returns what the new thread saw of itself.
    static func seenFromInside(name: String, priority: SinkholeThread.Priority) async -> (name: String, nice: Int32) {
        await withCheckedContinuation { continuation in
            SinkholeThread.start(name: name, priority: priority) {
                continuation.resume(returning: Self.currentNameAndNice())
            }
        }
    }

    @Test("a producing thread keeps the process's priority; a storing one runs 10 nice levels below it (capped at 19); both carry their name, cut to the kernel's 15 bytes")
    func nameAndPriority() async {
        let base = Self.currentNameAndNice().nice
        let producing = await Self.seenFromInside(name: "dns-udp-7", priority: .producing)
        #expect(producing.name == "dns-udp-7")
        #expect(producing.nice == base)
        let storing = await Self.seenFromInside(name: "sinkhole-writer-and-more", priority: .storing)
        #expect(storing.name == "sinkhole-writer")
        #expect(storing.nice == min(base + SinkholeThread.storingNiceIncrement, 19))
        // The caller's own priority is untouched.
        #expect(Self.currentNameAndNice().nice == base)
    }

    @Test("the storing priority is relative: started from a thread 3 nice levels down, a storing thread runs 13 down (at most 19)")
    func relativeToCreator() async {
        let base = Self.currentNameAndNice().nice
        let seen: (name: String, nice: Int32) = await withCheckedContinuation { continuation in
            SinkholeThread.start(name: "lowered") {
                // What a unit's Nice=3 would do to every thread; a thread may lower itself.
                _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, min(base + 3, 19))
                SinkholeThread.start(name: "storing-below", priority: .storing) {
                    continuation.resume(returning: Self.currentNameAndNice())
                }
            }
        }
        #expect(seen.name == "storing-below")
        #expect(seen.nice == min(base + 3 + SinkholeThread.storingNiceIncrement, 19))
    }
}
