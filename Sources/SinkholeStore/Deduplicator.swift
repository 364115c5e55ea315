import SinkholeCore

/// Folds a stream of check-ins into the rows a batch commits (pure: no I/O, no clock).
///
/// - DNS queries aggregate per (UTC hour, querying address, qname, qtype). They are not
///   infected-IP evidence (the sources are mostly ISPs' resolvers), so they feed neither
///   `checkins` nor `infections`.
/// - Every other check-in is a session: events with the same 5-tuple and request index within
///   `sessionWindow` of the session's last event merge into one `checkins` row (the capture
///   engine and a responder seeing one connection, retransmitted SYNs, a request split over
///   reads). A responder's event enriches a packet event's row. The request index keeps each
///   HTTP request of a keep-alive connection its own row (one row per check-in, with its own
///   detail), while packets, which carry index 0, fold into the connection's first request.
///   A responder reports each request once, so a second request under a session's key is
///   another connection that reused the 5-tuple within the window (a bot reconnecting from
///   the same port, a CGNAT address's next subscriber): it opens a new session, never a repeat.
///   Likewise a catch-all datagram folds only into a session whose first datagram had the
///   same bytes (a retransmission, a repeated beacon); other bytes are another check-in.
///   Each new session counts once in `infections` for its (UTC day, source, family), so a
///   keep-alive connection of n requests counts n; traffic no family claims is kept in
///   `checkins` but is not listed as an infection (it is mostly scanners).
public struct Deduplicator: Sendable {
    /// How long a session stays open after its last event, in microseconds.
    public let sessionWindow: Int64
    private var sessions: [SessionKey: OpenSession] = [:]
    /// Every open session's key once, roughly in order of last activity, so expiry looks only
    /// at the oldest sessions instead of scanning them all on every batch.
    private var expiryQueue: [(key: SessionKey, lastSeen: Int64)] = []
    private var expiryHead = 0
    private var batch = StoreBatch()
    /// Counts batches handed over; a session's `batchRow` is valid only for this generation.
    private var generation = 0
    /// Events folded since the last `takeBatch`.
    public private(set) var pendingEvents = 0
    /// Every family an open session has had, by the index sessions keep instead of the bytes
    /// (a session is held for the whole window: at 150k sessions/s that is 18M of them, so
    /// each byte of `OpenSession` counts). Index 0 is no family. Families come from the
    /// configuration, so the table stays a handful long.
    private var familyNames: [BoundedBytes<32>] = [BoundedBytes()]
    private var familyIndexes: [BoundedBytes<32>: UInt32] = [BoundedBytes(): 0]
    /// The last family looked up: consecutive events mostly name the same one.
    private var lastFamily = (name: BoundedBytes<32>(), index: UInt32(0))
    /// A committed batch's check-in array, emptied, for the next batch to fill: rows are
    /// about 1.8 KiB, and a new array per batch grew through every doubling and had its pages
    /// faulted in again (a fifth of the writer's time at 1:1, measured with perf).
    private var spareCheckIns: [CheckInRow] = []

    public init(sessionWindowSeconds: Int) {
        sessionWindow = Int64(sessionWindowSeconds) * 1_000_000
        // Room for a busy window from the start instead of rehashing through every doubling.
        sessions.reserveCapacity(1 << 16)
    }

    /// Rows the next batch will write to `checkins` and to `dns_queries`: what a commit costs,
    /// each bounded by the writer. Events that fold into a row already pending add none (an
    /// `infections` row follows its session's check-in row, so it is not counted apart).
    public var pendingRows: (checkIns: Int, dnsQueries: Int) { (batch.checkIns.count, batch.dnsQueries.count) }

    /// Sessions still open (for tests and metrics).
    public var openSessions: Int { sessions.count }

    public mutating func add(_ event: CheckIn) {
        pendingEvents += 1
        if event.service == .dns {
            addDNSQuery(event)
        } else {
            addSessionEvent(event)
        }
    }

