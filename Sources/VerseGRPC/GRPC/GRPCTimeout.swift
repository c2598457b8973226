/// The `grpc-timeout` header: up to 8 ASCII digits and a unit
/// (H hours, M minutes, S seconds, m milliseconds, u microseconds, n nanoseconds).
public enum GRPCTimeout {
    /// Parses a header value to nanoseconds; nil when it is not a valid timeout.
    public static func parse(_ value: String) -> Int64? {
        var value = value
        return value.withUTF8 { parse(UnsafeRawBufferPointer($0)) }
    }

    /// Parses the value's bytes as received (the server does, without making a String).
    static func parse(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        guard bytes.count >= 2, bytes.count <= 9, let unit = bytes.last else { return nil }
        var amount: Int64 = 0
        for digit in bytes.dropLast() {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
            amount = amount * 10 + Int64(digit - UInt8(ascii: "0"))
        }
        let nanosPerUnit: Int64
        switch unit {
        case UInt8(ascii: "H"): nanosPerUnit = 3_600_000_000_000
        case UInt8(ascii: "M"): nanosPerUnit = 60_000_000_000
        case UInt8(ascii: "S"): nanosPerUnit = 1_000_000_000
        case UInt8(ascii: "m"): nanosPerUnit = 1_000_000
        case UInt8(ascii: "u"): nanosPerUnit = 1_000
        case UInt8(ascii: "n"): nanosPerUnit = 1
        default: return nil
        }
        return amount.multipliedReportingOverflow(by: nanosPerUnit).overflow ? Int64.max : amount * nanosPerUnit
    }

    /// Formats nanoseconds in the finest unit that fits 8 digits, rounding up so a
    /// peer never sees a shorter deadline than ours.
    public static func format(nanoseconds: Int64) -> String {
        let nanos = max(nanoseconds, 1)
        let units: [(Int64, Character)] = [
            (1, "n"), (1_000, "u"), (1_000_000, "m"), (1_000_000_000, "S"), (60_000_000_000, "M"), (3_600_000_000_000, "H"),
        ]
        for (size, unit) in units {
            let amount = (nanos + size - 1) / size
            if amount <= 99_999_999 { return "\(amount)\(unit)" }
        }
        return "99999999H"
    }
}
