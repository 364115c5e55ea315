import Foundation
import Testing

/// Debian's `chromium` in headless mode, run once per page as an operator's browser would load
/// it: a screenshot to a PNG, or the DOM after load on standard output.
///
/// Chromium starts helpers (zygote, renderer, GPU and network processes) that can outlive the
/// browser process, so it runs in a process group of its own (corelibs Foundation spawns with
/// `POSIX_SPAWN_SETPGROUP`, checked below) and that group is killed when it is done or has run
/// for `timeout`. No `--virtual-time-budget`: /status has a meta refresh, and a virtual clock
/// would reach it and reload the page in a loop.
enum Chromium {
    static let path = "/usr/bin/chromium"
    static let timeout: Duration = .seconds(60)
    /// Wide enough for the 24 h charts, tall enough that the whole page is in the screenshot.
    static let windowWidth = 1280
    static let windowHeight = 2400

    /// Whether a browser test runs: chromium is installed, or CI says it must be (`CI=true`),
    /// in which case a missing chromium fails the test instead of skipping it.
    static var shouldRun: Bool {
        FileManager.default.isExecutableFile(atPath: path) || ProcessInfo.processInfo.environment["CI"] == "true"
    }

    static let skipMessage: Comment =
        "needs chromium (/usr/bin/chromium: make browser-deps, which make test runs, installs it; with CI=true a missing one fails)"

    /// Loads `url` and writes what the window shows to `png` (1280 × 2400 pixels).
    static func screenshot(_ url: String, to png: URL) throws {
        try? FileManager.default.removeItem(at: png)
        let run = try self.run(["--screenshot=\(png.path)", url])
        guard run.status == 0, FileManager.default.fileExists(atPath: png.path) else {
            Issue.record("chromium --screenshot \(url) exited \(run.status), no \(png.path):\n\(run.stderr)")
            throw CancellationError()
        }
    }

    /// Loads `url` and returns the DOM once the page has loaded, serialised as HTML.
    static func dumpDOM(_ url: String) throws -> DOM {
        let run = try self.run(["--dump-dom", url])
        guard run.status == 0, !run.stdout.isEmpty else {
            Issue.record("chromium --dump-dom \(url) exited \(run.status) with \(run.stdout.count) bytes:\n\(run.stderr)")
            throw CancellationError()
        }
        return DOM(String(decoding: run.stdout, as: UTF8.self))
    }

    /// One headless run with a fresh profile; output goes to files rather than pipes, so a
    /// helper that keeps the descriptors open cannot make a reader wait for it.
    private static func run(_ arguments: [String]) throws -> (status: Int32, stdout: Data, stderr: String) {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            Issue.record("chromium is not installed at \(path) and CI=true: make browser-deps installs it")
            throw CancellationError()
        }
        let scratch = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let profile = scratch.appendingPathComponent("profile")
        let stdoutURL = scratch.appendingPathComponent("stdout")
        let stderrURL = scratch.appendingPathComponent("stderr")
        for file in [stdoutURL, stderrURL] { _ = FileManager.default.createFile(atPath: file.path, contents: nil) }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        // --no-sandbox: Chromium's sandbox refuses to start as root, which CI is.
        process.arguments = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--no-first-run", "--hide-scrollbars",
            "--user-data-dir=\(profile.path)", "--window-size=\(windowWidth),\(windowHeight)",
        ] + arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: stdoutURL)
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        try process.run()
        let pid = process.processIdentifier
        // Killing the group below is only right if the group is chromium's own; -1 means it has
        // already exited and been reaped, and then there is no group left to check.
        let group = getpgid(pid)
        if group != -1 && group != pid {
            Issue.record("chromium (pid \(pid)) is in process group \(group), not one of its own")
        }

        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.02) }
        let timedOut = process.isRunning
        // Whatever helpers are left, in the timeout case the browser itself too. ESRCH (nothing
        // left in the group) is the usual outcome after a clean exit.
        if group == pid { killpg(pid, SIGKILL) }
        if timedOut { kill(pid, SIGKILL) }
        process.waitUntilExit()
        let stderr = diagnostics(String(decoding: (try? Data(contentsOf: stderrURL)) ?? Data(), as: UTF8.self))
        if timedOut {
            Issue.record("chromium \(arguments.joined(separator: " ")) timed out after \(timeout):\n\(stderr)")
            throw CancellationError()
        }
        return (process.terminationStatus, (try? Data(contentsOf: stdoutURL)) ?? Data(), stderr)
    }

    /// Chromium's standard error without what it always prints in a container, where there is
    /// no D-Bus (a dozen lines a run), so a failure shows the line that matters, such as
    /// "Page load failed: net::ERR_CONNECTION_REFUSED".
    private static func diagnostics(_ stderr: String) -> String {
        stderr.split(separator: "\n").filter { !$0.contains(":ERROR:dbus/") }.joined(separator: "\n")
    }
}