    /// Hands over the rows folded so far and forgets sessions idle for longer than the
    /// window at `now` (event time, so a replayed capture dedups as it did live).
    public mutating func takeBatch(now: UTCTime) -> (batch: StoreBatch, events: Int) {
        let taken = batch
        let events = pendingEvents
        batch = StoreBatch()
        // Room for as many DNS rows as the last batch had: growing the table through every
        // doubling cost a thousand instructions per stored DNS row.
        batch.dnsQueries.reserveCapacity(taken.dnsQueries.count)
        swap(&batch.checkIns, &spareCheckIns)
        batch.checkIns.reserveCapacity(taken.checkIns.count)
        generation &+= 1
        pendingEvents = 0
        expire(before: now.microseconds - sessionWindow)
        return (taken, events)
    }

    /// Takes back the check-in array of a batch the store has committed, to reuse its memory
    /// for the next batch; `rows` is left empty. When something else still holds the array,
    /// copy-on-write gives this one fresh storage and the holder keeps its rows.
    public mutating func recycle(_ rows: inout [CheckInRow]) {
        guard rows.capacity > spareCheckIns.capacity else { return }
        rows.removeAll(keepingCapacity: true)
        swap(&rows, &spareCheckIns)
    }

    /// Forgets sessions whose last event is older than `horizon`. A queued session that was
    /// active since it was queued goes to the back of the queue with its new time.
    private mutating func expire(before horizon: Int64) {
        while expiryHead < expiryQueue.count && expiryQueue[expiryHead].lastSeen < horizon {
            let key = expiryQueue[expiryHead].key
            expiryHead += 1
            guard let open = sessions[key] else { continue }
            if open.lastSeen.microseconds < horizon {
                sessions[key] = nil
            } else {
                expiryQueue.append((key, open.lastSeen.microseconds))
            }
        }
        if expiryHead >= 4096 && expiryHead * 2 >= expiryQueue.count {
            expiryQueue.removeFirst(expiryHead)
            expiryHead = 0
        }
    }

    private mutating func familyIndex(_ family: BoundedBytes<32>) -> UInt32 {
        if family == lastFamily.name { return lastFamily.index }
        let index: UInt32
        if let known = familyIndexes[family] {
            index = known
        } else {
            index = UInt32(familyNames.count)
            familyNames.append(family)
            familyIndexes[family] = index
        }
        lastFamily = (family, index)
        return index
    }

    /// ASCII letters folded to lowercase, the truncation mark kept.
    static func lowercased(_ name: BoundedBytes<255>) -> BoundedBytes<255> {
        var folded = BoundedBytes<255>()
        name.withBytes { bytes in
            for b in bytes { folded.append(b >= 0x41 && b <= 0x5a ? b | 0x20 : b) }
        }
        if name.truncated { folded.markTruncated() }
        return folded
    }

    private mutating func addDNSQuery(_ event: CheckIn) {
        let qname = Self.lowercased(event.name)
        let hour = event.time.hourStart.seconds
        let key = DNSQueryKey(hour: hour, source: event.source, qname: qname, qtype: event.dnsType)
        batch.summary.services[ServiceHourKey(hour: hour, service: .dns, family: event.family), default: ServiceHourRow()]
            .events += 1
        batch.summary.resolvers[ResolverHourKey(hour: hour, source: event.source), default: 0] += 1
        // One hash of the key, whether the row is new or not.
        batch.dnsQueries[key, default: DNSQueryRow(firstSeen: event.time, lastSeen: event.time, count: 0,
                                                   lastRcode: event.dnsRcode, family: event.family)]
            .fold(event)
    }

