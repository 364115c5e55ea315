import SinkholeCore

/// The per-family chart: an inline SVG area chart of check-ins per minute, one x unit per minute,
/// so the 1440 points of `MinuteSeries.values` map onto the plot without resampling.
extension StatusPage {
    /// Plot geometry in viewBox units; the SVG scales to the page width and keeps its aspect so
    /// the axis labels are not stretched.
    static let plotLeft = 56
    static let plotTop = 10
    static let plotWidth = MinuteSeries.slotCount
    static let plotHeight = 120
    static let viewWidth = plotLeft + plotWidth + 16
    static let viewHeight = plotTop + plotHeight + 32

    static func chart(_ family: StatusSnapshot.Family, endMinute: Int64, into html: inout String) {
        let name = escape(family.name)
        let total = family.perMinute.reduce(0, +)
        let peak = family.perMinute.max() ?? 0
        let top = niceCeiling(peak)
        let baseline = plotTop + plotHeight
        // The first value is the minute 1439 minutes before `endMinute`.
        let firstMinute = endMinute - Int64(family.perMinute.count) + 1

        html += "<figure id=\"chart-\(name)\" data-family=\"\(name)\" data-total=\"\(total)\" data-peak=\"\(peak)\">\n"
        html += "<figcaption>\(name) <span>\(grouped(total)) check-ins in 24 h, peak \(grouped(peak))/min</span></figcaption>\n"
        html += "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 \(viewWidth) \(viewHeight)\" role=\"img\" aria-label=\"check-ins per minute for \(name)\">\n"
        html += "<title>\(name): \(grouped(total)) check-ins in the last 24 hours, peak \(grouped(peak)) per minute</title>\n"

        // Horizontal gridlines and y labels at 0, half and the rounded-up maximum.
        for fraction in [0, 1, 2] {
            let value = top * fraction / 2
            let y = baseline - plotHeight * fraction / 2
            html += "<line class=\"\(fraction == 0 ? "axis" : "grid")\" x1=\"\(plotLeft)\" y1=\"\(y)\" x2=\"\(plotLeft + plotWidth - 1)\" y2=\"\(y)\"/>"
            html += "<text x=\"\(plotLeft - 6)\" y=\"\(y + 4)\" text-anchor=\"end\">\(grouped(value))</text>\n"
        }
        // Vertical gridlines on every UTC hour, labelled every 3 hours.
        for index in 0..<family.perMinute.count {
            let minute = firstMinute + Int64(index)
            guard minute % 60 == 0 else { continue }
            let x = plotLeft + index
            html += "<line class=\"grid\" x1=\"\(x)\" y1=\"\(plotTop)\" x2=\"\(x)\" y2=\"\(baseline)\"/>"
            let hour = Int(((minute / 60) % 24 + 24) % 24)
            if hour % 3 == 0 {
                let label = hour < 10 ? "0\(hour):00" : "\(hour):00"
                html += "<text class=\"hour\" x=\"\(x)\" y=\"\(baseline + 16)\" text-anchor=\"middle\">\(label)</text>"
            }
            html += "\n"
        }
        html += "<text x=\"\(plotLeft + plotWidth)\" y=\"\(baseline + 30)\" text-anchor=\"end\">hour (UTC)</text>\n"

        var points = ""
        points.reserveCapacity(family.perMinute.count * 10)
        for (index, value) in family.perMinute.enumerated() {
            points += index == 0 ? "M" : "L"
            points += "\(plotLeft + index) \(yCoordinate(value, top: top, baseline: baseline))"
        }
        let lastX = plotLeft + max(family.perMinute.count - 1, 0)
        html += "<path class=\"area\" d=\"M\(plotLeft) \(baseline)\(points.isEmpty ? "" : "L" + points.dropFirst())L\(lastX) \(baseline)Z\"/>\n"
        html += "<path class=\"line\" data-points=\"\(family.perMinute.count)\" d=\"\(points)\"/>\n"
        html += "</svg>\n</figure>\n"
    }

    /// The y coordinate of `value`, to a tenth of a unit, without a trailing ".0".
    static func yCoordinate(_ value: Int, top: Int, baseline: Int) -> String {
        let tenths = Int((Double(value) * Double(plotHeight) * 10 / Double(top)).rounded())
        let y = baseline * 10 - tenths
        return y % 10 == 0 ? "\(y / 10)" : "\(y / 10).\(y % 10)"
    }

    /// The smallest of 1, 2, 5 × 10^k at or above `peak` (1 for an empty chart): a y axis whose
    /// labels are round numbers.
    static func niceCeiling(_ peak: Int) -> Int {
        guard peak > 1 else { return 1 }
        var magnitude = 1
        while magnitude <= peak / 10 { magnitude *= 10 }
        for step in [1, 2, 5, 10] where step * magnitude >= peak { return step * magnitude }
        return 10 * magnitude
    }
}
