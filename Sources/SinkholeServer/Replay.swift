import Foundation
import Logging
import SinkholeCapture
import SinkholeCore
import SinkholeDNS
import SinkholeHTTP
import SinkholeStore

/// `sinkhole replay`: capture files read into the configured store through the same ring,
/// writer and deduplicator as a live run, with the capture timestamps as event times, so a
/// capture taken on a seized C&C server before the takedown yields the rows the sinkhole
/// would have logged.
public struct Replay: Sendable {
    public let configuration: SinkholeConfiguration
    let logger: Logger

    public init(configuration: SinkholeConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// What a replay came to: each file's summary and the writer's outcome.
    public struct Outcome: Sendable {
        public var files: [CaptureFile.Summary]
        public var writer: Writer.Outcome

        /// Every file was read to its end.
        public var everyFileRead: Bool { files.allSatisfy { $0.failure == nil } }

        public var total: CaptureCounts {
            files.reduce(into: CaptureCounts()) { $0 += $1.counts }
        }
    }

    /// Reads `paths` one after another; `progress` is called during each file and `finished`
    /// after it (on the reading thread). A file that cannot be read to its end is reported in
    /// its summary and the next one is read: what it held up to the damage is stored.
    public func run(paths: [String], progress: @escaping @Sendable (CaptureFile.Summary) -> Void,
                    finished: @escaping @Sendable (CaptureFile.Summary) -> Void) async throws -> Outcome {
        let zones = try Sinkhole.loadZones(configuration, logger: logger)
        let store = try Sinkhole.openStore(path: configuration.store.sqlite, logger: logger)
        // One producer: the replay's own ring takes the whole ring budget.
        let registry = EventRings<CheckIn>(memoryBytes: configuration.ring.memoryMB << 20, producers: 1, filler: CheckIn.empty)
        let ring = registry.register(name: "replay")
        let writer = Writer(
            configuration: .init(node: configuration.node, batchSize: configuration.writer.batchSize,
                                 dnsBatchSize: configuration.writer.dnsBatchSize,
                                 flushInterval: .milliseconds(configuration.writer.flushIntervalMS),
                                 sessionWindowSeconds: configuration.writer.sessionWindowS),
            rings: registry, store: store, logger: logger)
        do {
            try writer.start()
        } catch {
            throw Sinkhole.StartupError(description: "cannot record the run in the store: \(error)")
        }
        let checkIns = Sinkhole.packetCheckIns(configuration, zones: zones)
        // Reading blocks (libpcap, and waiting on the ring while the writer drains): a thread
        // of its own, not the cooperative pool.
        let files = await withCheckedContinuation { (continuation: CheckedContinuation<[CaptureFile.Summary], Never>) in
            SinkholeThread.start(name: "sinkhole-replay") {
                var summaries: [CaptureFile.Summary] = []
                for path in paths {
                    let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
                    let summary = CaptureFile.read(path: path, fileBytes: size, checkIns: checkIns, ring: ring,
                                                   progress: progress)
                    finished(summary)
                    summaries.append(summary)
                }
                continuation.resume(returning: summaries)
            }
        }
        let outcome = await writer.stop()
        return Outcome(files: files, writer: outcome)
    }
}

extension Sinkhole {
    /// The addresses bots reach (every sinkhole address, the families' own included) and the
    /// seized names and addresses that label them: what makes a packet a check-in.
    static func packetCheckIns(_ configuration: SinkholeConfiguration, zones: SeizedZones) -> PacketCheckIns {
        var sinkholeAddresses = configuration.sinkholeAddresses
        for family in configuration.families { sinkholeAddresses += family.sinkholeAddresses ?? [] }
        return PacketCheckIns(sinkholeAddresses: sinkholeAddresses,
                              targets: SeizedTargets(zones: zones, addresses: seizedAddresses(configuration)))
    }
}