    private mutating func addSessionEvent(_ event: CheckIn) {
        let key = SessionKey(event)
        let t = event.time.microseconds
        let hour = event.time.hourStart.seconds
        batch.summary.services[ServiceHourKey(hour: hour, service: event.service, family: event.family),
                               default: ServiceHourRow()].events += 1
        // Within the window on either side: the writer drains ring by ring, so a capture event
        // stamped before the responder's event of the same connection may be folded after it.
        let existing = sessions.index(forKey: key)
        // A responder's request, not a packet whose first segment the capture parsed as one:
        // that packet belongs to the connection's first request and folds into its row.
        let isRequest = !event.httpMethod.isEmpty && event.service != .packet
        // A catch-all datagram is reported once, like a request: only one repeating the
        // session's first datagram byte for byte is a repeat (a retransmission, a beacon).
        let datagram = event.service == .udp ? event.firstBytes.hashValue : nil
        if let existing, case var open = sessions.values[existing],
           t >= open.firstSeen.microseconds - sessionWindow, t <= open.lastSeen.microseconds + sessionWindow,
           !(isRequest && open.hasRequest), datagram == nil || open.datagram == nil || datagram == open.datagram {
            open.hasRequest = open.hasRequest || isRequest
            if open.datagram == nil { open.datagram = datagram }
            open.firstSeen = min(open.firstSeen, event.time)
            open.lastSeen = max(open.lastSeen, event.time)
            let (service, family) = (open.service, open.family)
            if open.family == 0 { open.family = familyIndex(event.family) }
            if open.service == .packet { open.service = event.service }
            summarize(enriched: &open, from: service, family, by: event)
            if open.batchGeneration == UInt32(truncatingIfNeeded: generation) {
                let index = Int(open.batchRow)
                batch.checkIns[index].count += 1
                batch.checkIns[index].lastSeen = max(batch.checkIns[index].lastSeen, event.time)
                batch.checkIns[index].checkIn.time = min(batch.checkIns[index].checkIn.time, event.time)
                Self.enrich(&batch.checkIns[index].checkIn, with: event)
            } else {
                // The session's row was committed by an earlier batch: send a delta row with the
                // same event id; the store's upsert adds the count and keeps the richer detail.
                var detail = event
                detail.time = open.firstSeen
                open.batchGeneration = UInt32(truncatingIfNeeded: generation)
                open.batchRow = UInt32(batch.checkIns.count)
                batch.checkIns.append(CheckInRow(eventID: Self.eventID(key, start: open.start), checkIn: detail,
                                                 lastSeen: event.time, count: 1, opensSession: false))
            }
            addInfection(event, session: &open)
            sessions.values[existing] = open  // by index: no second hash of the key
            return
        }
        batch.summary.services[ServiceHourKey(hour: hour, service: event.service, family: event.family),
                               default: ServiceHourRow()].sessions += 1
        if !event.name.isEmpty {
            batch.summary.names[NameHourKey(hour: hour, family: event.family, name: Self.lowercased(event.name)), default: 0] += 1
        }
        var open = OpenSession(start: event.time, firstSeen: event.time, lastSeen: event.time, datagram: datagram,
                               infectionDays: nil, batchGeneration: UInt32(truncatingIfNeeded: generation),
                               batchRow: UInt32(batch.checkIns.count), family: familyIndex(event.family),
                               service: event.service, named: !event.name.isEmpty, hasRequest: isRequest)
        batch.checkIns.append(CheckInRow(eventID: Self.eventID(key, start: event.time), checkIn: event,
                                         lastSeen: event.time, count: 1, opensSession: true))
        addInfection(event, session: &open)
        if let existing {
            // A session that outlived its window, or a reused 5-tuple's new request, replaces
            // the old one: its key is already queued.
            sessions.values[existing] = open
        } else {
            sessions[key] = open
            expiryQueue.append((key, event.time.microseconds))
        }
    }

    /// Keeps a session's summary rows following its `checkins` row when an event enriches it
    /// (`enrich`, or the store's upsert of a delta row): a capture engine's packet session
    /// that a responder's event names is a session of the responder's service and family, as
    /// the row is, and its name (the Host, the SNI) is a C&C name bots connected to. The
    /// session moves at the hour it opened; a delta row may make a summary's delta negative.
    private mutating func summarize(enriched open: inout OpenSession, from service: CheckIn.Service,
                                    _ family: UInt32, by event: CheckIn) {
        let hour = open.start.hourStart.seconds
        if open.service != service || open.family != family {
            batch.summary.services[ServiceHourKey(hour: hour, service: service, family: familyNames[Int(family)]),
                                   default: ServiceHourRow()].sessions -= 1
            batch.summary.services[ServiceHourKey(hour: hour, service: open.service, family: familyNames[Int(open.family)]),
                                   default: ServiceHourRow()].sessions += 1
        }
        if !open.named && !event.name.isEmpty {
            open.named = true
            batch.summary.names[NameHourKey(hour: hour, family: familyNames[Int(open.family)], name: Self.lowercased(event.name)),
                                default: 0] += 1
        }
    }

