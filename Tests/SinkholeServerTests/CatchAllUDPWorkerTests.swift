@testable import SinkholeServer
import Foundation
import SinkholeCore
import SinkholeDNS
import SinkholeHTTP
import Testing

/// The catch-all's UDP worker over loopback sockets: the DNS workers' machinery with a handler
/// that records and never answers.
@Suite("The catch-all UDP worker over loopback sockets")
struct CatchAllUDPWorkerTests {
    static func socket(_ host: String) throws -> UDPListenSocket {
        let address = ListenAddress(IPAddress(host)!, port: 0)
        let descriptor = try UDPSocket.open(address, reusePort: false, receiveBufferBytes: 1 << 20)
        _ = try UDPSocket.recoverOriginalDestination(descriptor, family: address.address.family)
        return UDPListenSocket(descriptor: descriptor, local: ListenAddress(address.address, port: UDPSocket.boundPort(descriptor)))
    }

    @Test("each datagram, IPv4 or IPv6, empty or long, is one udp check-in with its first bytes; none is answered")
    func recordsWithoutAnswering() async throws {
        let v4 = try Self.socket("127.0.0.1")
        let v6 = try Self.socket("::1")
        let zones = try SeizedZones(families: [])
        let targets = SeizedTargets(zones: zones, addresses: [IPAddress("127.0.0.1")!: "seized"])
        let ring = EventRing<CheckIn>(name: "catchall-test", minimumCapacity: 64, filler: .blank)
        let worker = CatchAllUDPWorker(name: "catchall-udp-test", sockets: [v4, v6], ring: ring) {
            CatchAllDatagramHandler(targets: targets, readBytes: 8)
        }
        let peers = [try LoopbackPeer("127.0.0.31"), try LoopbackPeer("::1"), try LoopbackPeer("127.0.0.32")]
        let payloads: [[UInt8]] = [Array("hello".utf8), Array(0..<100), []]
        worker.start()
        for (peer, payload) in zip(peers, payloads) {
            peer.send(payload, to: peer.isIPv6 ? "::1" : "127.0.0.1", port: (peer.isIPv6 ? v6 : v4).local.port)
        }
        for peer in peers {
            #expect(peer.receive(timeoutMilliseconds: 500) == nil, "answered \(peer.host)")
        }
        worker.stop()
        await worker.waitUntilFinished()
        close(v4.descriptor)
        close(v6.descriptor)

        var events: [CheckIn] = []
        ring.drain { events.append($0) }
        events.sort { $0.source < $1.source }
        try #require(events.count == 3)
        for (event, (peer, payload)) in zip(events, zip(peers, payloads).sorted { IPAddress($0.0.host)! < IPAddress($1.0.host)! }) {
            let socket = peer.isIPv6 ? v6 : v4
            #expect(event.service == .udp && event.transport == .udp)
            #expect(event.source == IPAddress(peer.host) && event.sourcePort == peer.port)
            #expect(event.destination == socket.local.address && event.destinationPort == socket.local.port)
            #expect(event.listenerPort == socket.local.port && !event.redirected)
            #expect(event.firstBytes.bytes == Array(payload.prefix(8)) && event.firstBytes.truncated == (payload.count > 8))
            #expect(event.family.text == (peer.isIPv6 ? "" : "seized"))
        }
        #expect(worker.counts.datagrams == 3 && worker.counts.replies == 0 && worker.counts.unsentReplies == 0)
    }
}
