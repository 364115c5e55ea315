import SinkholeCore

/// One seized botnet as the DNS responder sees it: its domains and the addresses to answer with.
public struct SeizedFamily: Sendable, Hashable {
    /// The family's label on every check-in (`rustock`); at most `CheckIn.Limits.family` bytes
    /// are kept in an event.
    public var name: String
    /// Seized names in text form; each covers itself and all its subdomains. A trailing dot is
    /// optional, letter case does not matter.
    public var domains: [String]
    /// The sinkhole addresses A and AAAA queries for this family's names get, IPv4 and IPv6
    /// mixed, answered in this order.
    public var answers: [IPAddress]

    public init(name: String, domains: [String], answers: [IPAddress]) {
        self.name = name
        self.domains = domains
        self.answers = answers
    }
}

/// A domain in a seized list that is not a usable name.
public struct InvalidSeizedDomain: Error, Hashable, Sendable, CustomStringConvertible {
    /// What is wrong with it.
    public enum Reason: String, Error, Hashable, Sendable, CaseIterable {
        /// Empty, or only a dot: seizing the root would sinkhole every name.
        case empty
        /// Two dots in a row, or a leading dot.
        case emptyLabel
        /// A label over 63 octets (RFC 1035 §2.3.4).
        case labelTooLong
        /// Over 253 characters without the trailing dot, i.e. over 255 octets on the wire
        /// (RFC 1035 §3.1).
        case nameTooLong
        /// A space, control character, backslash or non-ASCII byte. Lists must hold A-labels
        /// (`xn--…`, RFC 5890), and escapes are not interpreted.
        case invalidCharacter
    }

    /// The family whose list holds the domain.
    public var family: String
    /// The domain as written in the list.
    public var domain: String
    public var reason: Reason

    public init(family: String, domain: String, reason: Reason) {
        self.family = family
        self.domain = domain
        self.reason = reason
    }

    public var description: String {
        "invalid seized domain \"\(domain)\" in family \(family): \(reason.explanation)"
    }
}

extension InvalidSeizedDomain.Reason {
    /// The reason in words, for an operator reading an error about a list file.
    public var explanation: String {
        switch self {
        case .empty: "is empty (seizing the root would sinkhole every name)"
        case .emptyLabel: "has an empty label (two dots in a row, or a leading dot)"
        case .labelTooLong: "has a label longer than 63 characters"
        case .nameTooLong: "is longer than 253 characters"
        case .invalidCharacter: "has a space, control character, backslash or non-ASCII byte (write IDNs as xn--)"
        }
    }
}

extension SeizedZones {
    /// Why `domain` cannot be a seized name, or nil when it can. The one rule for every list:
    /// list loaders call it to report file and line, and `init(families:)` applies the same.
    public static func problem(with domain: some StringProtocol) -> InvalidSeizedDomain.Reason? {
        do {
            _ = try normalisedWire(domain)
            return nil
        } catch {
            return error
        }
    }

    /// The lowercased wire form of a domain from a list, without the root label.
    static func normalisedWire(_ domain: some StringProtocol) throws(InvalidSeizedDomain.Reason) -> [UInt8] {
        var text = Substring(domain)
        var wire: [UInt8] = []
        try text.withUTF8 { bytes in
            Result { () throws(InvalidSeizedDomain.Reason) in try appendWire(normalising: bytes, to: &wire) }
        }.get()
        return wire
    }

    /// Appends the lowercased wire form of `text` (a name in dotted text, trailing dot
    /// optional, no escapes), without the root label, to `wire`. On a throw `wire` may end in
    /// part of the name: the caller takes it back off.
    ///
    /// Names are stored and matched in lowercase ASCII only (RFC 4343 §3: DNS case folding is
    /// ASCII-only), so `EVIL.example.` and `evil.example` are the same seized name. The checks
    /// run in text order, so the first fault in the text is the one reported.
    static func appendWire(
        normalising text: UnsafeBufferPointer<UInt8>, to wire: inout [UInt8]
    ) throws(InvalidSeizedDomain.Reason) {
        var count = text.count
        if count > 0, text[count - 1] == UInt8(ascii: ".") { count -= 1 }
        guard count > 0 else { throw .empty }
        guard count <= 253 else { throw .nameTooLong }
        var lengthIndex = wire.count
        wire.append(0)
        var labelLength = 0
        for byte in text[..<count] {
            if byte == UInt8(ascii: ".") {
                guard labelLength > 0 else { throw .emptyLabel }
                wire[lengthIndex] = UInt8(labelLength)
                lengthIndex = wire.count
                wire.append(0)
                labelLength = 0
                continue
            }
            guard byte >= 0x21, byte <= 0x7E, byte != UInt8(ascii: "\\") else { throw .invalidCharacter }
            labelLength += 1
            guard labelLength <= DNSName.maximumLabelLength else { throw .labelTooLong }
            wire.append(asciiLowercased(byte))
        }
        guard labelLength > 0 else { throw .emptyLabel }
        wire[lengthIndex] = UInt8(labelLength)
    }

    @inline(__always)
    static func asciiLowercased(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }
}
