import Foundation
import SinkholeCore
import Testing

@testable import SinkholeFeeds

/// The hex SHA-256 of `token`, as an operator writes it into `token_sha256`.
func tokenHash(_ token: String) -> String {
    SHA256Hasher.hash(token.utf8).map { String(format: "%02x", $0) }.joined()
}

func tokenDigest(_ token: String) -> [UInt8] {
    SHA256Hasher.hash(token.utf8)
}

@Suite("ISP directory")
struct ISPDirectoryTests {
    /// DESIGN.md's example and a second ISP.
    static let twoISPs = """
        - name: example-isp
          asns: [64500, 64501]
          cidrs: ["203.0.113.0/24", "2001:db8:100::/40"]
          abuse: abuse@example-isp.test
          token_sha256: "\(tokenHash("example-token"))"          # SHA-256 (hex) of the ISP's API token
          formats: [shadowserver, jsonl]
        - name: cert.other_2
          asns: [64510]
          abuse: https://cert.other.test/report
          token_sha256: \(tokenHash("other-token").uppercased())
          formats: [jsonl]
        """

    @Test("the DESIGN.md format loads, with every field, formats defaulting to both")
    func loads() throws {
        let scratch = try MappingScratch()
        let directory = try ISPDirectory.load(path: try scratch.write("isps.yaml", Self.twoISPs))
        #expect(directory.isps.count == 2)
        let isp = try #require(directory.isp(named: "example-isp"))
        #expect(isp == ISP(name: "example-isp", asns: [64500, 64501],
                           cidrs: [testCIDR("203.0.113.0/24"), testCIDR("2001:db8:100::/40")],
                           abuse: "abuse@example-isp.test", tokenSHA256: tokenDigest("example-token"),
                           formats: [.shadowserver, .jsonl]))
        #expect(directory.isp(named: "cert.other_2")?.formats == [.jsonl])
        #expect(directory.isp(named: "cert.other_2")?.tokenSHA256 == tokenDigest("other-token"))
        #expect(directory.isp(named: "nobody") == nil)
        let defaulted = try ISPDirectory(yaml: "- {name: a, asns: [1], abuse: x, token_sha256: \(tokenHash("a"))}", file: "d.yaml")
        #expect(defaulted.isps[0].formats == Set(FeedFormat.allCases))
        #expect(try ISPDirectory(yaml: "# no ISPs yet\n", file: "d.yaml").isps.isEmpty)
    }

    @Test("a token finds its ISP by hash; any other digest, of any length, finds none")
    func tokens() throws {
        let directory = try ISPDirectory(yaml: Self.twoISPs, file: "isps.yaml")
        #expect(directory.isp(tokenSHA256: tokenDigest("example-token"))?.name == "example-isp")
        #expect(directory.isp(tokenSHA256: tokenDigest("other-token"))?.name == "cert.other_2")
        #expect(directory.isp(tokenSHA256: tokenDigest("guess")) == nil)
        var oneBitOff = tokenDigest("other-token")
        oneBitOff[31] ^= 1
        #expect(directory.isp(tokenSHA256: oneBitOff) == nil)
        #expect(directory.isp(tokenSHA256: Array(tokenDigest("example-token").prefix(16))) == nil)
        #expect(directory.isp(tokenSHA256: tokenDigest("example-token") + [0]) == nil)
        #expect(directory.isp(tokenSHA256: []) == nil)
    }

    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let yaml: String
        let line: Int
        let keyPath: String
        let message: String
        var testDescription: String { name }
    }

    static let a = tokenHash("a")
    static let b = tokenHash("b")

    @Test("mistakes are reported with file, line and key", arguments: [
        Case(name: "not a list", yaml: "name: x\n", line: 1, keyPath: "", message: "expected a list of ISPs"),
        Case(name: "syntax", yaml: "- name: [x\n", line: 2, keyPath: "", message: "YAML syntax error"),
        Case(name: "unknown key", yaml: "- name: x\n  asns: [1]\n  abuse: x\n  token_sha256: \(a)\n  asn: [2]\n",
             line: 5, keyPath: "[0].asn", message: "unknown key \"asn\""),
        Case(name: "missing token", yaml: "- name: x\n  asns: [1]\n  abuse: x\n", line: 1, keyPath: "[0].token_sha256", message: "missing"),
        Case(name: "short token", yaml: "- name: x\n  asns: [1]\n  abuse: x\n  token_sha256: abc123\n",
             line: 4, keyPath: "[0].token_sha256", message: "\"abc123\" is not 64 hex digits"),
        Case(name: "token not hex", yaml: "- name: x\n  asns: [1]\n  abuse: x\n  token_sha256: \(String(repeating: "g", count: 64))\n",
             line: 4, keyPath: "[0].token_sha256", message: "is not 64 hex digits"),
        Case(name: "unsafe name", yaml: "- name: ../etc\n  asns: [1]\n  abuse: x\n  token_sha256: \(a)\n",
             line: 1, keyPath: "[0].name", message: "\"../etc\" cannot name an ISP"),
        Case(name: "upper-case name", yaml: "- name: Example\n  asns: [1]\n  abuse: x\n  token_sha256: \(a)\n",
             line: 1, keyPath: "[0].name", message: "cannot name an ISP"),
        Case(name: "duplicate name", yaml: "- {name: x, asns: [1], abuse: x, token_sha256: \(a)}\n- {name: x, asns: [2], abuse: y, token_sha256: \(b)}\n",
             line: 2, keyPath: "[1].name", message: "the name \"x\" is already used by entry [0]"),
        Case(name: "duplicate token", yaml: "- {name: x, asns: [1], abuse: x, token_sha256: \(a)}\n- {name: y, asns: [2], abuse: y, token_sha256: \(a.uppercased())}\n",
             line: 2, keyPath: "[1].token_sha256", message: "the same token hash as x"),
        Case(name: "ASN in two ISPs", yaml: "- {name: x, asns: [1, 64500], abuse: x, token_sha256: \(a)}\n- name: y\n  asns:\n    - 7\n    - 64500\n  abuse: y\n  token_sha256: \(b)\n",
             line: 5, keyPath: "[1].asns[1]", message: "AS 64500 already belongs to x"),
        Case(name: "ASN twice", yaml: "- {name: x, asns: [64500, 64500], abuse: x, token_sha256: \(a)}\n",
             line: 1, keyPath: "[0].asns[1]", message: "AS 64500 listed twice for x"),
        Case(name: "AS 0", yaml: "- {name: x, asns: [0], abuse: x, token_sha256: \(a)}\n",
             line: 1, keyPath: "[0].asns[0]", message: "AS 0 is reserved"),
        Case(name: "ASN not a number", yaml: "- {name: x, asns: [AS64500], abuse: x, token_sha256: \(a)}\n",
             line: 1, keyPath: "[0].asns[0]", message: "expected an AS number"),
        Case(name: "same CIDR in two ISPs", yaml: "- {name: x, cidrs: [\"2001:db8::/32\"], abuse: x, token_sha256: \(a)}\n- {name: y, cidrs: [10.0.0.0/8, \"2001:db8::/32\"], abuse: y, token_sha256: \(b)}\n",
             line: 2, keyPath: "[1].cidrs[1]", message: "2001:db8::/32 already belongs to x"),
        Case(name: "CIDR with host bits", yaml: "- {name: x, cidrs: [203.0.113.7/24], abuse: x, token_sha256: \(a)}\n",
             line: 1, keyPath: "[0].cidrs[0]", message: "\"203.0.113.7/24\" is not a CIDR prefix"),
        Case(name: "nothing to match", yaml: "- {name: x, abuse: x, token_sha256: \(a)}\n",
             line: 1, keyPath: "[0]", message: "x has neither asns nor cidrs"),
        Case(name: "unknown format", yaml: "- {name: x, asns: [1], abuse: x, token_sha256: \(a), formats: [csv]}\n",
             line: 1, keyPath: "[0].formats[0]", message: "unknown format \"csv\""),
        Case(name: "no formats", yaml: "- {name: x, asns: [1], abuse: x, token_sha256: \(a), formats: []}\n",
             line: 1, keyPath: "[0].formats", message: "no formats"),
        Case(name: "duplicate key", yaml: "- name: x\n  name: y\n", line: 1, keyPath: "", message: "duplicate key \"name\""),
    ])
    func mistakes(_ test: Case) throws {
        let scratch = try MappingScratch()
        let path = try scratch.write("isps.yaml", test.yaml)
        let error = try #require(throws: ISPDirectoryError.self) { try ISPDirectory.load(path: path) }
        let problem = try #require(error.problems.first)
        #expect(problem.file == path)
        #expect(problem.line == test.line, "\(error)")
        #expect(problem.keyPath == test.keyPath, "\(error)")
        #expect(problem.message.contains(test.message), "\(error)")
        let prefix = test.keyPath.isEmpty ? "\(path):\(test.line):" : "\(path):\(test.line):\(problem.column): \(test.keyPath): "
        #expect(error.description.hasPrefix(prefix), "\(error)")
    }

    @Test("several mistakes are all reported, in line order")
    func several() throws {
        let yaml = "- {name: x, asns: [1], abuse: x, token_sha256: 12}\n- {name: Y, asns: [two], abuse: y, token_sha256: \(Self.b)}\n"
        let error = try #require(throws: ISPDirectoryError.self) { try ISPDirectory(yaml: yaml, file: "isps.yaml") }
        #expect(error.problems.map(\.line) == [1, 2])
        #expect(error.problems.map(\.keyPath) == ["[0].token_sha256", "[1].asns[0]"])
    }

    @Test("an unreadable directory file is one error naming it")
    func unreadable() throws {
        let scratch = try MappingScratch()
        let missing = scratch.directory + "/isps.yaml"
        let error = try #require(throws: ISPDirectoryError.self) { try ISPDirectory.load(path: missing) }
        #expect(error.description == "\(missing): cannot read the ISP directory: no such file")
    }

    @Test("init(isps:) checks what a file would be checked for, naming the entry")
    func inMemory() throws {
        let x = ISP(name: "x", asns: [64500], cidrs: [], abuse: "a", tokenSHA256: tokenDigest("x"))
        var y = ISP(name: "y", asns: [64500], cidrs: [], abuse: "b", tokenSHA256: tokenDigest("x"))
        let error = try #require(throws: ISPDirectoryError.self) { try ISPDirectory(isps: [x, y]) }
        #expect(error.description == "[1].token_sha256: the same token hash as x: every ISP needs its own token\n[1].asns[0]: AS 64500 already belongs to x")
        y.tokenSHA256 = [1, 2, 3]
        y.asns = [64501]
        #expect(throws: ISPDirectoryError.self) { try ISPDirectory(isps: [x, y]) }
        y.tokenSHA256 = tokenDigest("y")
        #expect(try ISPDirectory(isps: [x, y]).isp(tokenSHA256: tokenDigest("y"))?.name == "y")
    }
}
