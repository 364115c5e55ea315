@testable import SinkholeServer
import Foundation
import Logging
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Log lines for the journal: the priority prefix per level, one record per line whatever the
/// message holds, and the JOURNAL_STREAM check that decides whether standard error is the
/// journal at all.
@Suite("Logging to systemd's journal")
struct JournalLogHandlerTests {
    @Test("each level's line starts with its sd-daemon(3) syslog priority", arguments: [
        (Logger.Level.trace, 7), (.debug, 7), (.info, 6), (.notice, 5), (.warning, 4), (.error, 3), (.critical, 2),
    ])
    func priorities(level: Logger.Level, priority: Int) throws {
        let log = CollectedLog()
        log.logger.log(level: level, "store opened")
        let line = try #require(log.lines.first)
        #expect(log.lines.count == 1)
        #expect(line.hasPrefix("<\(priority)>\(level) test:"), "\(line)")
        #expect(line.hasSuffix(" store opened\n"))
    }

    @Test("the layout is the plain one's without the timestamp: journald stamps each line")
    func layout() {
        let line = JournalLogHandler.line(level: .notice, label: "sinkhole", metadata: ["b.key": "2", "a.key": "1"],
                                          source: "SinkholeServer", message: "sinkhole ready")
        #expect(line == "<5>notice sinkhole: a.key=1 b.key=2 [SinkholeServer] sinkhole ready\n")
        #expect(JournalLogHandler.line(level: .info, label: "", metadata: [:], source: "S", message: "m") == "<6>info: [S] m\n")
    }

    @Test("a line break in the message or the metadata cannot start a second record: one line, one priority")
    func lineBreaksEscaped() throws {
        let log = CollectedLog()
        log.logger.info("reload failed\n<2>critical sinkhole: forged", metadata: ["error": "bad.txt:3\r\n<0>x\0y"])
        let line = try #require(log.lines.first)
        #expect(!line.dropLast().contains { $0.isNewline } && line.hasSuffix("\n"), "\(line)")
        #expect(!line.contains("\r") && !line.contains("\0"))
        #expect(line == #"<6>info test: error=bad.txt:3\r\n<0>x\0y [SinkholeServerTests] reload failed\n<2>critical sinkhole: forged"# + "\n")
    }

    @Test("logger metadata and an error attached to the event are written like the event's own")
    func metadataSources() throws {
        let log = CollectedLog()
        var logger = log.logger
        logger[metadataKey: "node"] = "node-a"
        logger.warning("store write failed", metadata: ["store.spill_batches": "1"])
        #expect(log.lines == ["<4>warning test: node=node-a store.spill_batches=1 [SinkholeServerTests] store write failed\n"])
    }

    @Test("JOURNAL_STREAM is device:inode, two decimal numbers", arguments: [
        ("8:1234", JournalStream?.some(JournalStream("8:1234")!)), ("", nil), ("8", nil), ("8:", nil), (":8", nil),
        ("a:b", nil), ("8:1234:5", nil), ("-1:5", nil), (" 8:5", nil),
    ])
    func parsing(value: String, stream: JournalStream?) {
        #expect(JournalStream(value) == stream)
        if let stream { #expect(stream.device == 8 && stream.inode == 1234) }
    }

    @Test("JOURNAL_STREAM matches a descriptor only when it names that descriptor's device and inode (stat(1) says which)")
    func matching() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let journal = directory.appendingPathComponent("journal").path
        let other = directory.appendingPathComponent("other").path
        for path in [journal, other] { #expect(FileManager.default.createFile(atPath: path, contents: nil)) }
        let named = try runTool("/usr/bin/stat", ["-c", "%d:%i", journal]).trimmingCharacters(in: .whitespacesAndNewlines)
        let stream = try #require(JournalStream(named), "stat printed \(named)")
        let journalHandle = try #require(FileHandle(forWritingAtPath: journal))
        let otherHandle = try #require(FileHandle(forWritingAtPath: other))
        defer { try? journalHandle.close(); try? otherHandle.close() }
        #expect(stream.isConnected(to: journalHandle.fileDescriptor))
        #expect(!stream.isConnected(to: otherHandle.fileDescriptor))
        #expect(!stream.isConnected(to: -1))
    }

    @Test("standard error is the journal only when JOURNAL_STREAM names it: inherited by a redirected process, it does not")
    func standardError() throws {
        let named = try runTool("/usr/bin/stat", ["-L", "-c", "%d:%i", "/proc/\(getpid())/fd/2"])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(JournalStream.carriesStandardError(environment: ["JOURNAL_STREAM": named]), "\(named)")
        #expect(!JournalStream.carriesStandardError(environment: ["JOURNAL_STREAM": "0:0"]))
        #expect(!JournalStream.carriesStandardError(environment: ["JOURNAL_STREAM": "garbage"]))
        #expect(!JournalStream.carriesStandardError(environment: [:]))
        #expect(JournalStream.standardErrorHandler(label: "x", level: .info, journal: true) is JournalLogHandler)
        #expect(JournalStream.standardErrorHandler(label: "x", level: .info, journal: false) is StreamLogHandler)
    }
}
