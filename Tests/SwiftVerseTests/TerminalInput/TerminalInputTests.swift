import Testing
import TerminalInput

@Suite("chat CLI input: key decoding and the line model")
struct TerminalInputTests {
    @Test func aPasteIsOneTextKeyAndLinesSplitAtEnter() {
        var decoder = KeyDecoder()
        let paste = String(repeating: "x", count: 5_000) + "\rsecond line\r"
        #expect(decoder.decode(Array(paste.utf8)) == [
            .text(String(repeating: "x", count: 5_000)), .enter, .text("second line"), .enter,
        ])
    }

    @Test func aCharacterOrEscapeSplitAcrossReadsIsKeptForTheNextRead() {
        var decoder = KeyDecoder()
        let bytes = Array("a日b".utf8) // 日 is E6 97 A5
        #expect(decoder.decode(bytes[0..<2]) == [.text("a")])
        #expect(decoder.decode(bytes[2..<3]) == [])
        #expect(decoder.decode(bytes[3...]) == [.text("日b")])
        #expect(decoder.decode([27]) == [])
        #expect(decoder.decode([UInt8(ascii: "[")]) == [])
        #expect(decoder.decode([UInt8(ascii: "D"), UInt8(ascii: "z")]) == [.left, .text("z")])
    }

    @Test func controlKeysAndEscapeSequences() {
        var decoder = KeyDecoder()
        let input: [UInt8] = [1, 5, 21, 127, 8, 3, 4, 9, 7] // Ctrl-A E U, DEL, BS, Ctrl-C D, tab, bell
            + Array("\u{1b}[A\u{1b}[B\u{1b}OC\u{1b}[H\u{1b}[4~\u{1b}[3~\u{1b}[1;5D\u{1b}x".utf8)
        #expect(decoder.decode(input) == [
            .home, .end, .deleteToStart, .backspace, .backspace, .interrupt, .endOfInput, .text(" "),
            .up, .down, .right, .home, .end, .delete, .left,
        ])
    }

    @Test func malformedUTF8BecomesReplacementCharactersNotLostInput() {
        var decoder = KeyDecoder()
        #expect(decoder.decode([UInt8(ascii: "a"), 0xFF, 0x80, UInt8(ascii: "b")]) == [.text("a\u{FFFD}\u{FFFD}b")])
    }

    @Test func widthIsKeptAcrossEdits() {
        var line = InputLine()
        line.insert("ab日本")
        #expect(line.width == 6)
        line.moveLeft()
        line.insert("😀")
        #expect(line.text == "ab日😀本" && line.width == 8 && line.cursor == 4)
        line.deleteBackward()
        line.deleteForward()
        #expect(line.text == "ab日" && line.width == 4)
        line.moveToStart()
        line.moveRight()
        line.deleteToStart()
        #expect(line.text == "b日" && line.width == 3 && line.cursor == 0)
        line.replace(with: "テキスト")
        #expect(line.width == 8 && line.cursorAtEnd)
    }

    @Test func aCombiningMarkTypedAloneJoinsTheCharacterBeforeIt() {
        var line = InputLine()
        line.insert("e")
        line.insert("\u{301}")
        #expect(line.characters.count == 1 && line.text == "e\u{301}" && line.width == 1)
    }

    @Test func theVisiblePartKeepsTheCursorInViewWithinTheRoom() {
        var line = InputLine(String(repeating: "a", count: 100) + "日本")
        var shown = line.visible(in: 10)
        #expect(shown.text == "aaaaaa日本" && shown.columnsAfterCursor == 0)
        line.moveToStart()
        shown = line.visible(in: 10)
        #expect(shown.text == "aaaaaaaaaa" && shown.columnsAfterCursor == 10)
        for _ in 0..<101 { line.moveRight() } // before 本: what is before the cursor comes first
        shown = line.visible(in: 8)
        #expect(shown.text == "aaaaaa日" && shown.columnsAfterCursor == 0)
        line.moveToStart()
        line.moveRight()
        line.moveRight()
        shown = line.visible(in: 5)
        #expect(shown.text == "aaaaa" && shown.columnsAfterCursor == 3)
        line.moveToEnd()
        // a wide character that would cross the edge is left out, not cut in half
        #expect(line.visible(in: 3).text == "本")
    }
}
