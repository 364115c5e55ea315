@testable import SinkholeServer
import Logging
import Synchronization

/// A logger whose lines (in the journal's format) the test reads back.
struct CollectedLog: Sendable {
    /// Where the handler puts each line.
    final class Lines: Sendable {
        let value = Mutex<[String]>([])
    }

    let logger: Logger
    private let collected: Lines

    init(level: Logger.Level = .trace) {
        let collected = Lines()
        self.collected = collected
        var logger = Logger(label: "test") { label in
            JournalLogHandler(label: label) { line in collected.value.withLock { $0.append(line) } }
        }
        logger.logLevel = level
        self.logger = logger
    }

    /// Every line so far.
    var lines: [String] { collected.value.withLock { $0 } }
}
