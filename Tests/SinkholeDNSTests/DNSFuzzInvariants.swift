import NIOCore
import NIOEmbedded
import SinkholeCore
import SinkholeDNS

/// What must hold for any bytes whatever sent to the sinkhole's DNS code: the parser's
/// verdict, the responder's reply over UDP and over TCP, the check-in it fills, and the TCP
/// frame decoder fed the same bytes as a stream cut into random-size chunks.
///
/// One file compiled into two programs: the libFuzzer target (`Fuzz/`, through a symlink),
/// which traps on the first violation so libFuzzer keeps the input, and the test target,
/// where `FuzzCrashReplayTests` replays the kept inputs and records each violation as an
/// issue. Not in `Sources/`: the server has no use for a checker of its own replies, and a
/// public one would be API to keep. Only public API is used, as the fuzz package builds
/// SinkholeDNS as a separate module.
enum DNSFuzzInvariants {
    /// A responder shaped to reach every branch: families with both address families, with
    /// IPv4 only, with IPv6 only and with none (ANY falls through to the SOA), one with more
    /// addresses than 512 bytes hold (so plain UDP replies get TC, EDNS ones fit in 1232 and
    /// TCP ones never truncate), a seized subdomain of another family's name, and two
    /// configured nameservers.
    static let responder: DNSResponder = {
        let many = (0..<40).map { IPAddress(ipv4: 0xC633_6400 + $0) } // 198.51.100.0–39
            + (0..<30).map { IPAddress(ipv6High: 0x2001_0DB8_0000_0000, low: 0x100 + UInt64($0)) }
        let families = Fixtures.families + [
            SeizedFamily(name: "necurs", domains: ["many.example", "xn--bcher-kva.example"], answers: many),
            SeizedFamily(name: "dridex", domains: ["v6only.example"], answers: [IPAddress("2001:db8::20")!]),
            SeizedFamily(name: "silent", domains: ["silent.example"], answers: []),
        ]
        // Cannot fail: the address is valid text and every domain a valid name
        // (FuzzCrashReplayTests builds this responder on every run).
        let zones = try! SeizedZones(families: families)
        return DNSResponder(zones: zones, ttl: 300, authority: Fixtures.authority)
    }()

    /// Every violation found for `input`, in words; empty when all holds. `framing: false`
    /// leaves out the TCP frame decoder, the costly part (a channel per input).
    static func violations(
        for input: [UInt8], responder: DNSResponder = Self.responder, framing: Bool = true
    ) -> [String] {
        var found = Violations()
        checkResponder(input, responder, &found)
        if framing { checkFrameDecoder(input, &found) }
        return found.messages
    }

    /// Collects violations; `expect` is cheap when the condition holds.
    struct Violations {
        var messages: [String] = []
        mutating func expect(_ condition: Bool, _ message: @autoclosure () -> String) {
            if !condition { messages.append(message()) }
        }
    }

    /// One call of `respond(to:into:checkIn:transport:)`.
    struct Outcome {
        var sent: Bool
        var reply: ByteBuffer
        var checkIn: CheckIn
    }

    // MARK: - The responder

    static func checkResponder(_ input: [UInt8], _ responder: DNSResponder, _ found: inout Violations) {
        let verdict = DNSQuery.parse(buffer(input))
        let udp = respond(buffer(input), responder, .udp)
        // Over TCP the message is a slice further into a bigger buffer, as the frame decoder
        // hands it over: offsets in the message must not depend on the buffer's reader index.
        var framed = ByteBuffer(bytes: [0xEE, 0xEE, 0xEE] + input)
        framed.moveReaderIndex(forwardBy: 3)
        let tcp = respond(framed, responder, .tcp)
        let udpReply = checkReply(udp, .udp, input, verdict, responder, &found)
        let tcpReply = checkReply(tcp, .tcp, input, verdict, responder, &found)

        found.expect(udp.sent == tcp.sent, "sent over UDP: \(udp.sent), over TCP: \(tcp.sent)")
        found.expect(
            udp.checkIn.name.bytes == tcp.checkIn.name.bytes && udp.checkIn.dnsType == tcp.checkIn.dnsType
                && udp.checkIn.family.bytes == tcp.checkIn.family.bytes,
            "the check-in depends on the transport"
        )
        guard let udpReply, let tcpReply else { return }
        found.expect(!tcpReply.header.truncated, "TC set over TCP")
        if udpReply.header.truncated {
            // TC is set only when a whole RRset did not fit the limit, and TCP sends it all.
            found.expect(tcp.reply.readableBytes > udpLimit(verdict),
                         "TC over UDP, yet the whole reply (\(tcp.reply.readableBytes) bytes) fits")
            found.expect(udpReply.answers.count + udpReply.authority.count
                             < tcpReply.answers.count + tcpReply.authority.count,
                         "TC over UDP, yet no record was left out")
        } else {
            found.expect(udp.reply == tcp.reply, "UDP and TCP replies differ without TC")
        }
    }

