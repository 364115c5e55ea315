// sinkhole-bench: throughput of the EventRing and of the Writer into SQLite, each run beside its
// anchor in the same process, printed as a Markdown table. Absolute numbers depend on the
// machine; the ratios are what to compare across machines (STYLE.md: never gate CI on them).
// Then the allocations per query of the DNS UDP path and per packet of the capture path, which
// do not depend on the machine: the run fails when either path allocates, as the issues ask
// ("no allocation per query", "no allocation per packet").
//
// Then the ASN map (prefix2as load time and lookups/s) beside a hash-per-length anchor.
//
// Usage: sinkhole-bench [ring|writer|postgres|dns|capture|asnmap|all] [--scale F] [--only WORDS] [--no-anchor]
//   postgres: the writer into a throwaway PostgreSQL cluster it starts (needs the postgresql
//   package, which `make deps` installs); not part of `all`.
//   --scale shrinks every workload (e.g. 0.05 under valgrind); default 1.
//   --only runs the writer workloads whose name contains WORDS; --no-anchor skips their
//   anchors (both for profiling one workload with perf or callgrind).
import CMallocCounter
import Foundation
import SinkholeCore
import SinkholeDNS

let usage = """
    usage: sinkhole-bench [ring|writer|postgres|dns|capture|asnmap|all] [--scale F] [--only WORDS] [--no-anchor]
      ring      the EventRing against a Mutex<Deque>          writer    the writer into SQLite
      postgres  the writer into a throwaway PostgreSQL        dns       allocations per DNS query
      capture   allocations and ns per captured packet        asnmap    prefix2as load and lookups
      all       everything but postgres (the default)
      --scale F   shrink every workload, F in (0, 1] (0.05 under valgrind)
      --only W    only the writer workloads whose name contains W
      --no-anchor skip the writer workloads' anchors

    """

/// A usage error: said on stderr with the usage, exit status 2 (no crash report for a typo);
/// with no message (--help), the usage on stdout and exit status 0.
func usageError(_ message: String?) -> Never {
    guard let message else {
        FileHandle.standardOutput.write(Data(usage.utf8))
        exit(0)
    }
    FileHandle.standardError.write(Data("sinkhole-bench: \(message)\n".utf8) + Data(usage.utf8))
    exit(2)
}

var which = "all"
var scale = 1.0
var only: String? = nil
var anchors = true
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "ring", "writer", "postgres", "dns", "capture", "asnmap", "all": which = argument
    case "--scale":
        guard let value = arguments.popFirst().flatMap(Double.init), value > 0, value <= 1 else {
            usageError("--scale takes a number in (0, 1]")
        }
        scale = value
    case "--only":
        guard let words = arguments.popFirst() else { usageError("--only takes the words of a workload's name") }
        only = words
    case "--no-anchor": anchors = false
    case "--help", "-h": usageError(nil)
    default: usageError("unknown argument \(argument)")
    }
}

@MainActor func scaled(_ n: Int, multipleOf unit: Int = 1) -> Int {
    max(unit, Int(Double(n) * scale) / unit * unit)
}

