#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SinkholeCore

/// The files of one export, in one directory per ISP: each is written beside its final name,
/// fsynced and renamed into place, and each directory's `MANIFEST.sha256` (the `sha256sum -c`
/// format) is rewritten to cover every export file there, so an ISP never reads a half-written
/// file and can check what it fetched.
///
/// Memory stays flat however many rows a file gets: each file buffers at most `bufferLimit`
/// bytes, and at most `openLimit` files are open at once (an `--all` export writes a few files
/// for each of thousands of ISPs); a file pushed out is reopened for appending when its next
/// row comes.
public final class ExportFiles {
    /// Pending files by their directory and name.
    private var files: [FileKey: PendingFile] = [:]
    private var useClock = 0
    private var openCount = 0
    private let openLimit: Int
    static let bufferLimit = 64 * 1024
    /// Well under the 1024 descriptors a default `ulimit -n` allows.
    public static let defaultOpenLimit = 64

    public init(openLimit: Int = ExportFiles.defaultOpenLimit) {
        self.openLimit = max(1, openLimit)
    }

    struct FileKey: Hashable, Comparable {
        var directory: String
        var name: String
        static func < (a: FileKey, b: FileKey) -> Bool { (a.directory, a.name) < (b.directory, b.name) }
    }

    /// Appends `bytes` to the file `name` in `directory` (created, with its parents, and
    /// `header` written first, when new in this export).
    public func append(_ bytes: [UInt8], directory: String, name: String, header: [UInt8] = []) throws(ExportError) {
        let key = FileKey(directory: directory, name: name)
        useClock += 1
        if files[key] == nil {
            try Self.makeDirectories(directory)
            try closeLeastRecentlyUsed()
            var file = PendingFile(finalPath: directory + "/" + name, temporaryPath: directory + "/." + name + ".partial")
            file.descriptor = try Self.open(file.temporaryPath, flags: O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC)
            openCount += 1
            file.buffer = header
            files[key] = file
        }
        files[key]!.lastUse = useClock
        files[key]!.buffer.append(contentsOf: bytes)
        if files[key]!.buffer.count >= Self.bufferLimit { try flush(key) }
    }

    /// The names this export wrote in `directory`, sorted.
    public func names(in directory: String) -> [String] {
        files.keys.filter { $0.directory == directory }.map(\.name).sorted()
    }

    /// Makes sure `name` exists even with no rows (the day's infections file says "nothing
    /// found" by being empty, not by being absent).
    public func touch(directory: String, name: String, header: [UInt8] = []) throws(ExportError) {
        try append([], directory: directory, name: name, header: header)
    }

    private func flush(_ key: FileKey) throws(ExportError) {
        guard files[key] != nil, !files[key]!.buffer.isEmpty else { return }
        if files[key]!.descriptor < 0 {
            try closeLeastRecentlyUsed()
            files[key]!.descriptor = try Self.open(files[key]!.temporaryPath, flags: O_WRONLY | O_APPEND | O_CLOEXEC)
            openCount += 1
        }
        let file = files[key]!
        try Self.write(file.descriptor, file.buffer, path: file.temporaryPath)
        files[key]!.buffer = []
    }

    private func closeLeastRecentlyUsed() throws(ExportError) {
        guard openCount >= openLimit else { return }
        guard let victim = files.filter({ $0.value.descriptor >= 0 }).min(by: { $0.value.lastUse < $1.value.lastUse })?.key else { return }
        try flush(victim)
        close(files[victim]!.descriptor)
        openCount -= 1
        files[victim]!.descriptor = -1
    }

