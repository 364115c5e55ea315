import SinkholeCore
@testable import SinkholeFeeds
import Testing

@Suite("Feed API requests and rate limits")
struct FeedRequestTests {
    static let march10 = UTCTime(seconds: 1_710_028_800)

    @Test("check-ins for a day, CSV unless asked otherwise")
    func checkIns() {
        #expect(FeedRequest.parse(method: "GET", target: "/v1/checkins?date=2024-03-10") == .success(.checkIns(day: Self.march10, format: .csv)))
        #expect(FeedRequest.parse(method: "GET", target: "/v1/checkins?format=jsonl&date=2024-03-10") == .success(.checkIns(day: Self.march10, format: .jsonl)))
        #expect(FeedRequest.parse(method: "HEAD", target: "/v1/checkins?date=2024-03-10") == .success(.checkIns(day: Self.march10, format: .csv)))
    }

    @Test("infections over a range, until defaulting to since")
    func infections() {
        let next = UTCTime(seconds: Self.march10.seconds + 86_400)
        #expect(FeedRequest.parse(method: "GET", target: "/v1/infections?since=2024-03-10") == .success(.infections(since: Self.march10, until: Self.march10, format: .csv)))
        #expect(FeedRequest.parse(method: "GET", target: "/v1/infections?since=2024-03-10&until=2024-03-11&format=jsonl") == .success(.infections(since: Self.march10, until: next, format: .jsonl)))
    }

    @Test("bad requests say which part is wrong and why", arguments: [
        ("/v1/checkins", 400, "date is required"),
        ("/v1/checkins?date=2024-3-10", 400, "date=\"2024-3-10\": expected a UTC date"),
        ("/v1/checkins?date=2024-02-30", 400, "date=\"2024-02-30\""),
        ("/v1/checkins?date=2024-03-10&date=2024-03-11", 400, "given twice"),
        ("/v1/checkins?date=2024-03-10&format=xml", 400, "format=\"xml\": expected csv or jsonl"),
        ("/v1/checkins?date=2024-03-10&isp=other", 400, "unknown parameter \"isp\""),
        ("/v1/infections?since=2024-03-10&until=2024-03-09", 400, "is before since"),
        ("/v1/infections?since=2024-01-01&until=2024-12-31", 400, "spans 366 days"),
        ("/v1/infections?until=2024-03-10", 400, "since is required"),
        ("/v1/other", 404, "no such endpoint"),
        ("/v1/checkins/../../etc/passwd", 404, "no such endpoint"),
    ] as [(String, Int, String)])
    func refusals(_ target: String, _ status: Int, _ message: String) {
        guard case .failure(let refusal) = FeedRequest.parse(method: "GET", target: target) else {
            Issue.record("accepted \(target)")
            return
        }
        #expect(refusal.status == status)
        #expect(refusal.message.contains(message), "\(refusal.message)")
    }

    @Test("only GET and HEAD")
    func methods() {
        guard case .failure(let refusal) = FeedRequest.parse(method: "POST", target: "/v1/checkins?date=2024-03-10") else {
            Issue.record("POST accepted")
            return
        }
        #expect(refusal.status == 405)
    }

    @Test("a burst, then the rate; each ISP its own bucket; Retry-After says when")
    func rateLimit() {
        var limiter = FeedRateLimiter(perMinute: 6, burst: 2)
        #expect(limiter.admit("a", now: 0) == .allowed)
        #expect(limiter.admit("a", now: 0) == .allowed)
        #expect(limiter.admit("a", now: 0) == .limited(retryAfter: 10))
        #expect(limiter.admit("b", now: 0) == .allowed, "another ISP is not limited by the first")
        #expect(limiter.admit("a", now: 4_000_000) == .limited(retryAfter: 6))
        #expect(limiter.admit("a", now: 10_000_000) == .allowed)
        #expect(limiter.admit("a", now: 10_000_000) == .limited(retryAfter: 10))
        // A long pause refills to the burst, not beyond.
        #expect(limiter.admit("a", now: 3_600_000_000) == .allowed)
        #expect(limiter.admit("a", now: 3_600_000_000) == .allowed)
        #expect(limiter.admit("a", now: 3_600_000_000) != .allowed)
        var off = FeedRateLimiter(perMinute: 0, burst: 1)
        for _ in 0..<100 { #expect(off.admit("a", now: 0) == .allowed) }
    }

    @Test("node names become file-name suffixes IntelMQ accepts")
    func suffix() {
        #expect(DailyExport.fileNameSuffix("sinkhole-1") == "sinkhole-1")
        #expect(DailyExport.fileNameSuffix("sink1.example.org") == "sink1-example-org")
        #expect(DailyExport.fileNameSuffix("node_a/b c") == "node_a-b-c")
    }
}
