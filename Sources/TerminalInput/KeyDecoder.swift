/// What a person pressed, decoded from a raw-mode terminal's bytes.
public enum Key: Equatable, Sendable {
    /// A run of printable characters: one keystroke, or a whole paste.
    case text(String)
    case enter
    case backspace
    case delete          // the Delete key: the character under the cursor
    case interrupt       // Ctrl-C
    case endOfInput      // Ctrl-D
    case home            // Ctrl-A, Home
    case end             // Ctrl-E, End
    case deleteToStart   // Ctrl-U
    case left, right, up, down
}

/// Turns terminal input into keys. Bytes come in whatever pieces `read` returns (a paste
/// arrives as a few large reads; a read may end inside a UTF-8 character or an escape
/// sequence): what cannot be decoded yet is kept for the next `decode`.
///
/// The work is linear in the bytes: printable runs become one `.text` each, however long.
public struct KeyDecoder: Sendable {
    /// Bytes of an unfinished character or escape sequence from the previous read.
    private var carry: [UInt8] = []

    public init() {}

    public mutating func decode<Bytes: Collection<UInt8>>(_ input: Bytes) -> [Key] {
        let bytes = carry + input
        carry = []
        var keys: [Key] = []
        var index = 0
        var runStart: Int? = nil // the printable run being collected

        func endRun(at end: Int) {
            if let start = runStart, start < end {
                keys.append(.text(Self.text(bytes[start..<end])))
            }
            runStart = nil
        }

        while index < bytes.count {
            let byte = bytes[index]
            if byte >= 32 && byte != 127 {
                // Printable ASCII, or a UTF-8 sequence: joins the run if complete.
                let length = Self.sequenceLength(lead: byte)
                if index + length > bytes.count {
                    endRun(at: index)
                    carry = Array(bytes[index...])
                    return keys
                }
                if runStart == nil { runStart = index }
                index += length
                continue
            }
            endRun(at: index)
            if byte == 27 {
                switch Self.escape(bytes, at: index) {
                case .incomplete:
                    carry = Array(bytes[index...])
                    return keys
                case .key(let key, let length):
                    if let key { keys.append(key) }
                    index += length
                }
                continue
            }
            switch byte {
            case 13, 10: keys.append(.enter)
            case 127, 8: keys.append(.backspace)
            case 3: keys.append(.interrupt)
            case 4: keys.append(.endOfInput)
            case 1: keys.append(.home)
            case 5: keys.append(.end)
            case 21: keys.append(.deleteToStart)
            case 9: keys.append(.text(" ")) // a pasted tab: one space keeps the words apart
            default: break                   // other control bytes do nothing
            }
            index += 1
        }
        endRun(at: index)
        return keys
    }

    /// Printable ASCII and well-formed UTF-8 become text; anything else a U+FFFD.
    private static func text(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    /// How many bytes the UTF-8 sequence starting with `lead` takes (1 for ASCII and for
    /// bytes that cannot start one: those decode as U+FFFD on their own).
    private static func sequenceLength(lead: UInt8) -> Int {
        switch lead {
        case 0xC2...0xDF: return 2
        case 0xE0...0xEF: return 3
        case 0xF0...0xF4: return 4
        default: return 1
        }
    }

    private enum Escape {
        case incomplete
        /// A sequence of `length` bytes; nil for one this editor does not use.
        case key(Key?, length: Int)
    }

    /// ESC [ ... final, ESC O final (arrows in application mode), or ESC alone followed by
    /// another byte (Alt+key: ignored).
    private static func escape(_ bytes: [UInt8], at start: Int) -> Escape {
        guard start + 1 < bytes.count else { return .incomplete }
        let introducer = bytes[start + 1]
        guard introducer == UInt8(ascii: "[") || introducer == UInt8(ascii: "O") else {
            return .key(nil, length: 2)
        }
        // Parameters (digits, ';') up to a final byte in 0x40...0x7E.
        var index = start + 2
        while index < bytes.count, bytes[index] >= 0x20 && bytes[index] < 0x40 { index += 1 }
        guard index < bytes.count else { return .incomplete }
        let final = bytes[index]
        let parameters = String(decoding: bytes[(start + 2)..<index], as: UTF8.self)
        let length = index - start + 1
        switch (final, parameters) {
        case (UInt8(ascii: "A"), _): return .key(.up, length: length)
        case (UInt8(ascii: "B"), _): return .key(.down, length: length)
        case (UInt8(ascii: "C"), _): return .key(.right, length: length)
        case (UInt8(ascii: "D"), _): return .key(.left, length: length)
        case (UInt8(ascii: "H"), _), (UInt8(ascii: "~"), "1"), (UInt8(ascii: "~"), "7"):
            return .key(.home, length: length)
        case (UInt8(ascii: "F"), _), (UInt8(ascii: "~"), "4"), (UInt8(ascii: "~"), "8"):
            return .key(.end, length: length)
        case (UInt8(ascii: "~"), "3"):
            return .key(.delete, length: length)
        default:
            return .key(nil, length: length)
        }
    }
}
