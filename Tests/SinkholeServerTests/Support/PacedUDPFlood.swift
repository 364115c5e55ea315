import Foundation
import Synchronization

/// A closed-loop flood of one A query over UDP, on its own thread: at most `window` queries
/// outstanding, every reply read and checked. Pacing by replies keeps the sinkhole's socket
/// buffer from overflowing, so every query sent reaches it, and the test can demand that the
/// store counts exactly what was sent. Bounded in count (`total`) and time (`deadline`).
///
/// The flood can hold before its last queries until `release()` (bounded), so a test can put
/// something (a reload) in force while queries are in flight and still see answers after it.
final class PacedUDPFlood: Sendable {
    struct Outcome: Sendable {
        var sent = 0
        /// Replies per answered address (the last four bytes of a one-A reply).
        var answers: [String: Int] = [:]
        /// How often the answered address changed from one reply to the next, in send order.
        var transitions = 0
        /// Queries whose reply never came (the receive timeout passed, or a later one came first).
        var unanswered = 0
        /// Replies that were not a well-formed authoritative one-A answer, described (first few).
        var badReplies: [String] = []
        var badReplyCount = 0
        /// Whether the time bound, not the count, ended the flood.
        var timedOut = false
    }

    private struct State {
        var answered = 0
        var released = false
        var outcome: Outcome?
    }

    private let state = Mutex(State())
    let total: Int
    let holdAt: Int

    /// Starts the flood: `total` queries for `name` to 127.0.0.1:`port`, holding after
    /// `holdAt` of them until `release()`.
    init(port: UInt16, name: String, total: Int, holdAt: Int, window: Int = 32, deadline: Duration = .seconds(120)) {
        self.total = total
        self.holdAt = holdAt
        let thread = Thread { [self] in
            let outcome = run(port: port, name: name, window: window, until: ContinuousClock.now + deadline)
            state.withLock { $0.outcome = outcome }
        }
        thread.start()
    }

    var answered: Int { state.withLock { $0.answered } }

    /// Lets the held flood send its last queries.
    func release() { state.withLock { $0.released = true } }

    /// Waits (bounded) until `count` replies have been read; false if the flood ended first or
    /// the time ran out.
    func waitForAnswered(_ count: Int, timeout: Duration = .seconds(60)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let (answered, done) = state.withLock { ($0.answered, $0.outcome != nil) }
            if answered >= count { return true }
            if done { return false }
            Thread.sleep(forTimeInterval: 0.005)
        }
        return false
    }

    /// Waits (bounded) for the flood to end and returns what it saw, nil if it did not end.
    func finish(timeout: Duration = .seconds(150)) -> Outcome? {
        release()
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let outcome = state.withLock({ $0.outcome }) { return outcome }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return nil
    }

    private func run(port: UInt16, name: String, window: Int, until deadline: ContinuousClock.Instant) -> Outcome {
        var outcome = Outcome()
        guard let client = try? UDPClient(port: port, receiveTimeoutSeconds: 2) else {
            outcome.badReplies.append("cannot open the flood's socket")
            outcome.badReplyCount = 1
            return outcome
        }
        var query = dnsQuery(name, id: 0)
        var outstanding: [UInt16] = []  // in send order: one socket, one event loop, replies in order
        var outstandingHead = 0
        var lastAddress: String?
        func bad(_ description: String) {
            outcome.badReplyCount += 1
            if outcome.badReplies.count < 5 { outcome.badReplies.append(description) }
        }
        while outcome.sent < total || outstandingHead < outstanding.count {
            if ContinuousClock.now >= deadline {
                outcome.timedOut = true
                outcome.unanswered += outstanding.count - outstandingHead
                break
            }
            let mayHold = outcome.sent == holdAt && !state.withLock { $0.released }
            if mayHold && outstandingHead == outstanding.count {
                Thread.sleep(forTimeInterval: 0.002)  // held, nothing in flight: wait for release()
                continue
            }
            while outcome.sent < total && outstanding.count - outstandingHead < window
                    && (outcome.sent != holdAt || state.withLock({ $0.released })) {
                let id = UInt16(truncatingIfNeeded: outcome.sent)
                query[0] = UInt8(id >> 8)
                query[1] = UInt8(id & 0xFF)
                client.send(query)
                outstanding.append(id)
                outcome.sent += 1
            }
            guard let reply = client.receive() else {
                // Nothing within the receive timeout: whatever is in flight is lost.
                outcome.unanswered += outstanding.count - outstandingHead
                outstandingHead = outstanding.count
                continue
            }
            guard reply.count >= 12, let position = outstanding[outstandingHead...].firstIndex(of: dnsID(reply)) else {
                bad("a reply to no outstanding query: \(reply.prefix(16))")
                continue
            }
            outcome.unanswered += position - outstandingHead
            outstandingHead = position + 1
            if outstandingHead > 4096 && outstandingHead * 2 > outstanding.count {
                outstanding.removeFirst(outstandingHead)
                outstandingHead = 0
            }
            state.withLock { $0.answered += 1 }
            // QR, AA and RD set, RA clear, NOERROR, one question, one answer, no other records.
            let wellFormed = reply[2] & 0x85 == 0x85 && reply[3] & 0x80 == 0 && dnsRcode(reply) == 0
                && reply[4...11] == [0, 1, 0, 1, 0, 0, 0, 0]
            guard wellFormed else {
                bad("\(reply)")
                continue
            }
            let address = reply.suffix(4).map(String.init).joined(separator: ".")
            outcome.answers[address, default: 0] += 1
            if let lastAddress, lastAddress != address { outcome.transitions += 1 }
            lastAddress = address
        }
        return outcome
    }
}
