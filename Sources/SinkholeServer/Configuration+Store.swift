import SinkholeStore

extension SinkholeConfiguration.Store {
    /// The PostgreSQL store's location with its password (from the URL or
    /// `postgres_password_file`), or nil when the store is SQLite: one reading of the two keys
    /// for the server, `stats`, `export` and the feed API.
    public func postgresLocation() throws -> PostgresLocation? {
        guard let url = postgres, !url.isEmpty else { return nil }
        var location: PostgresLocation
        do {
            location = try PostgresLocation(url: url)
        } catch {
            throw Sinkhole.StartupError(description: "store.postgres: \(error)")
        }
        if let file = postgresPasswordFile {
            do {
                try location.readPassword(file: file)
            } catch {
                throw Sinkhole.StartupError(description: "\(error)")
            }
        }
        return location
    }

    /// A reader of one UTC day for the feeds, from whichever store is configured.
    public func dayReader() throws -> any StoredDayReader {
        if let location = try postgresLocation() {
            return try PostgresDayReader(location: location)
        }
        return try SQLiteDayReader(path: sqlite)
    }
}
