import Foundation
import Synchronization

/// A throwaway PostgreSQL cluster for the tests: `initdb` into a temporary directory, the
/// server listening on a unix socket in that directory only (no TCP port at all), started once
/// per test process and stopped (`pg_ctl stop -m fast`, by its data directory) when the
/// process exits. Each test takes a fresh database with `makeDatabase()`.
///
/// PostgreSQL refuses to run as root, and CI runs as root: the server's commands then run as
/// the `postgres` user (created by Debian's `postgresql` package, which `make deps` installs)
/// through `runuser`, and the directory is handed to that user.
public final class PostgresCluster: Sendable {
    /// The directory holding the data directory, the log and the socket.
    public let directory: String
    /// The socket's port number (the socket file is `.s.PGSQL.<port>`).
    public let port: Int
    /// The superuser the tests connect as (trust authentication on the socket).
    public let user = "sinkhole"
    let binDirectory: String
    let runAs: String?

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// The cluster shared by every test of this process, started on first use; the error of
    /// that start for every caller if it failed.
    public static func shared() throws -> PostgresCluster {
        try sharedCluster.get()
    }

    private static let sharedCluster: Result<PostgresCluster, Failure> = {
        do {
            let cluster = try PostgresCluster()
            running.withLock { $0 = cluster }
            atexit { PostgresCluster.running.withLock { $0?.destroy() } }
            return .success(cluster)
        } catch let error as Failure {
            return .failure(error)
        } catch {
            return .failure(Failure(description: "\(error)"))
        }
    }()

    private static let running = Mutex<PostgresCluster?>(nil)

    /// A cluster of the caller's own, for a test that stops and restarts the server (the
    /// shared one serves other tests meanwhile). The caller ends it with `destroy()`.
    public static func makePrivate() throws -> PostgresCluster {
        try PostgresCluster()
    }

