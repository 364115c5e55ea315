import Foundation
import SinkholeCore
import Testing

/// Hammers the ring from real threads. `make test` also runs this suite in a release build
/// under ThreadSanitizer (see Tests/TSan/Package.swift): debug builds hide ordering bugs in
/// generic element copies from TSan.
@Suite("EventRing under concurrent producers")
struct EventRingStressTests {
    static let producers = 4
    #if DEBUG
    /// Debug builds build each event about 20× slower than release; the full ≥ 10M run is the
    /// release + ThreadSanitizer one that `make test` runs (Tests/TSan), where it matters.
    static let eventsPerProducer = 500_000
    #else
    /// ≥ 4 producers and ≥ 10M events in all.
    static let eventsPerProducer = 2_600_000
    #endif

    @Test("offered == consumed + dropped exactly, order kept per producer, no torn slot, whether events are copied in or built in their slot")
    func stress() throws {
        let rings = EventRings(slotsPerRing: 4096, filler: CheckIn.stressFiller)
        let producerRings = (0..<Self.producers).map { rings.register(name: "producer-\($0)") }
        let done = DispatchGroup()
        for (index, ring) in producerRings.enumerated() {
            done.enter()
            let thread = Thread {
                if index % 2 == 0 {
                    for sequence in 0..<Self.eventsPerProducer {
                        ring.push(CheckIn.stressEvent(producer: index, sequence: sequence))
                    }
                } else {
                    // Built in place (push(building:)), as the capture thread does: a whole
                    // value assigned to the slot first. Every 7th event comes after an input that
                    // made none but left junk in the slot: nothing of it may be published.
                    var overflow = CheckIn.stressFiller
                    for sequence in 0..<Self.eventsPerProducer {
                        if sequence % 7 == 0 {
                            let none = ring.push(building: { slot in
                                slot.sourcePort = 0xdead
                                for _ in 0..<100 { slot.name.append(0xee) }
                                return false
                            }, overflow: &overflow)
                            precondition(none == nil)
                        }
                        _ = ring.push(building: { slot in
                            slot = CheckIn.stressEvent(producer: index, sequence: sequence)
                            return true
                        }, overflow: &overflow)
                    }
                }
                done.leave()
            }
            thread.start()
        }

        var lastSequence = [Int](repeating: -1, count: Self.producers)
        var consumed = [Int](repeating: 0, count: Self.producers)
        var torn = 0
        var outOfOrder = 0
        func drainAll() -> Int {
            var n = 0
            for (index, ring) in producerRings.enumerated() {
                n += ring.drain { event in
                    guard let sequence = event.stressSequence(producer: index) else { torn += 1; return }
                    if sequence <= lastSequence[index] { outOfOrder += 1 }
                    lastSequence[index] = sequence
                    consumed[index] += 1
                }
            }
            return n
        }
        while done.wait(timeout: .now()) == .timedOut {
            if drainAll() == 0 { sched_yield() }
        }
        while drainAll() > 0 {}

        #expect(torn == 0)
        #expect(outOfOrder == 0)
        var totalDropped = 0
        for (index, ring) in producerRings.enumerated() {
            let c = ring.counts
            #expect(c.offered == Self.eventsPerProducer)
            #expect(c.offered == consumed[index] + c.dropped, "ring \(index): \(c)")
            #expect(c.inFlight == 0)
            totalDropped += c.dropped
        }
        let totals = rings.totals
        #expect(totals.offered == Self.producers * Self.eventsPerProducer)
        #if !DEBUG
        #expect(totals.offered >= 10_000_000)
        #endif
        #expect(totals.consumed == consumed.reduce(0, +))
        #expect(totals.dropped == totalDropped)
    }
}

extension CheckIn {
    static let stressFiller = CheckIn(time: UTCTime(microseconds: 0), source: .zero, sourcePort: 0,
                                      destination: .zero, destinationPort: 0, transport: .udp, service: .dns)

    /// Every field derives from (producer, sequence), and `dnsType`/`destinationPort` hold a
    /// checksum of the rest, so a slot copied while being written shows up as a mismatch.
    static func stressEvent(producer: Int, sequence: Int) -> CheckIn {
        var event = CheckIn(time: UTCTime(microseconds: Int64(sequence)),
                            source: IPAddress(ipv4: UInt32(truncatingIfNeeded: sequence)),
                            sourcePort: UInt16(producer),
                            destination: IPAddress(ipv6High: UInt64(sequence) &* 0x9E37_79B9_7F4A_7C15, low: ~UInt64(sequence)),
                            destinationPort: 0, transport: .tcp, service: .packet)
        let tag = UInt8(truncatingIfNeeded: sequence &* 31 &+ producer)
        for _ in 0..<(sequence % 200) { event.name.append(tag) }
        event.dnsType = event.checksum
        event.destinationPort = UInt16(truncatingIfNeeded: sequence)
        return event
    }

    var checksum: UInt16 {
        var sum = UInt64(bitPattern: time.microseconds) &* 31 &+ source.low &+ UInt64(sourcePort)
        sum = sum &* 31 &+ destination.high &+ destination.low
        sum = sum &* 31 &+ UInt64(name.count)
        name.withBytes { for b in $0 { sum = sum &* 131 &+ UInt64(b) } }
        return UInt16(truncatingIfNeeded: sum ^ (sum >> 16) ^ (sum >> 32))
    }

    /// The sequence number if this slot is whole and from `producer`, else nil.
    func stressSequence(producer: Int) -> Int? {
        let sequence = Int(time.microseconds)
        guard Int(sourcePort) == producer, dnsType == checksum,
              destinationPort == UInt16(truncatingIfNeeded: sequence),
              name.count == sequence % 200,
              self.source == IPAddress(ipv4: UInt32(truncatingIfNeeded: sequence)) else { return nil }
        return sequence
    }
}