func log(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

func rate(_ value: Double) -> String {
    value >= 1e6 ? String(format: "%.2fM", value / 1e6) : String(format: "%.0fk", value / 1e3)
}

func ratio(_ value: Double) -> String { String(format: "%.2f×", value) }

var verdicts: [String] = []

// MARK: - 1. EventRing against Mutex<Deque>

if which == "all" || which == "ring" {
    // 65,536 slots (about 24 MiB of CheckIn per ring): enough that a consumer briefly descheduled
    // on two cores does not force drops; the Mutex<Deque> anchor is bounded the same.
    let capacity = 1 << 16
    let total = scaled(20_000_000)
    print("| queue | consumer | producers | events consumed | dropped | seconds | events/s | ring ÷ mutex |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    // Batching: the consumer pauses 50 µs whenever less than a batch was waiting, as the writer
    // does (it drains, commits, and sleeps when idle) — the configuration the targets are for.
    // Spinning: the consumer re-polls at once, the worst case for cache-line traffic between
    // the two cores, reported so a change in the ring's index handling shows up.
    for batching in [true, false] {
    for producers in [1, 2] {
        let each = total / producers
        log("ring: \(producers) producer(s), \(each) events each")
        let ring = runQueue(RingQueue(producers: producers, capacity: capacity), producers: producers,
                            eventsPerProducer: each, batchingConsumer: batching)
        log("mutex: \(producers) producer(s), \(each) events each")
        let mutex = runQueue(MutexDequeQueue(capacity: capacity), producers: producers, eventsPerProducer: each, batchingConsumer: batching)
        let r = ring.eventsPerSecond / mutex.eventsPerSecond
        for (name, run, shown) in [("EventRing", ring, ratio(r)), ("Mutex<Deque> (anchor)", mutex, "")] {
            print("| \(name) | \(batching ? "batching" : "spinning") | \(producers) | \(run.consumed) | \(run.dropped) | \(String(format: "%.2f", run.seconds)) | \(rate(run.eventsPerSecond)) | \(shown) |")
        }
        guard batching else { continue }
        if producers == 1 {
            verdicts.append("ring, 1 producer: \(rate(ring.eventsPerSecond)) events/s (target ≥ 20M: \(ring.eventsPerSecond >= 20e6 ? "met" : "missed")), \(ratio(r)) the mutex queue (target ≥ 5×: \(r >= 5 ? "met" : "missed"))")
        } else {
            verdicts.append("ring, 2 producers: \(rate(ring.eventsPerSecond)) events/s, \(ratio(r)) the mutex queue (no target)")
        }
    }
    }
    print("")
}

// MARK: - 2. Writer into SQLite against raw inserts

if which == "all" || which == "writer" {
    let uniqueCount = scaled(524_288, multipleOf: 4096)
    let dnsKeys = scaled(20_480, multipleOf: 256)
    let workloads: [(WriterWorkload, anchor: (String) throws -> (rows: Int, seconds: Double), target: Double, metric: String)] = [
        (WriterWorkload(name: "1:1 sessions (tcp, 8 per bot)", count: uniqueCount, table: "checkins",
                        event: { Fixtures.uniqueSession($0, ratePerSecond: WorkloadRates.unique) }),
         { try RawAnchor.sessions(count: uniqueCount, path: $0) }, 150_000, "unique rows/s"),
        (WriterWorkload(name: "100:1 DNS, repeats clustered", count: dnsKeys * DNSWorkload.repeats, table: "dns_queries",
                        event: { DNSWorkload.event($0, keys: dnsKeys, spread: false) }),
         { try RawAnchor.dnsQueries(keys: dnsKeys, path: $0) }, 500_000, "events/s"),
        (WriterWorkload(name: "100:1 DNS, repeats spread over the run", count: dnsKeys * DNSWorkload.repeats, table: "dns_queries",
                        event: { DNSWorkload.event($0, keys: dnsKeys, spread: true) }),
         { try RawAnchor.dnsQueries(keys: dnsKeys, path: $0) }, 500_000, "events/s"),
        (WriterWorkload(name: "100:1 DNS, repeats spread over the run, dns_batch_size 32768", count: dnsKeys * DNSWorkload.repeats,
                        table: "dns_queries", event: { DNSWorkload.event($0, keys: dnsKeys, spread: true) }, dnsBatchSize: 32_768),
         { try RawAnchor.dnsQueries(keys: dnsKeys, path: $0) }, 500_000, "events/s"),
    ]
    print("| writer workload | events | rows stored | seconds | events/s | rows/s | raw INSERT rows/s (anchor) | writer ÷ raw (rows/s) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (workload, anchor, target, metric) in workloads where only.map({ workload.name.contains($0) }) ?? true {
        log("writer: \(workload.name), \(workload.count) events")
        let scratch = try ScratchDatabase()
        let run = try await runWriter(workload, path: scratch.path)
        scratch.remove()
        log("raw anchor: \(workload.name)")
        let anchorScratch = try ScratchDatabase()
        let raw = anchors ? try anchor(anchorScratch.path) : (rows: 0, seconds: .nan)
        anchorScratch.remove()
        let rawRate = Double(raw.rows) / raw.seconds
        print("| \(workload.name) | \(run.events) | \(run.rows) | \(String(format: "%.2f", run.seconds)) | \(rate(run.eventsPerSecond)) | \(rate(run.rowsPerSecond)) | \(rate(rawRate)) | \(ratio(run.rowsPerSecond / rawRate)) |")
        let measured = metric == "events/s" ? run.eventsPerSecond : run.rowsPerSecond
        verdicts.append("writer, \(workload.name): \(rate(measured)) \(metric) (target ≥ \(rate(target)): \(measured >= target ? "met" : "missed by \(String(format: "%.0f", (1 - measured / target) * 100))%"))")
    }
    print("")
}

// MARK: - 2b. Writer into PostgreSQL against one-row INSERTs

if which == "postgres" {
    let results = try await PostgresWriterBenchmark.run(uniqueCount: scaled(524_288, multipleOf: 4096),
                                                        dnsKeys: scaled(20_480, multipleOf: 256), only: only, anchors: anchors)
    print("| writer workload, PostgreSQL | events | rows stored | seconds | events/s | rows/s | one-row INSERT rows/s (anchor) | writer ÷ anchor (rows/s) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results {
        print("| \(r.workload.name) | \(r.run.events) | \(r.run.rows) | \(String(format: "%.2f", r.run.seconds)) | \(rate(r.run.eventsPerSecond)) | \(rate(r.run.rowsPerSecond)) | \(rate(r.anchorRowsPerSecond)) | \(ratio(r.run.rowsPerSecond / r.anchorRowsPerSecond)) |")
        let measured = r.metric == "events/s" ? r.run.eventsPerSecond : r.run.rowsPerSecond
        verdicts.append("writer into PostgreSQL, \(r.workload.name): \(rate(measured)) \(r.metric) (target ≥ \(rate(r.target)): \(measured >= r.target ? "met" : "missed by \(String(format: "%.0f", (1 - measured / r.target) * 100))%"))")
    }
    print("")
}

// MARK: - 3. Allocations per query on the DNS UDP path

var allocatingKinds: [String] = []
var maximumAllocations = 0.0
if which == "all" || which == "dns" {
    let responder = dnsPathResponder()
    let queries = scaled(200_000)
    print("| DNS UDP path, per query | rate limiting | queries | replies | rate-limited | allocations/query | frees/query | ns/query |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for rateLimit in [ResponseRateLimiter.Settings(responsesPerSecond: 0), ResponseRateLimiter.Settings()] {
        for query in DNSPathQuery.mix {
            log("dns: \(query.name), rate limiting \(rateLimit.responsesPerSecond > 0 ? "on" : "off"), \(queries) queries")
            let run = runDNSPath(query, responder: responder, rateLimit: rateLimit, queries: queries, warmUp: 2048)
            let rrl = rateLimit.responsesPerSecond > 0 ? "on (20/s)" : "off"
            print("| \(query.name) | \(rrl) | \(run.queries) | \(run.replies) | \(run.rateLimited) | \(String(format: "%.2f", run.allocationsPerQuery)) | \(String(format: "%.2f", run.freesPerQuery)) | \(String(format: "%.0f", run.nanosecondsPerQuery)) |")
            if run.allocations > 0 || run.frees > 0 { allocatingKinds.append("\(query.name) (rate limiting \(rrl))") }
            maximumAllocations = max(maximumAllocations, run.allocationsPerQuery)
        }
    }
    print("")
    if sinkhole_malloc_counter_available() == 0 {
        verdicts.append("DNS UDP path: allocations not counted (the counter replaces glibc's malloc only)")
    } else {
        let runs = DNSPathQuery.mix.count * 2
        verdicts.append("DNS UDP path: \(String(format: "%.2f", maximumAllocations)) allocations per query at most, over \(DNSPathQuery.mix.count) kinds of query with rate limiting off and on (target 0: \(allocatingKinds.isEmpty ? "met" : "missed in \(allocatingKinds.count) of \(runs) runs"))")
    }
}

// MARK: - 4. Allocations per packet on the capture path

var allocatingFrames: [String] = []
if which == "all" || which == "capture" {
    let checkIns = capturePathCheckIns()
    let packets = scaled(100_000)
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sinkhole-bench-\(getpid())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    var maximum = 0.0
    print("| capture path, per packet | packets | events | allocations/packet | frees/packet | ns/packet |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for kind in CaptureFrames.kinds {
        log("capture: \(kind.name), \(packets) packets")
        let run = try runCapturePath(kind, checkIns: checkIns, packets: packets, warmUp: 2048, directory: directory)
        print("| \(kind.name) | \(run.packets) | \(run.events) | \(String(format: "%.2f", run.allocationsPerPacket)) | \(String(format: "%.2f", run.freesPerPacket)) | \(String(format: "%.0f", run.nanosecondsPerPacket)) |")
        // Every frame is a check-in: a packet that decoded to nothing would measure nothing.
        if run.events != run.packets { fatalError("capture path: \(kind.name): \(run.events) events of \(run.packets) packets") }
        if run.allocations > 0 || run.frees > 0 { allocatingFrames.append(kind.name) }
        maximum = max(maximum, run.allocationsPerPacket)
    }
    print("")
    if sinkhole_malloc_counter_available() == 0 {
        verdicts.append("capture path: allocations not counted (the counter replaces glibc's malloc only)")
    } else {
        verdicts.append("capture path: \(String(format: "%.2f", maximum)) allocations per packet at most, over \(CaptureFrames.kinds.count) kinds of frame (target 0: \(allocatingFrames.isEmpty ? "met" : "missed for \(allocatingFrames.count)"))")
    }
}

// MARK: - 5. ASN map: prefix2as load and longest-prefix lookups

if which == "all" || which == "asnmap" {
    verdicts += try runASNMapBenchmark(v4Count: scaled(1_000_000), v6Count: scaled(200_000), lookups: scaled(2_000_000))
}

for verdict in verdicts { print("- \(verdict)") }
// Counts, unlike times, are the same on every machine: an allocation on the DNS path or the
// capture path fails the run (and `make test`, which runs this at 1% scale).
if !allocatingKinds.isEmpty {
    log("sinkhole-bench: the DNS UDP path allocates per query: \(allocatingKinds.joined(separator: "; "))")
}
if !allocatingFrames.isEmpty {
    log("sinkhole-bench: the capture path allocates per packet: \(allocatingFrames.joined(separator: "; "))")
}
if !allocatingKinds.isEmpty || !allocatingFrames.isEmpty { exit(1) }
