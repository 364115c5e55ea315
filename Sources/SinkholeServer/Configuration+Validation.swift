import SinkholeCore
import Yams

/// The schema: one reader per DESIGN.md section, starting from the defaults and overriding
/// each key the file sets. Ranges are checked here, once, so services can trust their values.
extension ConfigurationReader {
    typealias Config = SinkholeConfiguration

    mutating func configuration(_ root: Node) -> Config {
        var config = Config()
        let keys = ["node", "user", "group", "sinkhole_addresses", "families", "dns", "http", "catch_all", "capture",
                    "ring", "writer", "store", "feeds", "metrics"]
        var groupNode: (Node, String)?
        for (key, value, path) in fields(root, "", allowed: keys) {
            switch key {
            case "node": if let v = node(value, path) { config.node = v }
            case "user": if let v = accountName(value, path) { config.user = v }
            case "group":
                groupNode = (value, path)
                if let v = accountName(value, path) { config.group = v }
            case "sinkhole_addresses": if let v = addresses(value, path) { config.sinkholeAddresses = v }
            case "families": if let v = families(value, path) { config.families = v }
            case "dns": config.dns = dns(value, path)
            case "http": config.http = http(value, path)
            case "catch_all": config.catchAll = catchAll(value, path)
            case "capture": config.capture = capture(value, path)
            case "ring": config.ring = ring(value, path)
            case "writer": config.writer = writer(value, path)
            case "store": config.store = store(value, path)
            case "feeds": config.feeds = feeds(value, path)
            default: config.metrics = metrics(value, path)
            }
        }
        if let (value, path) = groupNode, config.user == nil {
            fail(value, path, "group needs user: the sinkhole drops root to user (and this group) after binding")
        }
        return config
    }

    /// A user or group name as `useradd` accepts it; the account itself is looked up at start
    /// (and by `check-config`), on the host that runs the sinkhole.
    mutating func accountName(_ value: Node, _ path: String) -> String? {
        guard let name = string(value, path) else { return nil }
        let allowed = Self.isPortableName(name)
        guard !name.isEmpty, name.utf8.count <= 32, allowed, !name.hasPrefix("-"),
              !name.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            fail(value, path, "\"\(name)\" is not a user or group name (1 to 32 letters, digits, \".\", \"_\" or \"-\", not all digits)")
            return nil
        }
        return name
    }

    /// The node name goes into export file names (`…-<node>.csv`), so no path separators.
    mutating func node(_ value: Node, _ path: String) -> String? {
        guard let name = string(value, path) else { return nil }
        let allowed = Self.isPortableName(name)
        guard !name.isEmpty, name.utf8.count <= 64, allowed, !name.hasPrefix(".") else {
            fail(value, path, "node name \"\(name)\" must be 1 to 64 letters, digits, \".\", \"_\" or \"-\" (it is used in file names)")
            return nil
        }
        return name
    }

    /// Letters, digits, ".", "_" and "-" only: safe in file names and account names alike.
    static func isPortableName(_ name: String) -> Bool {
        name.utf8.allSatisfy { c in
            (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
                || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "-")
                || c == UInt8(ascii: "_") || c == UInt8(ascii: ".")
        }
    }

    // MARK: - Families

    mutating func families(_ value: Node, _ path: String) -> [Config.Family]? {
        guard let items = items(value, path, of: "families") else { return nil }
        var families: [Config.Family] = []
        var firstNames: [String: Node] = [:]
        var owners: [IPAddress: String] = [:]
        for (item, itemPath) in items {
            guard let (family, nameNode) = family(item, itemPath) else { continue }
            if let first = firstNames[family.name] {
                fail(nameNode, Self.child(itemPath, "name"),
                     "duplicate family \"\(family.name)\" (first at line \(first.mark?.line ?? 0))")
            } else {
                firstNames[family.name] = nameNode
            }
            // A seized address labels check-ins with its family; two owners would be a coin toss.
            for (index, address) in family.addresses.enumerated() {
                if let owner = owners[address], owner != family.name {
                    fail(item["addresses"]?[index] ?? item, "\(itemPath).addresses[\(index)]",
                         "\(address) is already a seized address of family \"\(owner)\"")
                }
                owners[address] = owners[address] ?? family.name
            }
            families.append(family)
        }
        return families
    }

    mutating func family(_ value: Node, _ path: String) -> (Config.Family, Node)? {
        var family = Config.Family(name: "")
        var nameNode: Node?
        var valid = true
        var labelsSomething = false
        let errorsBefore = errors.count
        for (key, value, path) in fields(value, path, allowed: ["name", "domains", "addresses", "sinkhole_addresses"]) {
            switch key {
            case "name":
                nameNode = value
                if let name = familyName(value, path) { family.name = name } else { valid = false }
            case "domains":
                labelsSomething = true
                guard let items = items(value, path, of: "domain list files") else { continue }
                family.domains = items.compactMap { domainList($0.value, $0.path) }
            case "addresses":
                labelsSomething = true
                if let v = addresses(value, path) { family.addresses = v }
            default:
                if Self.isNull(value) { family.sinkholeAddresses = nil }
                else if let v = addresses(value, path) { family.sinkholeAddresses = v }
            }
        }
        guard let nameNode else {
            if case .mapping = value { fail(value, path, "a family needs a \"name\"") }
            return nil
        }
        // Only when nothing else is wrong: a misspelt `domain:` already says what to fix.
        if !labelsSomething && errors.count == errorsBefore {
            fail(value, path, "family \"\(family.name)\" needs \"domains\" or \"addresses\", or it can never label a check-in")
        }
        return valid ? (family, nameNode) : nil
    }

    /// Family names sit in a 32-byte `CheckIn` field and in file names and metrics labels.
    mutating func familyName(_ value: Node, _ path: String) -> String? {
        guard let name = string(value, path) else { return nil }
        let bytes = Array(name.utf8)
        func isLowerOrDigit(_ c: UInt8) -> Bool {
            (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
        }
        if bytes.isEmpty {
            fail(value, path, "family name cannot be empty")
        } else if bytes.count > CheckIn.Limits.family {
            fail(value, path, "family name \"\(name)\" is \(bytes.count) bytes; at most \(CheckIn.Limits.family) fit in a check-in")
        } else if !isLowerOrDigit(bytes[0])
                    || !bytes.allSatisfy({ isLowerOrDigit($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }) {
            fail(value, path, "family name \"\(name)\" must match [a-z0-9][a-z0-9_-]* (lowercase letters, digits, \"_\", \"-\")")
        } else {
            return name
        }
        return nil
    }

    /// A domain list path; only `%Y`, `%m`, `%d` and `%%` are expanded, so any other `%` is a typo.
    mutating func domainList(_ value: Node, _ path: String) -> String? {
        guard let resolved = self.path(value, path) else { return nil }
        var scalars = resolved.unicodeScalars.makeIterator()
        while let c = scalars.next() {
            guard c == "%" else { continue }
            guard let next = scalars.next(), "Ymd%".unicodeScalars.contains(next) else {
                fail(value, path, "domain list path has an unknown \"%\" pattern; only %Y, %m, %d and %% are expanded")
                return nil
            }
        }
        return resolved
    }
}