    /// Flushes, fsyncs and renames every file into place, removes `staleNames` (this day's
    /// files an earlier run wrote that this one did not), rewrites the manifest and fsyncs the
    /// directory. Returns the final names written.
    /// Commits `directory`: flushes, fsyncs and renames its files into place, removes those of
    /// `staleNames` this export did not write (this day's files an earlier run wrote), rewrites
    /// the manifest and fsyncs the directory. Returns the names written.
    @discardableResult
    public func commit(directory: String, removing staleNames: [String] = []) throws(ExportError) -> [String] {
        let keys = files.keys.filter { $0.directory == directory }.sorted()
        for key in keys {
            if files[key]!.descriptor < 0 {
                files[key]!.descriptor = try Self.open(files[key]!.temporaryPath, flags: O_WRONLY | O_APPEND | O_CLOEXEC)
                openCount += 1
            }
            try flush(key)
            let file = files.removeValue(forKey: key)!
            guard fsync(file.descriptor) == 0 else { throw ExportError.io("fsync", file.temporaryPath, errno) }
            close(file.descriptor)
            openCount -= 1
            guard rename(file.temporaryPath, file.finalPath) == 0 else {
                throw ExportError.io("rename", file.temporaryPath, errno)
            }
        }
        let written = keys.map(\.name)
        for name in staleNames where !written.contains(name) {
            if unlink(directory + "/" + name) != 0 && errno != ENOENT { throw ExportError.io("unlink", directory + "/" + name, errno) }
        }
        try Self.makeDirectories(directory)
        try Self.writeManifest(directory)
        try Self.syncDirectory(directory)
        return written
    }

    /// Deletes the partial files of an export that failed, leaving the directories as they were.
    public func abandon() {
        for (_, file) in files {
            if file.descriptor >= 0 { close(file.descriptor) }
            unlink(file.temporaryPath)
        }
        openCount = 0
        files = [:]
    }

    /// Export files already in `path` (`.csv`, `.jsonl`), sorted.
    public static func existingExportFiles(in path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if !name.hasPrefix("."), name.hasSuffix(".csv") || name.hasSuffix(".jsonl") { names.append(name) }
        }
        return names.sorted()
    }

    static func writeManifest(_ path: String) throws(ExportError) {
        var manifest = [UInt8]()
        for name in existingExportFiles(in: path) {
            let digest = try sha256(ofFile: path + "/" + name)
            manifest.append(contentsOf: hex(digest).utf8)
            manifest.append(contentsOf: "  \(name)\n".utf8)
        }
        let temporary = path + "/.MANIFEST.sha256.partial"
        let fd = try open(temporary, flags: O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC)
        defer { close(fd) }
        try write(fd, manifest, path: temporary)
        guard fsync(fd) == 0 else { throw ExportError.io("fsync", temporary, errno) }
        guard rename(temporary, path + "/MANIFEST.sha256") == 0 else { throw ExportError.io("rename", temporary, errno) }
    }

    static func sha256(ofFile path: String) throws(ExportError) -> [UInt8] {
        let fd = try open(path, flags: O_RDONLY | O_CLOEXEC)
        defer { close(fd) }
        var hasher = SHA256Hasher()
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ExportError.io("read", path, errno)
            }
            if n == 0 { break }
            chunk.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
        return hasher.finalize()
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 0xF)]) }
        return String(decoding: out, as: UTF8.self)
    }

    private struct PendingFile {
        let finalPath: String
        let temporaryPath: String
        var descriptor: Int32 = -1
        var buffer: [UInt8] = []
        var lastUse = 0
    }

    static func open(_ path: String, flags: Int32) throws(ExportError) -> Int32 {
        let fd = Glibc.open(path, flags, 0o644)
        guard fd >= 0 else { throw ExportError.io("open", path, errno) }
        return fd
    }

    static func write(_ fd: Int32, _ bytes: [UInt8], path: String) throws(ExportError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ExportError.io("write", path, errno)
            }
            offset += n
        }
    }

    static func makeDirectories(_ path: String) throws(ExportError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST { throw ExportError.io("mkdir", prefix, errno) }
        }
    }

    static func syncDirectory(_ path: String) throws(ExportError) {
        let fd = try open(path, flags: O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw ExportError.io("fsync", path, errno) }
    }
}

/// Why an export could not be written, naming the call and the file.
public enum ExportError: Error, CustomStringConvertible, Equatable {
    case io(String, String, Int32)
    case usage(String)

    public var description: String {
        switch self {
        case .io(let call, let path, let code): "\(call) \(path): \(String(cString: strerror(code)))"
        case .usage(let message): message
        }
    }
}
