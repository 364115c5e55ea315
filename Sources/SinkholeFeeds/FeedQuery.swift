import SinkholeCore
import SinkholeStore

/// Answers one feed API request for one ISP: reads the store row by row, keeps only rows whose
/// source the attributor gives to that ISP (never an ignored network's), renders them and hands
/// the body out in chunks of about `chunkSize` bytes. `emit` may block until the client has
/// taken the previous chunk: that is what keeps memory flat on a million-row answer.
public struct FeedQuery {
    public let request: FeedRequest
    public let isp: String
    public var chunkSize = 64 * 1024

    public init(_ request: FeedRequest, isp: String) {
        self.request = request
        self.isp = isp
    }

    /// Streams the body; returns the number of rows sent.
    @discardableResult
    public func run(reader: some StoredDayReader, attributor: AddressAttributor,
                    emit: ([UInt8]) throws -> Void) throws -> Int {
        var chunk = [UInt8]()
        chunk.reserveCapacity(chunkSize + 4096)
        var rows = 0
        func add(_ record: FeedRecord, format: FeedRequest.Format) throws {
            switch format {
            case .csv: record.appendCSV(to: &chunk)
            case .jsonl: record.appendJSON(to: &chunk)
            }
            rows += 1
            if chunk.count >= chunkSize {
                try emit(chunk)
                chunk.removeAll(keepingCapacity: true)
            }
        }
        func mine(_ address: IPAddress) -> UInt32? {
            let attribution = attributor.attribute(address)
            return !attribution.ignored && attribution.isp == isp ? attribution.asn : nil
        }
        switch request {
        case .checkIns(let day, let format):
            if format == .csv { chunk.append(contentsOf: FeedRecord.csvHeader(FeedRecord.checkInColumns)) }
            try reader.forEachCheckIn(day: day) { row in
                if let asn = mine(row.source) { try add(.checkIn(row, asn: asn), format: format) }
            }
            try reader.forEachDNSQuery(day: day) { row in
                if let asn = mine(row.source) { try add(.dnsQuery(row, asn: asn), format: format) }
            }
        case .infections(let since, let until, let format):
            if format == .csv { chunk.append(contentsOf: FeedRecord.csvHeader(FeedRecord.infectionColumns)) }
            var day = since
            while day <= until {
                try reader.forEachInfection(day: day) { row in
                    if let asn = mine(row.source) { try add(.infection(row, asn: asn), format: format) }
                }
                day = UTCTime(seconds: day.seconds + 86_400)
            }
        }
        if !chunk.isEmpty { try emit(chunk) }
        return rows
    }
}
