/// The line being typed: its characters, the cursor, and its width in terminal columns,
/// kept as it changes so that nothing is measured again over the whole line. What each
/// edit costs is proportional to what it changes (plus an array move for an edit
/// before the end), never to the line's length on every keystroke.
public struct InputLine: Sendable, Equatable {
    public private(set) var characters: [Character] = []
    public private(set) var cursor = 0
    /// Columns the whole line takes.
    public private(set) var width = 0

    public init(_ text: String = "") {
        replace(with: text)
    }

    public var text: String { String(characters) }
    public var isEmpty: Bool { characters.isEmpty }
    public var cursorAtEnd: Bool { cursor == characters.count }

    /// Inserts at the cursor and moves the cursor past it. A combining mark joins the
    /// character before it, as the terminal draws it.
    public mutating func insert(_ text: String) {
        var incoming = Array(text)
        guard !incoming.isEmpty else { return }
        if cursor > 0 {
            let joined = String(characters[cursor - 1]) + String(incoming[0])
            if joined.count == 1 {
                width -= TerminalWidth.of(characters[cursor - 1])
                characters[cursor - 1] = joined.first!
                width += TerminalWidth.of(characters[cursor - 1])
                incoming.removeFirst()
            }
        }
        width += TerminalWidth.of(incoming)
        characters.insert(contentsOf: incoming, at: cursor)
        cursor += incoming.count
    }

    public mutating func deleteBackward() {
        guard cursor > 0 else { return }
        cursor -= 1
        width -= TerminalWidth.of(characters.remove(at: cursor))
    }

    public mutating func deleteForward() {
        guard cursor < characters.count else { return }
        width -= TerminalWidth.of(characters.remove(at: cursor))
    }

    public mutating func deleteToStart() {
        width -= TerminalWidth.of(characters[..<cursor])
        characters.removeSubrange(..<cursor)
        cursor = 0
    }

    public mutating func moveLeft() { cursor = max(0, cursor - 1) }
    public mutating func moveRight() { cursor = min(characters.count, cursor + 1) }
    public mutating func moveToStart() { cursor = 0 }
    public mutating func moveToEnd() { cursor = characters.count }

    public mutating func replace(with text: String) {
        characters = Array(text)
        width = TerminalWidth.of(characters)
        cursor = characters.count
    }

    /// The part of the line to show in `room` columns so that the cursor stays in view:
    /// as much as fits before the cursor, then after it. The work is bounded by `room`.
    public func visible(in room: Int) -> (text: String, columnsAfterCursor: Int) {
        var start = cursor, used = 0
        while start > 0 && used + TerminalWidth.of(characters[start - 1]) <= room {
            start -= 1
            used += TerminalWidth.of(characters[start])
        }
        var end = cursor, after = 0
        while end < characters.count && used + TerminalWidth.of(characters[end]) <= room {
            let columns = TerminalWidth.of(characters[end])
            used += columns
            after += columns
            end += 1
        }
        return (String(characters[start..<end]), after)
    }
}