    static func respond(_ message: ByteBuffer, _ responder: DNSResponder, _ transport: DNSResponder.Transport) -> Outcome {
        var reply = ByteBuffer()
        // Stale values the responder must overwrite.
        var checkIn = CheckIn.blank
        checkIn.name = BoundedBytes("stale")
        checkIn.family = BoundedBytes("stale")
        checkIn.dnsType = 0xDEAD
        checkIn.dnsRcode = 0x42
        let sent = responder.respond(to: message, into: &reply, checkIn: &checkIn, transport: transport)
        return Outcome(sent: sent, reply: reply, checkIn: checkIn)
    }

    /// The most a UDP reply to this query may hold (RFC 1035 §4.2.1, RFC 6891 §6.2.5).
    static func udpLimit(_ verdict: DNSQuery.ParseResult) -> Int {
        if case .query(let query) = verdict, let edns = query.edns { return edns.responseSizeLimit }
        return DNSResponse.udpSizeLimit
    }

    /// Checks one reply against the verdict; returns it decoded when it decodes.
    static func checkReply(
        _ outcome: Outcome, _ transport: DNSResponder.Transport, _ input: [UInt8],
        _ verdict: DNSQuery.ParseResult, _ responder: DNSResponder, _ found: inout Violations
    ) -> DecodedResponse? {
        let via = transport == .udp ? "UDP" : "TCP"
        let checkIn = outcome.checkIn
        guard outcome.sent else {
            found.expect(checkIn.dnsRcode == CheckIn.noResponse, "\(via): silent, but dnsRcode \(checkIn.dnsRcode)")
            found.expect(outcome.reply.readableBytes == 0, "\(via): silent, but wrote \(outcome.reply.readableBytes) bytes")
            if case .noReply = verdict {} else { found.expect(false, "\(via): silent on a \(verdict)") }
            found.expect(checkIn.name.isEmpty && checkIn.family.isEmpty && checkIn.dnsType == 0,
                         "\(via): silent, but the check-in names a question")
            return nil
        }
        found.expect(checkIn.dnsRcode != CheckIn.noResponse, "\(via): replied, but dnsRcode says no response")
        let limit = transport == .udp ? udpLimit(verdict) : DNSResponse.tcpSizeLimit
        found.expect(outcome.reply.readableBytes <= limit, "\(via): \(outcome.reply.readableBytes) bytes, limit \(limit)")
        found.expect(outcome.reply.readableBytes <= 65_535, "\(via): longer than a TCP frame holds")
        let reply: DecodedResponse
        do {
            reply = try DecodedResponse(outcome.reply)
        } catch {
            found.expect(false, "\(via): the reply does not decode (\(error)): \(Array(outcome.reply.readableBytesView))")
            return nil
        }
        let h = reply.header
        // Safe: a reply is only ever sent to a message of at least a header's 12 bytes.
        let queryID = UInt16(input[0]) << 8 | UInt16(input[1])
        let queryFlags = UInt16(input[2]) << 8 | UInt16(input[3])
        found.expect(h.isResponse, "\(via): QR clear")
        found.expect(h.id == queryID, "\(via): ID \(h.id), query ID \(queryID)")
        found.expect(h.opcode == UInt8((queryFlags >> 11) & 0xF), "\(via): OPCODE not echoed")
        found.expect(h.recursionDesired == (queryFlags & 0x0100 != 0), "\(via): RD not echoed")
        // RA, Z, AD and CD: the sinkhole recurses for nobody and validates nothing.
        found.expect(h.flags & 0x00F0 == 0, "\(via): RA/Z/AD/CD set: flags \(h.flags)")
        found.expect(reply.rcode == checkIn.dnsRcode, "\(via): RCODE \(reply.rcode), check-in says \(checkIn.dnsRcode)")
        found.expect(h.authoritativeAnswer == (reply.rcode == DNSRcode.noError.rawValue),
                     "\(via): AA \(h.authoritativeAnswer) with RCODE \(reply.rcode)")
        let formErrOrNotImp = { (header: DNSHeader) -> UInt8 in
            header.opcode == DNSOpcode.query ? DNSRcode.formErr.rawValue : DNSRcode.notImp.rawValue
        }
        switch verdict {
        case .noReply:
            found.expect(false, "\(via): replied to a packet that needs no reply (\(verdict))")
        case .malformed(let header, _):
            found.expect(reply.rcode == formErrOrNotImp(header), "\(via): RCODE \(reply.rcode) for \(verdict)")
            found.expect(reply.question == nil && reply.answers.isEmpty && reply.authority.isEmpty
                             && reply.additional.isEmpty,
                         "\(via): a reply to an unreadable question carries records")
            found.expect(checkIn.name.isEmpty && checkIn.family.isEmpty && checkIn.dnsType == 0,
                         "\(via): the check-in names a question that could not be read")
        case .malformedRecords(let query, _):
            found.expect(reply.rcode == formErrOrNotImp(query.header), "\(via): RCODE \(reply.rcode) for \(verdict)")
            found.expect(reply.answers.isEmpty && reply.authority.isEmpty && reply.additional.isEmpty,
                         "\(via): a FORMERR for broken records carries records (an OPT is not to be trusted)")
            checkQuestion(query.question, reply, checkIn, responder, via, &found)
        case .query(let query):
            checkQuestion(query.question, reply, checkIn, responder, via, &found)
            checkAnswer(query, reply, responder, via, &found)
        }
        return reply
    }

