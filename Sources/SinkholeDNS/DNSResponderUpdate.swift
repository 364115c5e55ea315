import NIOCore

/// A new responder for a channel to use from now on, sent through its pipeline as a user
/// inbound event when the seized names are reloaded (SIGHUP).
///
/// Each handler swaps on its own event loop between two messages, so a query is answered
/// wholly by the old responder or wholly by the new one, never a mix, and none is dropped.
public struct DNSResponderUpdate: Sendable {
    public let responder: DNSResponder

    public init(responder: DNSResponder) {
        self.responder = responder
    }
}