extension Chromium {
    /// The DOM as chromium serialises it: HTML, so void elements are not closed and the page's
    /// XHTML parser (`ParsedPage`) cannot read it. This reads start and end tags, attributes
    /// and text, which is all the browser tests look at.
    struct DOM {
        struct Element {
            var name: String
            var attributes: [String: String]
            /// All the text inside, entities decoded, like the browser's `textContent`.
            var text = ""
        }

        let html: String
        private(set) var elements: [Element] = []

        /// Elements with no end tag in HTML; anything else closes with an end tag or `/>`.
        static let voidElements: Set<String> = [
            "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr",
        ]

        init(_ html: String) {
            self.html = html
            var open: [Int] = []
            var rest = Substring(html)
            while !rest.isEmpty {
                guard let lt = rest.firstIndex(of: "<") else {
                    appendText(rest, to: open)
                    break
                }
                appendText(rest[..<lt], to: open)
                rest = rest[lt...]
                if rest.hasPrefix("<!") || rest.hasPrefix("<?") {
                    rest = rest[(rest.firstIndex(of: ">").map { rest.index(after: $0) } ?? rest.endIndex)...]
                    continue
                }
                if rest.hasPrefix("</") {
                    let end = rest.firstIndex(of: ">").map { rest.index(after: $0) } ?? rest.endIndex
                    let name = rest[rest.index(rest.startIndex, offsetBy: 2)..<end].dropLast().lowercased()
                    if let match = open.lastIndex(where: { elements[$0].name == name }) { open.removeSubrange(match...) }
                    rest = rest[end...]
                    continue
                }
                let (element, after, selfClosed) = Self.startTag(rest.dropFirst())
                rest = after
                elements.append(element)
                if element.name == "style" || element.name == "script" {
                    // Raw text: the serialiser leaves it unescaped, so it is not scanned for tags.
                    let close = rest.range(of: "</\(element.name)", options: .caseInsensitive)?.lowerBound ?? rest.endIndex
                    elements[elements.count - 1].text = String(rest[..<close])
                    rest = rest[close...]
                    open.append(elements.count - 1)
                } else if !selfClosed && !Self.voidElements.contains(element.name) {
                    open.append(elements.count - 1)
                }
            }
        }

        func element(id: String) -> Element? { elements.first { $0.attributes["id"] == id } }

        func elements(class name: String) -> [Element] { elements.filter { $0.attributes["class"] == name } }

        private mutating func appendText(_ text: Substring, to open: [Int]) {
            guard !text.isEmpty else { return }
            let decoded = Self.decode(text)
            for index in open where elements[index].name != "style" && elements[index].name != "script" {
                elements[index].text += decoded
            }
        }

