import Foundation
import Logging

/// Log lines for systemd's journal: each record is one line on standard error, starting with
/// its syslog priority as sd-daemon(3) prefixes it (`<6>` for info), so `journalctl -p warning`
/// finds the warnings; no timestamp, since journald stamps every line itself.
///
/// The layout is otherwise `StreamLogHandler`'s (level, label, sorted metadata, source,
/// message), which is what an operator reads without systemd. A line break inside a record (an
/// error quoting a file, a name from the wire) is written as `\n`: journald starts a record at
/// every line break, and an unescaped one would let the rest pose as a record of its own, at
/// the priority it chose.
public struct JournalLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    /// Where a finished line goes (standard error; tests collect them).
    let write: @Sendable (String) -> Void

    public init(label: String, metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider) {
        self.init(label: label, metadataProvider: metadataProvider) { line in
            // As swift-log's StreamLogHandler: one locked fwrite per line, so lines from several
            // threads never interleave, and a failed write (the journal stream gone) is dropped
            // rather than trapping, which FileHandle.write would do.
            guard let stream = standardErrorStream else { return }  // descriptor 2 closed
            flockfile(stream)
            defer { funlockfile(stream) }
            fputs(line, stream)
            fflush(stream)
        }
    }

    init(label: String, metadataProvider: Logger.MetadataProvider? = nil, write: @escaping @Sendable (String) -> Void) {
        self.label = label
        self.metadataProvider = metadataProvider
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, provided in provided } }
        if let explicit = event.metadata { merged.merge(explicit) { _, explicit in explicit } }
        if let error = event.error {
            merged["error.message"] = "\(error)"
            merged["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        write(Self.line(level: event.level, label: label, metadata: merged, source: event.source,
                        message: event.message.description))
    }

    /// One record as the journal gets it: `<priority>level label: key=value … [source] message`,
    /// ending in the one line break.
    static func line(level: Logger.Level, label: String, metadata: Logger.Metadata, source: String,
                     message: String) -> String {
        let pairs = metadata.sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined()
        let text = "\(level)\(label.isEmpty ? "" : " ")\(label):\(pairs) [\(source)] \(message)"
        return "<\(priority(level))>\(escapingLineBreaks(text))\n"
    }

    /// The syslog priority sd-daemon(3) gives each level; swift-log's trace is below debug,
    /// which syslog has no room for.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// `text` on one line: line feed, carriage return and NUL (journald ends a line at each) as
    /// `\n`, `\r` and `\0`.
    static func escapingLineBreaks(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0 == "\n" || $0 == "\r" || $0 == "\0" }) else { return text }
        var escaped = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": escaped.append(contentsOf: #"\n"#.unicodeScalars)
            case "\r": escaped.append(contentsOf: #"\r"#.unicodeScalars)
            case "\0": escaped.append(contentsOf: #"\0"#.unicodeScalars)
            default: escaped.append(scalar)
            }
        }
        return String(escaped)
    }
}

/// Descriptor 2 as a stdio stream of the journal handler's own (C's `stderr` is a mutable global
/// to Swift 6); every line goes through it, flushed as written.
private nonisolated(unsafe) let standardErrorStream = fdopen(2, "w")
