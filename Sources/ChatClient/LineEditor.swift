#if canImport(Glibc)
import Glibc
#endif
import NIOConcurrencyHelpers

/// The terminal: a small line editor (insert, backspace, left/right, up/down history,
/// Ctrl-A/E/U) in raw mode, and output that never tears the line being typed: a
/// message arriving mid-line is printed above it and the prompt is redrawn with the
/// partial input intact. Without a terminal (pipes), plain line reading.
final class LineEditor: @unchecked Sendable {
    // @unchecked: every mutable field is guarded by `lock`.
    private let lock = NIOLock()
    private var prompt = "> "
    private var buffer: [Character] = []
    private var cursor = 0
    private var history: [String] = []
    private var historyIndex = 0
    private var original = termios()
    private var rawMode = false
    let isInteractive = isatty(0) == 1 && isatty(1) == 1

    func setPrompt(_ text: String) {
        lock.withLock {
            prompt = text
            if rawMode { redrawLocked() }
        }
    }

    /// Prints `line` above the input line (or just prints it without a terminal).
    func show(_ line: String) {
        lock.withLock {
            if rawMode {
                write("\r\u{1b}[2K" + line.replacingNewlines + "\r\n")
                redrawLocked()
            } else {
                write(line + "\n")
            }
        }
    }

    func enableRawMode() {
        guard isInteractive else { return }
        lock.withLock {
            tcgetattr(0, &original)
            var raw = original
            raw.c_lflag &= ~tcflag_t(ECHO | ICANON | ISIG | IEXTEN)
            raw.c_iflag &= ~tcflag_t(IXON | ICRNL)
            withUnsafeMutableBytes(of: &raw.c_cc) { cc in
                cc[Int(VMIN)] = 1
                cc[Int(VTIME)] = 0
            }
            tcsetattr(0, TCSAFLUSH, &raw)
            rawMode = true
        }
    }

    func restore() {
        lock.withLock {
            guard rawMode else { return }
            write("\r\n")
            tcsetattr(0, TCSAFLUSH, &original)
            rawMode = false
        }
    }

    /// Blocks for the next line; nil at end of input (Ctrl-D on an empty line, Ctrl-C).
    func readLine() -> String? {
        guard rawMode else {
            return Swift.readLine(strippingNewline: true)
        }
        lock.withLock {
            buffer = []
            cursor = 0
            historyIndex = history.count
            redrawLocked()
        }
        while true {
            guard let byte = readByte() else { return nil }
            switch byte {
            case 13, 10: // Enter
                let line = lock.withLock { () -> String in
                    let line = String(buffer)
                    if !line.isEmpty && history.last != line { history.append(line) }
                    buffer = []
                    cursor = 0
                    write("\r\u{1b}[2K" + prompt + line + "\r\n")
                    return line
                }
                return line
            case 3: // Ctrl-C
                return nil
            case 4: // Ctrl-D: end of input on an empty line
                if lock.withLock({ buffer.isEmpty }) { return nil }
            case 127, 8: // Backspace
                edit { if cursor > 0 { buffer.remove(at: cursor - 1); cursor -= 1 } }
            case 1: edit { cursor = 0 }              // Ctrl-A
            case 5: edit { cursor = buffer.count }   // Ctrl-E
            case 21: edit { buffer.removeSubrange(0..<cursor); cursor = 0 } // Ctrl-U
            case 27: // escape sequence: arrows
                guard readByte() == UInt8(ascii: "["), let key = readByte() else { continue }
                switch key {
                case UInt8(ascii: "A"): recall(-1)
                case UInt8(ascii: "B"): recall(+1)
                case UInt8(ascii: "C"): edit { cursor = min(buffer.count, cursor + 1) }
                case UInt8(ascii: "D"): edit { cursor = max(0, cursor - 1) }
                default: break
                }
            case 32...126:
                insert(Character(Unicode.Scalar(byte)))
            case 0xc0...0xf7: // a multi-byte UTF-8 character
                let extra = byte >= 0xf0 ? 3 : byte >= 0xe0 ? 2 : 1
                var bytes = [byte]
                for _ in 0..<extra { if let next = readByte() { bytes.append(next) } }
                if let character = String(decoding: bytes, as: UTF8.self).first { insert(character) }
            default:
                break
            }
        }
    }

    private func insert(_ character: Character) {
        lock.withLock {
            if cursor == buffer.count && fits(adding: character) {
                // Typing at the end of a line that fits (the usual case, and pastes):
                // echo, don't redraw, so a paste costs linear output, not quadratic.
                buffer.append(character)
                cursor += 1
                write(String(character))
            } else {
                buffer.insert(character, at: cursor)
                cursor += 1
                redrawLocked()
            }
        }
    }

    private func recall(_ step: Int) {
        edit {
            let index = historyIndex + step
            guard index >= 0, index <= history.count else { return }
            historyIndex = index
            buffer = index == history.count ? [] : Array(history[index])
            cursor = buffer.count
        }
    }

    private func edit(_ change: () -> Void) {
        lock.withLock {
            change()
            redrawLocked()
        }
    }

    /// The prompt and as much of the input as fits on one row, scrolled sideways to keep
    /// the cursor in view. A line wider than the terminal must not wrap: `\r` and
    /// clear-line reach only the last row, so each redraw would leave a copy behind.
    private func redrawLocked() {
        let room = max(2, columns - TerminalWidth.of(prompt) - 1)
        // As much as fits before the cursor, then after it.
        var start = cursor, used = 0
        while start > 0 && used + TerminalWidth.of(buffer[start - 1]) <= room {
            start -= 1
            used += TerminalWidth.of(buffer[start])
        }
        var end = cursor
        while end < buffer.count && used + TerminalWidth.of(buffer[end]) <= room {
            used += TerminalWidth.of(buffer[end])
            end += 1
        }
        let tail = TerminalWidth.of(buffer[cursor..<end])
        write("\r\u{1b}[2K" + prompt + String(buffer[start..<end]) + (tail > 0 ? "\u{1b}[\(tail)D" : ""))
    }

    /// Whether the line still fits on one row with `character` appended. Counting is
    /// skipped while even two columns per character would fit.
    private func fits(adding character: Character) -> Bool {
        let width = columns, promptWidth = TerminalWidth.of(prompt)
        if promptWidth + 2 * (buffer.count + 1) < width { return true }
        return promptWidth + TerminalWidth.of(buffer) + TerminalWidth.of(character) < width
    }

    /// The terminal's width, asked at each use so a resized window is followed.
    private var columns: Int {
        var size = winsize()
        guard ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
    }

    private func readByte() -> UInt8? {
        var byte: UInt8 = 0
        while true {
            let count = read(0, &byte, 1)
            if count == 1 { return byte }
            if count < 0 && errno == EINTR { continue }
            return nil
        }
    }

    private func write(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(1, bytes.baseAddress! + offset, bytes.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
    }
}

extension String {
    /// Keeps a pushed message on its own line in raw mode.
    var replacingNewlines: String {
        split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\r\n  ")
    }
}