    /// Stops the server and removes its directory.
    public func destroy() {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    private init() throws {
        binDirectory = try Self.findBinDirectory()
        runAs = getuid() == 0 ? "postgres" : nil
        // Short: a unix socket path is limited to 107 bytes.
        let template = "/tmp/sinkhole-pg-XXXXXX"
        var bytes = Array(template.utf8CString)
        guard mkdtemp(&bytes) != nil else { throw Failure(description: "mkdtemp failed: \(errno)") }
        directory = String(decoding: bytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        port = 5432
        if let runAs {
            _ = try Self.run("/bin/chown", [runAs, directory])
        }
        _ = try run("initdb", ["-D", "\(directory)/data", "-U", user, "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"])
        // One role that must give its password (SCRAM), ahead of the trust rule for the rest:
        // the tests of store.postgres_password_file and of a wrong password log in with it.
        let hba = "\(directory)/data/pg_hba.conf"
        let rules = try String(contentsOfFile: hba, encoding: .utf8)
        // Not atomically: the file keeps its owner (the postgres user).
        try ("local all \(passwordUser) scram-sha-256\n" + rules).write(toFile: hba, atomically: false, encoding: .utf8)
        try start()
        try psql(database: "postgres", "CREATE ROLE \(passwordUser) LOGIN PASSWORD '\(password)'")
    }

    /// A role that logs in with `password` only (every other role is trusted on the socket).
    public let passwordUser = "sinkhole_pw"
    public let password = "pw-\(UInt32.random(in: 1...UInt32.max))"

    /// `postgresql://sinkhole@/DATABASE?host=DIR&port=PORT`.
    public func url(database: String) -> String {
        "postgresql://\(user)@/\(database)?host=\(directory)&port=\(port)"
    }

    /// Creates an empty database with a unique name and returns the name; `owner` may create
    /// tables in it (PostgreSQL 15 grants no one else CREATE on its public schema).
    public func makeDatabase(owner: String? = nil) throws -> String {
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try psql(database: "postgres", "CREATE DATABASE \(name)" + (owner.map { " OWNER \($0)" } ?? ""))
        return name
    }

    /// The URL for `passwordUser`, with `password` in it when given.
    public func passwordURL(database: String, password: String?) -> String {
        let userInfo = password.map { "\(passwordUser):\($0)" } ?? passwordUser
        return "postgresql://\(userInfo)@/\(database)?host=\(directory)&port=\(port)"
    }

    /// Runs `sql` with psql and returns its unaligned, tuples-only output (fields split by `|`).
    @discardableResult
    public func psql(database: String, _ sql: String) throws -> String {
        try Self.run("/usr/bin/psql", ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", directory, "-p", "\(port)",
                                       "-U", user, "-d", database, "-c", sql])
    }

    /// Stops the server (`-m fast`: clients are disconnected at once, committed work kept);
    /// `start()` brings it back on the same data. For the tests of a store whose server goes
    /// away mid-run, and at exit.
    public func stop() {
        _ = try? run("pg_ctl", ["-D", "\(directory)/data", "-m", "fast", "-w", "-t", "30", "stop"])
    }

    public func start() throws {
        // Only the socket: no TCP port is opened at all. fsync off: a throwaway cluster, and a
        // killed server loses nothing committed without it (only an OS crash would).
        // synchronous_commit stays on: with it off, a commit the store saw succeed could
        // vanish in an immediate stop, which is not what is tested.
        let options = "-k \(directory) -p \(port) -c listen_addresses='' -c fsync=off -c max_connections=100"
        _ = try run("pg_ctl", ["-D", "\(directory)/data", "-l", "\(directory)/log", "-w", "-t", "60", "-o", options, "start"])
    }

    private func run(_ tool: String, _ arguments: [String]) throws -> String {
        let path = "\(binDirectory)/\(tool)"
        if let runAs {
            // From /tmp: the postgres user may not be allowed into the test's working directory.
            return try Self.run("/usr/sbin/runuser", ["-u", runAs, "--", "/usr/bin/env", "--chdir=/tmp", path] + arguments)
        }
        return try Self.run(path, arguments)
    }

    /// Runs a command to completion (bounded: 120 s) and returns its standard output; throws
    /// with its standard error when it fails.
    ///
    /// posix_spawn and waitpid rather than Foundation's `Process`: the server `pg_ctl start`
    /// leaves running inherits what `Process` watches to tell that its child ended (seen here:
    /// `isRunning` stayed true for minutes after pg_ctl had exited). Output goes through
    /// files for the same reason: the server would hold a pipe open forever.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let stem = NSTemporaryDirectory() + "sinkhole-pg-run-\(UUID().uuidString)"
        let outPath = stem + ".out", errPath = stem + ".err"
        defer {
            unlink(outPath)
            unlink(errPath)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard spawned == 0 else { throw Failure(description: "cannot run \(executable): errno \(spawned)") }
        let deadline = Date().addingTimeInterval(120)
        var status: Int32 = 0
        while true {
            let done = waitpid(pid, &status, WNOHANG)
            if done == pid { break }
            if done < 0 && errno != EINTR { throw Failure(description: "waitpid \(executable): errno \(errno)") }
            if Date() > deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                throw Failure(description: "\(executable) \(arguments.joined(separator: " ")): no exit within 120 s")
            }
            usleep(5_000)
        }
        let output = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        // WIFEXITED and WEXITSTATUS are macros: status & 0x7f == 0 means exited, status >> 8 is the code.
        let exitCode = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        guard exitCode == 0 else {
            let message = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
            throw Failure(description: "\(executable) \(arguments.joined(separator: " ")) exited \(exitCode): \(message)")
        }
        return output
    }

    static func findBinDirectory() throws -> String {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        for version in versions.compactMap(Int.init).sorted(by: >) {
            let bin = "\(root)/\(version)/bin"
            if FileManager.default.isExecutableFile(atPath: "\(bin)/initdb") { return bin }
        }
        throw Failure(description: "PostgreSQL server not found under \(root): install the postgresql package (make deps does)")
    }
}
