import SinkholeCore
import Synchronization

/// A wall clock the test moves by hand. Optionally moves itself on every read, for code that
/// loops until a deadline.
final class FakeClock: Sendable {
    private let now: Mutex<Int64>
    private let tickPerRead: Int64

    init(_ start: UTCTime = Events.at(3600), tickPerRead: Duration = .zero) {
        now = Mutex(start.microseconds)
        self.tickPerRead = Self.microseconds(tickPerRead)
    }

    var time: UTCTime { now.withLock { UTCTime(microseconds: $0) } }

    func advance(by duration: Duration) {
        let step = Self.microseconds(duration)
        now.withLock { $0 += step }
    }

    /// The closure handed to the `Writer`.
    var read: @Sendable () -> UTCTime {
        { [self] in
            now.withLock { value in
                let current = value
                value += tickPerRead
                return UTCTime(microseconds: current)
            }
        }
    }

    private static func microseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    }
}
