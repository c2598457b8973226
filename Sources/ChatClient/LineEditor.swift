#if canImport(Glibc)
import Glibc
#endif
import NIOConcurrencyHelpers
import TerminalInput

/// The terminal: a small line editor (insert, backspace, delete, left/right, up/down
/// history, Home/End, Ctrl-A/E/U) in raw mode, and output that never tears the line
/// being typed: a message arriving mid-line is printed above it and the prompt is
/// redrawn with the partial input intact. Without a terminal (pipes), plain line reading.
///
/// Input is taken a read at a time, not a byte at a time: a paste arrives in a few large
/// reads, each decoded in one pass and drawn once, so taking in a line costs time in
/// proportion to its length (it used to redraw and re-measure the line per byte).
final class LineEditor: @unchecked Sendable {
    // @unchecked: every mutable field is guarded by `lock`.
    private let lock = NIOLock()
    private var prompt = "> "
    private var line = InputLine()
    private var decoder = KeyDecoder()
    /// Keys decoded but not yet applied: what followed an Enter in the same read (the
    /// next lines of a multi-line paste) waits here for the next `readLine`.
    private var pendingKeys: [Key] = []
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
    func show(_ text: String) {
        lock.withLock {
            if rawMode {
                write("\r\u{1b}[2K" + text.replacingNewlines + "\r\n")
                redrawLocked()
            } else {
                write(text + "\n")
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

    /// What applying keys came to: a finished line, the end of input, or neither yet.
    private enum Outcome {
        case line(String)
        case endOfInput
        case needMoreInput
    }

    /// Blocks for the next line; nil at end of input (Ctrl-D on an empty line, Ctrl-C).
    func readLine() -> String? {
        guard rawMode else {
            return Swift.readLine(strippingNewline: true)
        }
        lock.withLock {
            line = InputLine()
            historyIndex = history.count
            redrawLocked()
        }
        var input = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            switch lock.withLock({ applyPendingKeysLocked() }) {
            case .line(let text): return text
            case .endOfInput: return nil
            case .needMoreInput: break
            }
            guard let count = readAvailable(into: &input) else { return nil }
            lock.withLock { pendingKeys += decoder.decode(input[..<count]) }
        }
    }

    /// Blocks for input, then takes in whatever else is already waiting (a paste reaches
    /// the terminal in several pieces) so that it is drawn once; nil at end of input.
    private func readAvailable(into input: inout [UInt8]) -> Int? {
        var count = 0
        while count < input.count {
            let got = input.withUnsafeMutableBytes { read(0, $0.baseAddress! + count, $0.count - count) }
            if got < 0 && errno == EINTR { continue }
            if got <= 0 { return count > 0 ? count : nil }
            count += got
            var waiting = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
            if poll(&waiting, 1, 0) <= 0 { break }
        }
        return count
    }

    /// Applies the keys read so far, up to the end of a line, and then draws once: the
    /// new text alone when it was typed at the end of a line that still fits the row,
    /// the whole row otherwise.
    private func applyPendingKeysLocked() -> Outcome {
        guard !pendingKeys.isEmpty else { return .needMoreInput }
        let columns = self.columns
        var appended = ""
        var onlyAppended = line.cursorAtEnd
        var outcome = Outcome.needMoreInput
        var applied = 0
        keys: for key in pendingKeys {
            applied += 1
            switch key {
            case .text(let text):
                onlyAppended = onlyAppended && line.cursorAtEnd
                line.insert(text)
                if onlyAppended { appended += text }
            case .enter:
                let text = line.text
                if !text.isEmpty && history.last != text { history.append(text) }
                line = InputLine()
                write("\r\u{1b}[2K" + prompt + text + "\r\n")
                outcome = .line(text)
                break keys
            case .interrupt:
                outcome = .endOfInput
                break keys
            case .endOfInput:
                if line.isEmpty {
                    outcome = .endOfInput
                    break keys
                }
            default:
                onlyAppended = false
                edit(key)
            }
        }
        pendingKeys.removeFirst(applied)
        if case .needMoreInput = outcome {
            if onlyAppended && TerminalWidth.of(prompt) + line.width < columns {
                // Typing at the end of a line that fits: echo, don't redraw.
                write(appended)
            } else {
                redrawLocked(columns: columns)
            }
        }
        return outcome
    }

    private func edit(_ key: Key) {
        switch key {
        case .backspace: line.deleteBackward()
        case .delete: line.deleteForward()
        case .home: line.moveToStart()
        case .end: line.moveToEnd()
        case .deleteToStart: line.deleteToStart()
        case .left: line.moveLeft()
        case .right: line.moveRight()
        case .up: recall(-1)
        case .down: recall(+1)
        case .text, .enter, .interrupt, .endOfInput: break
        }
    }

    private func recall(_ step: Int) {
        let index = historyIndex + step
        guard index >= 0, index <= history.count else { return }
        historyIndex = index
        line = InputLine(index == history.count ? "" : history[index])
    }

    /// The prompt and as much of the input as fits on one row, scrolled sideways to keep
    /// the cursor in view. A line wider than the terminal must not wrap: `\r` and
    /// clear-line reach only the last row, so each redraw would leave a copy behind.
    private func redrawLocked(columns: Int? = nil) {
        let room = max(2, (columns ?? self.columns) - TerminalWidth.of(prompt) - 1)
        let (shown, after) = line.visible(in: room)
        write("\r\u{1b}[2K" + prompt + shown + (after > 0 ? "\u{1b}[\(after)D" : ""))
    }

    /// The terminal's width, asked at each use so a resized window is followed.
    private var columns: Int {
        var size = winsize()
        guard ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
    }

    private func write(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(1, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 && errno == EINTR { continue }
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
