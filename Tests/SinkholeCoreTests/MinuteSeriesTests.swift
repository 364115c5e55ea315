import SinkholeCore
import Testing

@Suite("MinuteSeries: check-ins per minute over the last 24 hours")
struct MinuteSeriesTests {
    /// 2026-11-29 00:00 UTC as a minute key.
    let midnight = MinuteSeries.minute(of: UTCTime(year: 2026, month: 11, day: 29))

    @Test("a UTC instant maps to the minute that contains it, also before 1970")
    func minuteKeys() {
        #expect(MinuteSeries.minute(of: UTCTime(seconds: 0)) == 0)
        #expect(MinuteSeries.minute(of: UTCTime(seconds: 59, microseconds: 999_999)) == 0)
        #expect(MinuteSeries.minute(of: UTCTime(seconds: 60)) == 1)
        #expect(MinuteSeries.minute(of: UTCTime(seconds: -1)) == -1)
        #expect(MinuteSeries.minute(of: UTCTime(seconds: -60)) == -1)
        #expect(MinuteSeries.minute(of: UTCTime(seconds: -61)) == -2)
    }

    @Test("counts added to a minute sum, and values are the 1440 minutes ending at the given one, oldest first")
    func valuesOldestFirst() {
        var series = MinuteSeries()
        series.add(3, atMinute: midnight)
        series.add(4, atMinute: midnight)
        series.add(7, atMinute: midnight + 10)
        series.add(7, atMinute: midnight)
        let values = series.values(endingAt: midnight + 10)
        #expect(values.count == 1440)
        #expect(values[1439] == 7)
        #expect(values[1429] == 14)
        #expect(values.reduce(0, +) == 21)
    }

    @Test("a 3-hour gap reads as zeros and the counts either side stay in place")
    func threeHourGap() {
        var series = MinuteSeries()
        for m in 0..<60 { series.add(1, atMinute: midnight + Int64(m)) }
        let later = midnight + 60 + 180
        series.add(5, atMinute: later)
        let values = series.values(endingAt: later)
        // Minute `later` is index 1439; midnight is 240 minutes earlier.
        #expect(values[1439] == 5)
        #expect(values[1439 - 240 ..< 1439 - 180].allSatisfy { $0 == 1 })
        #expect(values[1439 - 180 ..< 1439].allSatisfy { $0 == 0 })
        #expect(values[0 ..< 1439 - 240].allSatisfy { $0 == 0 })
        #expect(values.reduce(0, +) == 65)
    }

    @Test("a jump of two days forgets everything older and does not leak yesterday's slot counts")
    func twoDayJump() {
        var series = MinuteSeries()
        for m in 0..<1440 { series.add(m + 1, atMinute: midnight + Int64(m)) }
        #expect(series.values(endingAt: midnight + 1439).reduce(0, +) == 1440 * 1441 / 2)
        let jump = midnight + 2 * 1440 + 17
        series.add(2, atMinute: jump)
        let values = series.values(endingAt: jump)
        #expect(values.reduce(0, +) == 2)
        #expect(values[1439] == 2)
        // The minute that shares the jump's slot a day earlier is outside the window: 0, not stale.
        #expect(series.count(atMinute: jump - 1440) == 0)
        // Minutes added after the jump, into slots still holding 2-day-old counts, start from 0.
        series.add(1, atMinute: jump + 1)
        #expect(series.count(atMinute: jump + 1) == 1)
    }

    @Test("after the clock steps back, a minute inside the window is counted in its own slot and an older one is ignored")
    func clockStepsBack() {
        var series = MinuteSeries()
        let now = midnight + 600
        series.add(10, atMinute: now)
        series.add(4, atMinute: now - 30)          // back 30 minutes: inside the window
        series.add(6, atMinute: now - 1439)        // the oldest minute of the window
        series.add(99, atMinute: now - 1440)       // one minute too old: its slot is `now`'s
        series.add(99, atMinute: now - 3 * 1440)   // far too old
        #expect(series.newestMinute == now)
        #expect(series.count(atMinute: now) == 10)
        #expect(series.count(atMinute: now - 30) == 4)
        let values = series.values(endingAt: now)
        #expect(values[0] == 6)
        #expect(values[1439 - 30] == 4)
        #expect(values[1439] == 10)
        #expect(values.reduce(0, +) == 20)
    }

    @Test("values ending after the newest minute drain to zeros as the window moves on")
    func windowMovesOn() {
        var series = MinuteSeries()
        series.add(8, atMinute: midnight)
        #expect(series.values(endingAt: midnight + 1439)[0] == 8)
        #expect(series.values(endingAt: midnight + 1440).reduce(0, +) == 0)
        #expect(series.values(endingAt: midnight + 100)[1339] == 8)
    }
}
