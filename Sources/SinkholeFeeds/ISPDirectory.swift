import SinkholeCore

/// The ISPs and CERTs that receive feeds, checked as a whole: names, token hashes, ASNs and
/// CIDRs each belong to one ISP only, so which ISP sees an address never depends on the
/// order of the file.
public struct ISPDirectory: Sendable {
    public let isps: [ISP]
    private let indexByName: [String: Int]

    /// Checks `isps` as `load(path:)` checks a file; problems name the entry (`[1].asns[0]`).
    public init(isps: [ISP]) throws(ISPDirectoryError) {
        let conflicts = Self.validate(isps)
        guard conflicts.isEmpty else {
            throw ISPDirectoryError(conflicts.map {
                .init(file: "", line: 0, column: 0, keyPath: $0.field.keyPath(isp: $0.isp), message: $0.message)
            })
        }
        self.init(checked: isps)
    }

    init(checked isps: [ISP]) {
        self.isps = isps
        indexByName = Dictionary(uniqueKeysWithValues: isps.enumerated().map { ($0.element.name, $0.offset) })
    }

    /// The ISP called `name` (as `sinkhole export --isp NAME` names it); nil when none is.
    public func isp(named name: String) -> ISP? {
        indexByName[name].map { isps[$0] }
    }

    /// The ISP whose token hash is `digest`, comparing against every ISP in full whatever
    /// matches, so the time taken says nothing about which ISP (or how many bytes) matched.
    /// The hashes are of random tokens, so this is care rather than necessity; it costs
    /// 32 byte operations per ISP.
    public func isp(tokenSHA256 digest: [UInt8]) -> ISP? {
        // A digest of the wrong length is compared like any other and simply cannot match.
        let lengthDiffers: UInt8 = digest.count == 32 ? 0 : 1
        var padded = [UInt8](repeating: 0, count: 32)
        for i in 0..<min(32, digest.count) { padded[i] = digest[i] }
        var found = -1
        for (index, isp) in isps.enumerated() {
            var difference = lengthDiffers
            for i in 0..<32 { difference |= isp.tokenSHA256[i] ^ padded[i] }
            // All ones when difference == 0, else all zeros, without a branch on the secret.
            let match = (Int(difference) - 1) >> 8
            found = (found & ~match) | (index & match)
        }
        return found >= 0 ? isps[found] : nil
    }

    // MARK: - Validation

    /// Which part of an ISP entry a problem is about.
    enum Field {
        case entry, name, abuse, token, formats
        case asn(Int)
        case cidr(Int)

        func keyPath(isp: Int) -> String {
            switch self {
            case .entry: "[\(isp)]"
            case .name: "[\(isp)].name"
            case .abuse: "[\(isp)].abuse"
            case .token: "[\(isp)].token_sha256"
            case .formats: "[\(isp)].formats"
            case .asn(let item): "[\(isp)].asns[\(item)]"
            case .cidr(let item): "[\(isp)].cidrs[\(item)]"
            }
        }
    }

    struct Conflict {
        var isp: Int
        var field: Field
        var message: String
    }

    /// The longest ISP name: a directory name, and a column in file names and logs.
    static let maxNameLength = 63

    /// Every problem with `isps`, each entry's own first, then what two entries share.
    static func validate(_ isps: [ISP]) -> [Conflict] {
        var conflicts: [Conflict] = []
        var nameOwner: [String: Int] = [:]
        var tokenOwner: [[UInt8]: Int] = [:]
        var asnOwner: [UInt32: Int] = [:]
        var cidrOwner: [CIDR: Int] = [:]
        func owner(_ index: Int, _ other: Int) -> String {
            index == other ? "listed twice for \(isps[index].name)" : "already belongs to \(isps[other].name)"
        }
        for (index, isp) in isps.enumerated() {
            let safe = isp.name.utf8.allSatisfy { c in
                (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
                    || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
            }
            // The first character a letter or digit: no `.`, `..` or hidden directory.
            let first = isp.name.utf8.first ?? 0
            let startsWell = (first >= UInt8(ascii: "a") && first <= UInt8(ascii: "z")) || (first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9"))
            if !safe || !startsWell || isp.name.utf8.count > maxNameLength {
                conflicts.append(.init(isp: index, field: .name, message: "\"\(isp.name)\" cannot name an ISP: it names its export directory, so 1 to \(maxNameLength) of a-z 0-9 . _ - starting with a letter or digit"))
            } else if let other = nameOwner[isp.name] {
                conflicts.append(.init(isp: index, field: .name, message: "the name \"\(isp.name)\" is already used by entry [\(other)]"))
            } else {
                nameOwner[isp.name] = index
            }
            if isp.abuse.isEmpty || isp.abuse.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
                conflicts.append(.init(isp: index, field: .abuse, message: "the abuse contact must be non-empty text on one line"))
            }
            if isp.tokenSHA256.count != 32 {
                conflicts.append(.init(isp: index, field: .token, message: "a SHA-256 is 32 bytes, found \(isp.tokenSHA256.count)"))
            } else if let other = tokenOwner[isp.tokenSHA256] {
                // Two ISPs sharing a token would each see the other's customers.
                conflicts.append(.init(isp: index, field: .token, message: "the same token hash as \(isps[other].name): every ISP needs its own token"))
            } else {
                tokenOwner[isp.tokenSHA256] = index
            }
            if isp.formats.isEmpty {
                conflicts.append(.init(isp: index, field: .formats, message: "no formats: list shadowserver, jsonl or both"))
            }
            if isp.asns.isEmpty && isp.cidrs.isEmpty {
                conflicts.append(.init(isp: index, field: .entry, message: "\(isp.name) has neither asns nor cidrs, so it would receive nothing"))
            }
            for (item, asn) in isp.asns.enumerated() {
                if asn == 0 || asn == PrefixTable.uncovered {
                    // AS 0 is what an unrouted address maps to (RFC 7607): it belongs to no one.
                    conflicts.append(.init(isp: index, field: .asn(item), message: "AS \(asn) is reserved (RFC 7607, RFC 7300) and cannot belong to an ISP"))
                } else if let other = asnOwner[asn] {
                    conflicts.append(.init(isp: index, field: .asn(item), message: "AS \(asn) \(owner(index, other))"))
                } else {
                    asnOwner[asn] = index
                }
            }
            for (item, cidr) in isp.cidrs.enumerated() {
                // Nested ranges are fine (the most specific wins); the same range in two places
                // would leave the winner to the file's order.
                if let other = cidrOwner[cidr] {
                    conflicts.append(.init(isp: index, field: .cidr(item), message: "\(cidr) \(owner(index, other))"))
                } else {
                    cidrOwner[cidr] = index
                }
            }
        }
        return conflicts
    }
}