        /// A start tag after its `<`: the name, the attributes (quoted values may hold `<`, `>`
        /// and `/`), and whether it ends in `/>`.
        private static func startTag(_ text: Substring) -> (Element, Substring, Bool) {
            var rest = text
            let name = rest.prefix { !$0.isWhitespace && $0 != ">" && $0 != "/" }
            rest = rest.dropFirst(name.count)
            var attributes: [String: String] = [:]
            var selfClosed = false
            while let c = rest.first {
                if c == ">" { rest = rest.dropFirst(); break }
                if c == "/" { selfClosed = true; rest = rest.dropFirst(); continue }
                if c.isWhitespace { rest = rest.dropFirst(); continue }
                selfClosed = false
                let key = rest.prefix { !$0.isWhitespace && $0 != "=" && $0 != ">" && $0 != "/" }
                rest = rest.dropFirst(key.count)
                var value = ""
                if rest.first == "=" {
                    rest = rest.dropFirst()
                    if let quote = rest.first, quote == "\"" || quote == "'" {
                        rest = rest.dropFirst()
                        let raw = rest.prefix { $0 != quote }
                        rest = rest.dropFirst(raw.count + 1)
                        value = decode(raw)
                    } else {
                        let raw = rest.prefix { !$0.isWhitespace && $0 != ">" }
                        rest = rest.dropFirst(raw.count)
                        value = decode(raw)
                    }
                }
                attributes[key.lowercased()] = value
            }
            return (Element(name: name.lowercased(), attributes: attributes), rest, selfClosed)
        }

        /// The character references a serialiser writes: the five XML ones, `&nbsp;` and
        /// numeric ones.
        static func decode(_ text: Substring) -> String {
            guard text.contains("&") else { return String(text) }
            var out = ""
            var rest = text
            while let amp = rest.firstIndex(of: "&") {
                out += rest[..<amp]
                rest = rest[amp...]
                guard let semicolon = rest.prefix(12).firstIndex(of: ";") else {
                    out += "&"
                    rest = rest.dropFirst()
                    continue
                }
                let entity = rest[rest.index(after: rest.startIndex)..<semicolon]
                let named: [Substring: String] = ["amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": "\u{A0}"]
                if let character = named[entity] {
                    out += character
                } else if entity.hasPrefix("#"), let scalar = Self.scalar(entity.dropFirst()) {
                    out.unicodeScalars.append(scalar)
                } else {
                    out += rest[...semicolon]
                }
                rest = rest[rest.index(after: semicolon)...]
            }
            return out + rest
        }

        private static func scalar(_ number: Substring) -> Unicode.Scalar? {
            let value = number.first == "x" || number.first == "X"
                ? UInt32(number.dropFirst(), radix: 16) : UInt32(number, radix: 10)
            return value.flatMap { Unicode.Scalar($0) }
        }
    }

    /// Checks that `png` is a PNG `width` pixels wide and bigger than a blank page's
    /// (a white 1280 × 2400 page compresses to about 16 KB), and returns its height.
    @discardableResult
    static func checkScreenshot(_ png: URL, width: Int = windowWidth, minimumBytes: Int = 20_000) throws -> Int {
        let data = try Data(contentsOf: png)
        let bytes = [UInt8](data.prefix(24))
        #expect(bytes.prefix(8) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "PNG signature of \(png.path)")
        // The first chunk is IHDR (length 13), its width and height big-endian at bytes 16 and 20.
        try #require(bytes.count == 24 && bytes[12..<16] == [0x49, 0x48, 0x44, 0x52], "IHDR first in \(png.path)")
        let be32 = { (at: Int) in bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
        #expect(be32(16) == width, "PNG width of \(png.path)")
        #expect(data.count > minimumBytes, "\(png.path) is \(data.count) bytes: blank?")
        return be32(20)
    }

    /// `.build/test-artefacts/` in the package, created when missing: where the screenshots
    /// are kept after the test for a person (or CI's artefact upload) to look at.
    static func artefactsDirectory() throws -> URL {
        let directory = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/test-artefacts")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }
}
