import NIOCore
import SinkholeCore
import SinkholeDNS
import Testing

@Suite("Socket addresses")
struct SocketAddressTests {
    @Test("socket addresses convert to sinkhole addresses without text, unmapping IPv4",
          arguments: [("198.51.100.1", 53, "198.51.100.1"), ("2001:db8::1", 65535, "2001:db8::1"),
                      ("::ffff:203.0.113.1", 1, "203.0.113.1"), ("::1", 0, "::1")])
    func socketAddressConversion(_ host: String, _ port: Int, _ expected: String) throws {
        let endpoint = try #require(try SocketAddress(ipAddress: host, port: port).sinkholeEndpoint)
        #expect(endpoint.address == IPAddress(expected)!)
        #expect(endpoint.port == UInt16(port))
    }
}
