import NIOCore
import SinkholeCore
@testable import SinkholeStore
import Testing

@Suite("PostgresCopyRows: check-in rows in COPY's text format")
struct PostgresCopyRowsTests {
    @Test("fields are tab-separated, rows end in a line feed, NULL is \\N, numbers are decimal")
    func layout() {
        var out = CopyText(capacity: 0)
        out.integer(0)
        out.integer(-42)
        out.integer(Int64.min)
        out.null()
        out.text("")
        out.endRow()
        out.integer(7)
        out.endRow()
        #expect(String(decoding: out.bytes, as: UTF8.self) == "0\t-42\t-9223372036854775808\t\\N\t\n7\n")
    }

    @Test("text escapes what would end or escape a field; bytea is hex whatever the bytes")
    func escaping() {
        var out = CopyText(capacity: 0)
        out.text("a\tb\nc\rd\\N")
        out.bytea(BoundedBytes<8>([0x00, 0x09, 0x0A, 0x5C, 0xFF]))
        out.bytea(BoundedBytes<8>())
        out.text(BoundedBytes<8>([0x66, 0xFF]))
        #expect(String(decoding: out.bytes, as: UTF8.self) == "a\\tb\\nc\\rd\\\\N\t\\\\x00090a5cff\t\\\\x\tf\u{FFFD}")
    }

    @Test("a row has one field per column, in the column list's order")
    func rowShape() throws {
        var event = Events.session(at: Events.at(10), name: "c2.example")
        event.httpContentLength = -1
        let batch = fold([event])
        let buffer = PostgresCopyRows.checkIns(batch.checkIns, node: "edge\t1")
        let text = String(decoding: buffer.readableBytesView, as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 2 && lines[1].isEmpty)
        let fields = lines[0].split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        #expect(fields.count == PostgresCopyRows.checkInColumns.count)
        let column = Dictionary(uniqueKeysWithValues: zip(PostgresCopyRows.checkInColumns, fields))
        #expect(column["node"] == "edge\\t1")
        #expect(column["event_id"] == batch.checkIns[0].eventID)
        #expect(column["session_start"] == "\(Events.at(10).microseconds)")
        #expect(column["name"] == "\\\\x" + Array("c2.example".utf8).map { String($0, radix: 16) }.joined())
        #expect(column["http_content_length"] == "\\N")
        #expect(column["src_ip"] == "203.0.113.7")
        #expect(column["count"] == "1")
    }

    @Test("the merge statement names the copied columns, in the same order")
    func mergeColumns() {
        let list = PostgresCopyRows.checkInColumns.joined(separator: ", ")
        #expect(PostgresStore.mergeCheckIns.contains("INSERT INTO checkins AS c (\(list))"))
        #expect(PostgresStore.mergeCheckIns.contains("SELECT \(list) FROM checkins_incoming"))
    }
}