    /// Counts a session once per UTC day in `infections`, under the session's family: the
    /// first family any of its events named (a later event may be the first to name one: the
    /// capture engine sees the SYN before the HTTP responder sees the Host). A session running
    /// past midnight counts on the new day too: the bot was active then.
    private mutating func addInfection(_ event: CheckIn, session: inout OpenSession) {
        // A DNS query the capture engine read off the wire (a packet event with a qtype) is
        // the same non-evidence as the DNS responder's: its source is mostly a resolver.
        guard session.family != 0, event.dnsType == 0 else { return }
        let day = event.time.dayStart.seconds
        let key = InfectionKey(day: day, source: event.source, family: familyNames[Int(session.family)])
        var row = batch.infections[key]
            ?? InfectionRow(firstSeen: event.time, lastSeen: event.time, count: 0, lastSourcePort: event.sourcePort)
        // Days already counted form a range: a session's events are never more than the
        // window apart, so it is active on every day between its first and last.
        let dayNumber = Int32(truncatingIfNeeded: day / 86_400)
        if session.infectionDays?.contains(dayNumber) != true {
            row.count += 1
            session.infectionDays = session.infectionDays.map { min($0.lowerBound, dayNumber)...max($0.upperBound, dayNumber) }
                ?? dayNumber...dayNumber
        }
        row.firstSeen = min(row.firstSeen, event.time)
        if event.time >= row.lastSeen {
            row.lastSeen = event.time
            row.lastSourcePort = event.sourcePort
        }
        batch.infections[key] = row
    }

    /// A responder's event carries the detail a packet event lacks; the row takes the
    /// responder's service and fills empty fields, never overwriting what is there.
    static func enrich(_ row: inout CheckIn, with event: CheckIn) {
        // The first responder event on a row only packets made so far: its detail is the
        // authoritative one (the capture read one segment; the responder read the request
        // and answered it).
        let fromResponder = row.service == .packet && event.service != .packet
        if fromResponder { row.service = event.service }
        if row.family.isEmpty { row.family = event.family }
        if row.name.isEmpty { row.name = event.name }
        if row.dnsType == 0 { row.dnsType = event.dnsType }
        // The HTTP detail is one request's, taken whole: fields of two requests on one
        // keep-alive connection are never mixed in one row.
        if (row.httpMethod.isEmpty || fromResponder) && !event.httpMethod.isEmpty {
            row.httpMethod = event.httpMethod
            row.httpPath = event.httpPath
            row.httpVersion = event.httpVersion
            row.httpUserAgent = event.httpUserAgent
            row.httpReferer = event.httpReferer
            row.httpForwardedFor = event.httpForwardedFor
            row.httpContentLength = event.httpContentLength
            row.httpBodyBytes = event.httpBodyBytes
            row.httpBodyDigest = event.httpBodyDigest
            row.httpHeaderCount = event.httpHeaderCount
            row.httpStatus = event.httpStatus
        }
        if row.firstBytes.isEmpty { row.firstBytes = event.firstBytes }
        // The catch-all listener that took the session (a packet event has none).
        if row.listenerPort == 0 {
            row.listenerPort = event.listenerPort
            row.redirected = event.redirected
        }
        // The TLS detail is one hello's, taken whole like the HTTP detail.
        if row.tlsOfferedVersion == 0 && event.tlsOfferedVersion != 0 {
            row.tlsServerName = event.tlsServerName
            row.tlsOfferedVersion = event.tlsOfferedVersion
            row.tlsOfferedCipher = event.tlsOfferedCipher
            row.tlsOfferedCipherCount = event.tlsOfferedCipherCount
            row.tlsCompleted = event.tlsCompleted
            row.tlsVersion = event.tlsVersion
            row.tlsCipher = event.tlsCipher
        }
        // Capture: every TCP flag the session's packets carried; the first ICMP type seen.
        row.tcpFlags |= event.tcpFlags
        if row.icmpType == 0 {
            row.icmpType = event.icmpType
            row.icmpCode = event.icmpCode
        }
    }

