import SinkholeCore

/// Every error found in one configuration file, in document order: fixing a file one error
/// per run is slow, so loading reports all it can.
public struct ConfigurationErrors: Error, CustomStringConvertible, Sendable, Equatable {
    public var errors: [ConfigurationError]

    public init(_ errors: [ConfigurationError]) {
        self.errors = errors
    }

    /// One line per error.
    public var description: String {
        errors.map(\.description).joined(separator: "\n")
    }
}
