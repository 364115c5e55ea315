@testable import SinkholeServer
import ServiceLifecycle
import ServiceLifecycleTestKit
import SinkholeCore
import Synchronization
import Testing

@Suite("Reloading the seized names")
struct ReloadServiceTests {
    @Test("the next roll is one second past the next UTC midnight", arguments: [
        (Int64(0), Int64(86_401)),
        (Int64(86_399), Int64(2)),
        (Int64(1_774_310_400 + 3600), Int64(86_400 - 3600 + 1)),
    ])
    func nextMidnight(now: Int64, seconds: Int64) {
        #expect(ReloadService.untilNextUTCMidnight(after: UTCTime(seconds: now)) == .seconds(seconds))
    }

    @Test("per-day lists roll on schedule until graceful shutdown, then the service returns")
    func rollsUntilShutdown() async throws {
        let reloads = Atomic<Int>(0)
        let service = ReloadService(reload: { reloads.add(1, ordering: .relaxed); return "reloaded" }, rollsAtMidnight: true,
                                    untilNextRoll: { .milliseconds(5) })
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await service.run() }
                // Bounded wait for a few rolls (each 5 ms apart), then shut down.
                for _ in 0..<2000 where reloads.load(ordering: .relaxed) < 3 {
                    try await Task.sleep(for: .milliseconds(5))
                }
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
        #expect(reloads.load(ordering: .relaxed) >= 3)
    }

    @Test("without per-day lists nothing rolls")
    func noRollWithoutPerDayLists() async throws {
        let reloads = Atomic<Int>(0)
        let service = ReloadService(reload: { reloads.add(1, ordering: .relaxed); return "reloaded" }, rollsAtMidnight: false,
                                    untilNextRoll: { .milliseconds(1) })
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await service.run() }
                try await Task.sleep(for: .milliseconds(50))
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
        #expect(reloads.load(ordering: .relaxed) == 0)
    }
}
