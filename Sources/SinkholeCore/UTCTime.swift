#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A UTC wall-clock instant in microseconds since the Unix epoch.
///
/// Wall-clock, not monotonic: check-ins are evidence matched against other parties' logs
/// (an ISP's CGNAT records), which are wall-clock UTC.
public struct UTCTime: Hashable, Comparable, Sendable, BitwiseCopyable, CustomStringConvertible {
    public var microseconds: Int64

    public init(microseconds: Int64) { self.microseconds = microseconds }

    public init(seconds: Int64, microseconds: Int64 = 0) {
        self.microseconds = seconds * 1_000_000 + microseconds
    }

    /// Midnight UTC starting a proleptic Gregorian date (H. Hinnant's public-domain
    /// days_from_civil, the inverse of `civil`). The date is not checked: 2026-02-30 is
    /// 2026-03-02.
    public init(year: Int64, month: Int64, day: Int64) {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = month > 2 ? month - 3 : month + 9
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        self.init(seconds: (era * 146_097 + doe - 719_468) * 86_400)
    }

    /// The current wall-clock time, read without allocating.
    public static func now() -> UTCTime {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UTCTime(microseconds: Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1_000)
    }

    public static func < (lhs: UTCTime, rhs: UTCTime) -> Bool { lhs.microseconds < rhs.microseconds }

    /// Whole seconds since the epoch, rounded down (also for instants before 1970).
    public var seconds: Int64 {
        microseconds >= 0 ? microseconds / 1_000_000 : (microseconds - 999_999) / 1_000_000
    }

    /// The start of the UTC hour containing this instant.
    public var hourStart: UTCTime { UTCTime(seconds: seconds - seconds.modulo(3600)) }
    /// The start of the UTC day containing this instant.
    public var dayStart: UTCTime { UTCTime(seconds: seconds - seconds.modulo(86_400)) }

    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ` (RFC 3339, UTC, microseconds).
    public var description: String {
        let (y, m, d, hh, mm, ss) = civil
        let micros = Int(microseconds - seconds * 1_000_000)
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(hh, 2)):\(pad(mm, 2)):\(pad(ss, 2)).\(pad(micros, 6))Z"
    }

    /// `YYYY-MM-DD HH:MM:SS`, UTC, whole seconds: the timestamp Shadowserver reports carry
    /// and IntelMQ reads as UTC.
    public var secondsString: String {
        let (y, m, d, hh, mm, ss) = civil
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2)) \(pad(hh, 2)):\(pad(mm, 2)):\(pad(ss, 2))"
    }

    /// `YYYY-MM-DD` of the UTC day.
    public var dayString: String {
        let (y, m, d, _, _, _) = civil
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))"
    }

    /// Civil date and time (proleptic Gregorian, UTC); days-from-civil inverse after
    /// H. Hinnant's public-domain algorithm, so no calendar or time zone database is consulted.
    public var civil: (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        let secs = seconds
        let days = (secs - secs.modulo(86_400)) / 86_400
        let secOfDay = Int(secs.modulo(86_400))
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        return (Int(y), Int(m), Int(d), secOfDay / 3600, (secOfDay / 60) % 60, secOfDay % 60)
    }

    private func pad(_ value: Int, _ width: Int) -> String {
        let s = String(value)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}

extension Int64 {
    /// Modulo that is never negative, for flooring time to hours and days.
    fileprivate func modulo(_ n: Int64) -> Int64 {
        let r = self % n
        return r < 0 ? r + n : r
    }
}