    /// The question is echoed byte for byte and logged in the check-in.
    static func checkQuestion(
        _ question: DNSQuestion, _ reply: DecodedResponse, _ checkIn: CheckIn, _ responder: DNSResponder,
        _ via: String, _ found: inout Violations
    ) {
        found.expect(reply.question == question, "\(via): question \(String(describing: reply.question)), asked \(question)")
        let presentation = BoundedBytes<255>(question.name.presentation.utf8)
        found.expect(checkIn.name.bytes == presentation.bytes && checkIn.name.truncated == presentation.truncated,
                     "\(via): check-in name \(checkIn.name.bytes), question \(question.name)")
        found.expect(checkIn.dnsType == question.type, "\(via): check-in type \(checkIn.dnsType), QTYPE \(question.type)")
        let family = responder.zones.match(question.name).map { BoundedBytes<32>($0.family).bytes } ?? []
        found.expect(checkIn.family.bytes == family, "\(via): check-in family \(checkIn.family.bytes) for \(question.name)")
    }

    /// The policy of `DNSResponder` for a query that was read whole.
    static func checkAnswer(
        _ query: DNSQuery, _ reply: DecodedResponse, _ responder: DNSResponder, _ via: String,
        _ found: inout Violations
    ) {
        let question = query.question
        // RFC 6891 §7: an OPT in the reply exactly when the query had a valid one.
        found.expect((reply.edns != nil) == (query.edns != nil), "\(via): OPT not mirrored")
        found.expect(reply.additional.count == (query.edns == nil ? 0 : 1), "\(via): additional records besides the OPT")
        if let sent = reply.edns, let asked = query.edns {
            found.expect(sent.version == 0 && sent.udpPayloadSize == EDNSRecord.serverPayloadSize
                             && sent.dnssecOK == asked.dnssecOK && sent.reservedFlags == 0,
                         "\(via): reply OPT \(sent) to query OPT \(asked)")
        }
        let match = responder.zones.match(question.name)
        let expected: DNSRcode = if let edns = query.edns, edns.version != 0 {
            .badVers
        } else if query.header.opcode != DNSOpcode.query {
            .notImp
        } else if question.type == DNSRecordType.axfr || question.type == DNSRecordType.ixfr
                    || question.class != DNSClass.internet || match == nil {
            .refused
        } else {
            .noError
        }
        found.expect(reply.rcode == expected.rawValue, "\(via): RCODE \(reply.rcode), expected \(expected) for \(question)")
        guard reply.rcode == DNSRcode.noError.rawValue else {
            found.expect(reply.answers.isEmpty && reply.authority.isEmpty, "\(via): records in a \(expected) reply")
            return
        }
        // Every answer is owned by the question name (a pointer to it) and of the asked type;
        // ANY gets one RRset (RFC 8482 §4.2).
        let anyTypes = [DNSRecordType.a, DNSRecordType.aaaa, DNSRecordType.soa]
        for record in reply.answers {
            found.expect(record.rawOwner == [0xC0, 12] && record.class == DNSClass.internet && record.ttl == responder.ttl
                             && (record.type == question.type || question.type == DNSRecordType.any && anyTypes.contains(record.type)),
                         "\(via): answer \(record) to \(question)")
        }
        found.expect(Set(reply.answers.map(\.type)).count <= 1, "\(via): more than one RRset in the answer")
        // NODATA: the apex SOA alone in the authority section (RFC 2308 §2.2), never NXDOMAIN
        // (RFC 8020: every name under a seized apex exists).
        found.expect(reply.authority.count <= 1 && reply.authority.allSatisfy { $0.type == DNSRecordType.soa },
                     "\(via): authority section \(reply.authority)")
        if !reply.header.truncated {
            found.expect(reply.answers.isEmpty != reply.authority.isEmpty,
                         "\(via): NOERROR with \(reply.answers.count) answers and \(reply.authority.count) authority records")
        }
        if let soa = reply.authority.first, let apex = match?.apex {
            found.expect(soa.name.presentation.lowercased() == apex, "\(via): NODATA SOA owned by \(soa.name), apex \(apex)")
        }
    }

