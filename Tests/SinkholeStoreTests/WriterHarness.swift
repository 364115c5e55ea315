import Logging
import SinkholeCore
import SinkholeStore

/// A writer wired to real rings, a real SQLite file and a fake clock, driven by hand.
final class WriterHarness {
    let dir: TemporaryDirectory
    let rings: EventRings<CheckIn>
    let first: EventRing<CheckIn>
    let second: EventRing<CheckIn>
    let clock: FakeClock
    let sqlite: SQLiteStore
    let writer: Writer
    /// Accepted (not dropped) events pushed so far, by kind.
    private(set) var acceptedDNS = 0
    private(set) var acceptedSessions = 0
    private var sequence: Int64 = 0

    static let quiet = Logger(label: "sinkhole.store.tests", factory: { _ in SwiftLogNoOpLogHandler() })

    /// `dnsBatchSize` defaults to `batchSize`: the small batches most tests set are filled by
    /// whichever rows they push, DNS queries included.
    init(slotsPerRing: Int = 16, batchSize: Int = 8, dnsBatchSize: Int? = nil, flushInterval: Duration = .seconds(1),
         finalRetryLimit: Duration = .seconds(10), clock: FakeClock = FakeClock(),
         retention: Retention? = nil, retentionStepRows: Int = 5_000, spillBatches: Int = 1,
         wrap: (any CheckInStore) -> any CheckInStore = { $0 }) throws {
        dir = try TemporaryDirectory()
        rings = EventRings(slotsPerRing: slotsPerRing, filler: Events.blank)
        first = rings.register(name: "eventloop-0")
        second = rings.register(name: "capture-test")
        self.clock = clock
        sqlite = try SQLiteStore(path: dir.path())
        let store = wrap(RunBeginningStore(sqlite, startedAt: clock.time))
        var configuration = Writer.Configuration(node: "test-node", batchSize: batchSize, dnsBatchSize: dnsBatchSize ?? batchSize,
                                                 flushInterval: flushInterval,
                                                 sessionWindowSeconds: 120, finalRetryLimit: finalRetryLimit,
                                                 retention: retention)
        configuration.retentionStepRows = retentionStepRows
        configuration.spillBatches = spillBatches
        writer = Writer(configuration: configuration, rings: rings, store: store, logger: Self.quiet, clock: clock.read)
    }

    /// Pushes `count` events into `ring`: every third a DNS query, the rest check-ins spread
    /// over a few sessions. Returns how many the ring accepted.
    @discardableResult
    func push(_ count: Int, into ring: EventRing<CheckIn>) -> Int {
        var accepted = 0
        for _ in 0..<count {
            sequence += 1
            let time = Events.at(7200 + sequence)
            let isDNS = sequence % 3 == 0
            // Every event its own row (a new name, a new source port): batches are bounded in
            // rows, so these tests count rows and events alike.
            let event = isDNS
                ? Events.dns(at: time, qname: "C2-\(sequence).example", qtype: UInt16(sequence % 2 + 1))
                : Events.session(at: time, sourcePort: UInt16(truncatingIfNeeded: 40_000 + sequence))
            if ring.push(event) {
                accepted += 1
                if isDNS { acceptedDNS += 1 } else { acceptedSessions += 1 }
            }
        }
        return accepted
    }

    func probe() throws -> DatabaseProbe { try DatabaseProbe(dir) }
}
