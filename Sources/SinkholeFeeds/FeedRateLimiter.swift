/// Requests each ISP may make to the feed API: a token bucket per ISP (not per connection, so
/// opening more connections buys nothing), `burst` requests at once and `perMinute` after that.
///
/// Time is passed in (monotonic microseconds), so tests step it by hand. The table holds one
/// entry per ISP that asked, bounded by the ISP directory.
public struct FeedRateLimiter: Sendable {
    public let perMinute: Int
    public let burst: Int
    private var buckets: [String: Bucket] = [:]

    struct Bucket {
        /// Tokens in millionths, so refill is exact at any rate.
        var micros: Int64
        var stamp: Int64
    }

    public enum Decision: Equatable, Sendable {
        case allowed
        /// Refused; the next token arrives in this many seconds (`Retry-After`).
        case limited(retryAfter: Int)
    }

    /// - Parameter perMinute: 0 turns limiting off.
    public init(perMinute: Int, burst: Int) {
        self.perMinute = max(0, perMinute)
        self.burst = max(1, burst)
    }

    /// Takes a token for `isp` at `now`, or says when to come back.
    public mutating func admit(_ isp: String, now: Int64) -> Decision {
        guard perMinute > 0 else { return .allowed }
        let full = Int64(burst) * 1_000_000
        var bucket = buckets[isp] ?? Bucket(micros: full, stamp: now)
        // perMinute tokens per 60e6 µs = perMinute millionths of a token per µs / 60.
        let elapsed = max(0, now - bucket.stamp)
        bucket.micros = min(full, bucket.micros + elapsed * Int64(perMinute) / 60)
        bucket.stamp = now
        if bucket.micros >= 1_000_000 {
            bucket.micros -= 1_000_000
            buckets[isp] = bucket
            return .allowed
        }
        buckets[isp] = bucket
        let missing = 1_000_000 - bucket.micros
        let waitMicros = (missing * 60 + Int64(perMinute) - 1) / Int64(perMinute)
        return .limited(retryAfter: Int(max(1, (waitMicros + 999_999) / 1_000_000)))
    }
}
