import Foundation

/// Knot's `kdig` next to BIND's `dig`: two independent client implementations read the
/// sinkhole's replies, so a quirk one of them tolerates cannot hide.
///
/// `kdig` sends no EDNS by default (as `dig` does with the `+noedns` that `dig(…)` passes);
/// `+bufsize=B` or `+edns` turn it on. It retries over TCP on a truncated reply unless given
/// `+ignore`.
func kdig(server: String, port: UInt16, name: String, type: String = "A", options: [String] = []) throws -> DigResult {
    // One try, so a query is sent exactly once and the store's counts can be checked.
    let output = try runTool("/usr/bin/kdig", ["@\(server)", "-p", "\(port)", "+retry=0", "+timeout=3"]
                             + options + [name, type])
    var result = DigResult(status: nil, flags: [], answers: [], output: output)
    var inAnswer = false
    for line in output.split(separator: "\n", omittingEmptySubsequences: false) {
        // ";; ->>HEADER<<- opcode: QUERY; status: NOERROR; id: 4841"
        if line.hasPrefix(";; ->>HEADER<<-"), let range = line.range(of: "status: ") {
            result.status = String(line[range.upperBound...].prefix { $0 != ";" && $0 != "," })
        }
        // ";; Flags: qr aa rd; QUERY: 1; …" (the EDNS line's "flags:" is lower case)
        if line.hasPrefix(";; Flags: ") {
            let text = line.dropFirst(";; Flags: ".count).prefix { $0 != ";" }
            result.flags = Set(text.split(separator: " ").map(String.init))
        }
        if line.hasPrefix(";; ANSWER SECTION:") { inAnswer = true; continue }
        if inAnswer {
            if line.isEmpty { inAnswer = false; continue }
            result.answers.append(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init).joined(separator: " "))
        }
    }
    return result
}

/// What either tool printed about EDNS and the transport of the reply it shows.
extension DigResult {
    /// The reply's OPT record (version and advertised UDP payload size), or nil when it had
    /// none. `dig`: "; EDNS: version: 0, flags:; udp: 1232"; `kdig`: ";; Version: 0; flags: ;
    /// UDP size: 1232 B; ext-rcode: NOERROR".
    var opt: (version: Int, udpSize: Int)? {
        for line in output.split(separator: "\n") {
            let text: Substring
            if line.hasPrefix("; EDNS: version: ") {
                text = line.dropFirst("; EDNS: version: ".count)
            } else if line.hasPrefix(";; Version: ") && line.contains("UDP size: ") {
                text = line.dropFirst(";; Version: ".count)
            } else {
                continue
            }
            let version = Int(text.prefix { $0.isNumber }) ?? -1
            guard let size = text.range(of: "udp: ") ?? text.range(of: "UDP size: ") else { return (version, -1) }
            return (version, Int(text[size.upperBound...].prefix { $0.isNumber }) ?? -1)
        }
        return nil
    }

    /// "UDP" or "TCP": how the reply shown arrived (`dig`: ";; SERVER: …(127.0.0.1) (TCP)",
    /// `kdig`: ";; From 127.0.0.1@53(TCP) in 1.0 ms"), nil when there was none.
    var transport: String? {
        for line in output.split(separator: "\n") where line.hasPrefix(";; SERVER: ") || line.hasPrefix(";; From ") {
            if line.contains("(TCP)") { return "TCP" }
            if line.contains("(UDP)") { return "UDP" }
        }
        return nil
    }

    /// Whether the tool got a truncated UDP reply and asked again over TCP.
    var retriedOverTCP: Bool {
        output.contains(";; Truncated, retrying in TCP mode.")  // dig
            || (output.contains("truncated reply from") && output.contains("retrying over TCP"))  // kdig
    }

    /// The header's authority count (both tools print "AUTHORITY: n").
    var authorityCount: Int? {
        output.range(of: "AUTHORITY: ").map { Int(output[$0.upperBound...].prefix { $0.isNumber }) ?? -1 }
    }
}
