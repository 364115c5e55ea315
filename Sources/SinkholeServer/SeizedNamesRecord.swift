import SinkholeCore
import Synchronization

/// The seized names in force and how the last reloads went, for /metrics: an operator whose
/// SIGHUP silently failed would otherwise keep serving yesterday's DGA names unawares.
final class SeizedNamesRecord: Sendable {
    struct State: Sendable, Equatable {
        /// List entries per family, as loaded (today's list for a dated one).
        var namesPerFamily: [String: Int] = [:]
        var lastSuccess: UTCTime
        var lastSucceeded = true
        var successes = 0
        var failures = 0
    }

    private let state: Mutex<State>

    init(namesPerFamily: [String: Int], loadedAt: UTCTime) {
        state = Mutex(State(namesPerFamily: namesPerFamily, lastSuccess: loadedAt))
    }

    func loaded(_ namesPerFamily: [String: Int], at time: UTCTime) {
        state.withLock {
            $0.namesPerFamily = namesPerFamily
            $0.lastSuccess = time
            $0.lastSucceeded = true
            $0.successes += 1
        }
    }

    func failed() {
        state.withLock {
            $0.lastSucceeded = false
            $0.failures += 1
        }
    }

    var current: State { state.withLock { $0 } }
}
