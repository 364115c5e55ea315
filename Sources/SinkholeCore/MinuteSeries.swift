/// Check-ins per UTC minute over the last 24 hours, for one series (one family, say): the data
/// behind a /status chart.
///
/// A fixed ring of 1440 slots, one per minute of the day, each remembering which minute it holds.
/// A slot whose minute is not the one asked for reads as 0, so skipping minutes (a quiet night, a
/// process paused for two days) costs nothing: there is no sweep, and `add` never allocates. The
/// window is the 1440 minutes ending at the newest minute added; a minute older than that is
/// ignored rather than overwriting a newer one that shares its slot. After the wall clock steps
/// backwards, counts for minutes still inside the window land in their own slots; minutes before
/// the window are dropped until the clock catches up, which loses a chart point, never a stored
/// check-in (the store keeps its own record).
public struct MinuteSeries: Sendable, Equatable {
    /// Minutes in the window: 24 hours.
    public static let slotCount = 1440

    /// The UTC minute (minutes since the Unix epoch) of each slot's count; `Int64.min` when unused.
    private var minutes: [Int64]
    private var counts: [Int]
    /// The newest minute ever added; the window ends here. `nil` until the first add.
    public private(set) var newestMinute: Int64?

    public init() {
        minutes = Array(repeating: Int64.min, count: Self.slotCount)
        counts = Array(repeating: 0, count: Self.slotCount)
    }

    /// The UTC minute containing `time`, the key `add` and `values` use.
    public static func minute(of time: UTCTime) -> Int64 {
        let seconds = time.seconds
        // Floor, not truncation: an instant before 1970 still falls in the minute that starts before it.
        return seconds >= 0 ? seconds / 60 : (seconds - 59) / 60
    }

    /// Adds `count` to `minute`. Ignored when `minute` is 1440 or more minutes before the newest
    /// minute added so far (its slot now belongs to a newer minute).
    public mutating func add(_ count: Int, atMinute minute: Int64) {
        if let newest = newestMinute {
            guard minute > newest - Int64(Self.slotCount) else { return }
            if minute > newest { newestMinute = minute }
        } else {
            newestMinute = minute
        }
        let slot = Self.slot(of: minute)
        if minutes[slot] != minute {
            // The slot held a minute at least a day older: it is outside every window now.
            minutes[slot] = minute
            counts[slot] = 0
        }
        counts[slot] += count
    }

    /// The count of one minute; 0 when nothing was added to it or it has been overwritten.
    public func count(atMinute minute: Int64) -> Int {
        let slot = Self.slot(of: minute)
        return minutes[slot] == minute ? counts[slot] : 0
    }

    /// The 1440 counts of the minutes `end - 1439 ... end`, oldest first. `end` is usually the
    /// current minute, so a series that went quiet drains to zeros on the chart.
    public func values(endingAt end: Int64) -> [Int] {
        var out = [Int]()
        out.reserveCapacity(Self.slotCount)
        var minute = end - Int64(Self.slotCount) + 1
        while minute <= end {
            out.append(count(atMinute: minute))
            minute += 1
        }
        return out
    }

    private static func slot(of minute: Int64) -> Int {
        let r = Int(minute % Int64(slotCount))
        return r < 0 ? r + slotCount : r
    }
}