    /// `<session start µs>-<transport>-<source>-<source port>-<destination>-<destination port>`,
    /// then `-<n>` for the request index n when it is not 0: readable, stable across restarts
    /// and unique per node (one session per 5-tuple and request at a time; ids of first
    /// requests and packet sessions are as they were before request indexes). Starting with
    /// the time makes the store's key grow in time order, so inserts append.
    static func eventID(_ key: SessionKey, start: UTCTime) -> String {
        // Built as bytes into one buffer: concatenating seven Strings per new session was the
        // writer's single largest cost after SQLite (measured with perf).
        var bytes: [UInt8] = []
        bytes.reserveCapacity(112)
        bytes.appendDecimal(start.microseconds)
        bytes.append(UInt8(ascii: "-"))
        bytes += key.transport.name.utf8
        bytes.append(UInt8(ascii: "-"))
        bytes += key.source.description.utf8
        bytes.append(UInt8(ascii: "-"))
        bytes.appendDecimal(Int64(key.sourcePort))
        bytes.append(UInt8(ascii: "-"))
        bytes += key.destination.description.utf8
        bytes.append(UInt8(ascii: "-"))
        bytes.appendDecimal(Int64(key.destinationPort))
        if key.requestIndex > 0 {
            bytes.append(UInt8(ascii: "-"))
            bytes.appendDecimal(Int64(key.requestIndex))
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// A session's 5-tuple and request index, packed: addresses as their two words with the
/// families in one byte (48 bytes, where two `IPAddress`es with their padding made 72).
struct SessionKey: Hashable {
    var sourceHigh: UInt64
    var sourceLow: UInt64
    var destinationHigh: UInt64
    var destinationLow: UInt64
    /// The request on the connection (`CheckIn.requestIndex`): 0 for its first request and
    /// its packets.
    var requestIndex: UInt32
    var sourcePort: UInt16
    var destinationPort: UInt16
    var transport: CheckIn.Transport
    /// Bit 0: the source is IPv6; bit 1: the destination is.
    var families: UInt8

    init(_ event: CheckIn) {
        sourceHigh = event.source.high
        sourceLow = event.source.low
        destinationHigh = event.destination.high
        destinationLow = event.destination.low
        requestIndex = event.requestIndex
        sourcePort = event.sourcePort
        destinationPort = event.destinationPort
        transport = event.transport
        families = (event.source.family == .v6 ? 1 : 0) | (event.destination.family == .v6 ? 2 : 0)
    }

    var source: IPAddress { Self.address(high: sourceHigh, low: sourceLow, v6: families & 1 != 0) }
    var destination: IPAddress { Self.address(high: destinationHigh, low: destinationLow, v6: families & 2 != 0) }

    private static func address(high: UInt64, low: UInt64, v6: Bool) -> IPAddress {
        v6 ? IPAddress(ipv6High: high, low: low) : IPAddress(ipv4: UInt32(truncatingIfNeeded: low))
    }
}

/// What the deduplicator keeps of a session for its whole window, in 64 bytes: fields ordered
/// so none pads, the family as an index into the deduplicator's table, days and batch
/// positions in 32 bits.
struct OpenSession {
    /// The time of the event that opened the session: with the key, its `eventID`. Fixed, even
    /// when an earlier-stamped event of the session lowers `firstSeen` later.
    var start: UTCTime
    var firstSeen: UTCTime
    var lastSeen: UTCTime
    /// The hash of the session's first catch-all datagram's bytes: a datagram with other
    /// bytes is a new session, never a repeat.
    var datagram: Int?
    /// The UTC days (days since the epoch) the session was counted on in `infections`, nil
    /// before it has a family. A range, not the last day: an event stamped before midnight
    /// may be folded after one stamped after it (the writer drains ring by ring).
    var infectionDays: ClosedRange<Int32>?
    /// The session's row in the current batch's `checkIns`, when `batchGeneration` is the
    /// deduplicator's current one (low 32 bits; kept here to save a second dictionary lookup
    /// per event).
    var batchGeneration: UInt32
    var batchRow: UInt32
    /// The first family any of the session's events named: an index into `familyNames`, 0
    /// for none.
    var family: UInt32
    /// The row's service: the first event's, until a responder's event replaces `packet`.
    var service: CheckIn.Service
    /// The row has a name, counted once in the summaries' C&C names.
    var named: Bool
    /// A responder's request (HTTP detail) is in the session: another one is a new session.
    var hasRequest: Bool
}

extension DNSQueryRow {
    /// Counts one more query into the row.
    mutating func fold(_ event: CheckIn) {
        count += 1
        if event.rateLimited { rateLimited += 1 }
        firstSeen = min(firstSeen, event.time)
        if event.time >= lastSeen {
            lastSeen = event.time
            lastRcode = event.dnsRcode
            lastSourcePort = event.sourcePort
        }
    }
}
