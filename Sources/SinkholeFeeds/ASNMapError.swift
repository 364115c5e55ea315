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

    /// Every problem found, in file and line order.
    public var problems: [Problem]

    public init(_ problems: [Problem]) {
        self.problems = problems
    }

    /// How many problems `description` lists before only counting the rest: a file of the
    /// wrong format would otherwise print a million lines.
    public static let listed = 20

    public var description: String {
        var lines = problems.prefix(Self.listed).map(\.description)
        if problems.count > Self.listed {
            lines.append("… and \(problems.count - Self.listed) more bad lines")
        }
        return lines.joined(separator: "\n")
    }
}
