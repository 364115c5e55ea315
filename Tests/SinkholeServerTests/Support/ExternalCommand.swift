import Foundation
import Testing

/// A program run to completion as an operator would from a shell: its arguments, a few extra
/// environment variables, a bounded time. Standard output and error are read together while it
/// runs, so a talkative program (lintian, dpkg) cannot fill the pipe and stall.
struct ExternalCommand {
    let status: Int32
    let output: String

    /// Runs `command` (the first element a path, or a name looked up in PATH by `env`).
    /// Killed and recorded as an issue after `timeout`.
    static func run(_ command: [String], environment: [String: String] = [:],
                    timeout: Duration = .seconds(120)) throws -> ExternalCommand {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        let collected = CollectedOutput()
        let reader = Thread { collected.data = pipe.fileHandleForReading.readDataToEndOfFile() }
        try process.run()
        reader.start()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            Issue.record("timed out after \(timeout): \(command.joined(separator: " "))")
            throw CancellationError()
        }
        try? pipe.fileHandleForWriting.close()
        while !collected.isDone { Thread.sleep(forTimeInterval: 0.01) }
        return ExternalCommand(status: process.terminationStatus,
                               output: String(decoding: collected.data ?? Data(), as: UTF8.self))
    }

    /// As `run`, and a non-zero exit fails the test with the output.
    @discardableResult
    static func succeed(_ command: [String], environment: [String: String] = [:],
                        timeout: Duration = .seconds(120)) throws -> String {
        let result = try run(command, environment: environment, timeout: timeout)
        guard result.status == 0 else {
            Issue.record("\(command.joined(separator: " ")) exited \(result.status):\n\(result.output)")
            throw CancellationError()
        }
        return result.output
    }
}

/// What the reader thread read; written once by it, read once it is done.
private final class CollectedOutput: @unchecked Sendable {
    private let lock = NSLock()
    private var _data: Data?
    private var done = false

    var data: Data? {
        get { lock.withLock { _data } }
        set { lock.withLock { _data = newValue; done = true } }
    }

    var isDone: Bool { lock.withLock { done } }
}
