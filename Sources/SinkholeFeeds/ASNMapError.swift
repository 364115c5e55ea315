/// Why prefix2as files could not be loaded: every bad line, each as `file:line: reason`
/// (the compiler's convention, so editors and CI logs make it clickable).
///
/// Bad lines stop the load rather than being skipped: a damaged or truncated download would
/// otherwise quietly give some of an ISP's customers AS 0, or another ISP's AS.
public struct ASNMapError: Error, CustomStringConvertible, Sendable, Equatable {
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        public var file: String
        /// 1-based; 0 when the problem is the file as a whole (unreadable, empty).
        public var line: Int
        public var reason: String

        public init(file: String, line: Int, reason: String) {
            self.file = file
            self.line = line
            self.reason = reason
        }

        public var description: String {
            line > 0 ? "\(file):\(line): \(reason)" : "\(file): \(reason)"
        }
    }

    /// The problems found, in file and line order, up to `kept`.
    public var problems: [Problem]
    /// Bad lines found beyond `kept`: counted, not held (a file of the wrong kind can have
    /// millions).
    public var omitted: Int

    public init(_ problems: [Problem], omitted: Int = 0) {
        self.problems = problems
        self.omitted = omitted
    }

    /// How many problems a load holds on to.
    public static let kept = 1000

    /// How many problems `description` lists before only counting the rest: a file of the
    /// wrong format would otherwise print a million lines.
    public static let listed = 20

    public var description: String {
        var lines = problems.prefix(Self.listed).map(\.description)
        let more = problems.count + omitted - lines.count
        if more > 0 {
            lines.append("… and \(more) more bad lines")
        }
        return lines.joined(separator: "\n")
    }
}
