import SinkholeFeeds

extension SinkholeConfiguration.Feeds {
    /// Reads the files `feeds` names — the prefix2as files and the ISP directory — into the
    /// attributor every feed uses (`sinkhole export`, the feed API, `check-config`).
    ///
    /// Throws `ASNMapError` (each bad line as `file:line: reason`) or `ISPDirectoryError`
    /// (`file:line:column: key: message`), so the operator is pointed at the line to fix.
    public func load() throws -> AddressAttributor {
        let map = asnMap.isEmpty ? nil : try ASNMap.load(paths: asnMap)
        let directory = try ISPDirectory.load(path: isps)
        return AddressAttributor(asnMap: map, directory: directory, ignore: ignore)
    }
}