    // MARK: - The TCP frame decoder

    /// Feeds `input` as a TCP stream, cut into chunks of 1–16 bytes chosen by a generator
    /// seeded from the input (so a kept input replays exactly), then closes the stream, and
    /// compares what the decoder passed on with what RFC 1035 §4.2.2 framing says.
    static func checkFrameDecoder(_ input: [UInt8], _ found: inout Violations) {
        var seed: UInt64 = 0xCBF2_9CE4_8422_2325 // FNV-1a
        for byte in input { seed = (seed ^ UInt64(byte)) &* 0x100_0000_01B3 }
        var random = SeededRandom(seed: seed)
        var boundaries: [Int] = []
        var offset = 0
        while offset < input.count {
            offset = min(input.count, offset + 1 + Int(random.next() % 16))
            boundaries.append(offset)
        }

        let channel = EmbeddedChannel(handler: ByteToMessageHandler(DNSTCPFrameDecoder()))
        var frames: [DNSTCPFrame] = []
        do {
            var start = 0
            for end in boundaries {
                try channel.writeInbound(buffer(Array(input[start..<end])))
                while let frame = try channel.readInbound(as: DNSTCPFrame.self) { frames.append(frame) }
                start = end
            }
            // End of stream: decodeLast runs and must pass on nothing new (every complete
            // frame was passed on when its last byte arrived).
            _ = try channel.finish(acceptAlreadyClosed: true)
            while let frame = try channel.readInbound(as: DNSTCPFrame.self) { frames.append(frame) }
        } catch {
            found.expect(false, "TCP framing: the decoder threw \(error)")
            return
        }
        let expected = expectedFrames(input, boundaries: boundaries)
        found.expect(frames == expected, "TCP framing: decoded \(frames), expected \(expected)")
    }

    /// The frames of `stream` by RFC 1035 §4.2.2, each preceded by `.started` when the stream
    /// was cut inside it (some chunk ended after its first byte and before its last), up to
    /// and including the first zero-length frame. A frame still incomplete at the end of the
    /// stream gives `.started` only.
    static func expectedFrames(_ stream: [UInt8], boundaries: [Int]) -> [DNSTCPFrame] {
        var frames: [DNSTCPFrame] = []
        var start = 0
        while start < stream.count {
            // A lone byte of a length prefix: a frame that ends nobody knows where.
            let length = start + 1 < stream.count ? Int(stream[start]) << 8 | Int(stream[start + 1]) : nil
            let end = length.map { start + 2 + $0 } ?? Int.max
            if boundaries.contains(where: { $0 > start && $0 < end }) { frames.append(.started) }
            guard end <= stream.count else { break }
            if length == 0 {
                frames.append(.empty)
                break
            }
            frames.append(.message(buffer(Array(stream[(start + 2)..<end]))))
            start = end
        }
        return frames
    }
}
