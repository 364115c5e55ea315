import NIOCore
import SinkholeCore
@testable import SinkholeDNS
import Testing

/// The UDP path reads every question name into one buffer kept across datagrams
/// (`DNSWireReader.readName(reusing:)`), so that a query allocates nothing. Reuse must never
/// change a name already read: these check that copy-on-write keeps them apart.
@Suite("Question names read into reused storage")
struct DNSNameStorageTests {
    static func readQuestionName(_ qname: String, into storage: inout [UInt8]) throws -> DNSName {
        var reader = DNSWireReader(message: buffer(WireQuery.make(qname)))
        try reader.seek(to: DNSHeader.length)
        return try reader.readName(reusing: &storage)
    }

    @Test("a name still held keeps its bytes when the storage is read into again")
    func heldNameUnchanged() throws {
        var storage: [UInt8] = []
        let first = try Self.readQuestionName("qx7fk2m9pl0v3ztr.Evil.example", into: &storage)
        let second = try Self.readQuestionName("a.example", into: &storage)
        #expect(first.presentation == "qx7fk2m9pl0v3ztr.Evil.example")
        #expect(second.presentation == "a.example")
        #expect(storage == second.wire)
    }

    @Test("a failed read leaves the last name intact, and the storage reads the next name whole")
    func failedReadThenNext() throws {
        var storage: [UInt8] = []
        let held = try Self.readQuestionName("c2.bad.test", into: &storage)
        // A label running past the end of the message.
        var reader = DNSWireReader(message: buffer(WireQuery.header() + [5, 0x65, 0x76]))
        try reader.seek(to: DNSHeader.length)
        #expect(throws: DNSParseError.truncated) { try reader.readName(reusing: &storage) }
        #expect(held.presentation == "c2.bad.test")
        #expect(try Self.readQuestionName("evil.example", into: &storage).presentation == "evil.example")
    }

    @Test("an exchange answers a run of different queries as the responder answers each alone",
          arguments: [ResponseRateLimiter.Settings(responsesPerSecond: 0), ResponseRateLimiter.Settings()])
    func exchangeMatchesResponder(rateLimit: ResponseRateLimiter.Settings) throws {
        let responder = try Fixtures.responder()
        var exchange = DNSUDPExchange(responder: responder, rateLimit: rateLimit)
        var limiter = ResponseRateLimiter(rateLimit)
        let queries = [
            WireQuery.make("qx7fk2m9pl0v3ztr.Evil.example"), WireQuery.make("evil.example", type: DNSRecordType.aaaa),
            WireQuery.make("a.b.c.d.e.f.g.sub.evil.example", type: 15), WireQuery.make("www.example.com"),
            WireQuery.header() + [5, 0x65, 0x76], WireQuery.make("C2.BAD.TEST", type: DNSRecordType.soa),
            WireQuery.make("."), WireQuery.make("x.v4only.example"),
        ]
        for bytes in queries + queries {
            var viaExchange = CheckIn.blank
            var alone = CheckIn.blank
            var reply = ByteBuffer()
            let sent = exchange.answer(buffer(bytes), checkIn: &viaExchange)
            #expect(sent == responder.respond(to: buffer(bytes), into: &reply, checkIn: &alone, limiter: &limiter))
            if sent { #expect(exchange.reply == reply) }
            #expect(viaExchange.name == alone.name)
            #expect(viaExchange.family == alone.family)
            #expect(viaExchange.dnsType == alone.dnsType && viaExchange.dnsRcode == alone.dnsRcode)
            #expect(viaExchange.rateLimited == alone.rateLimited)
        }
    }
}
