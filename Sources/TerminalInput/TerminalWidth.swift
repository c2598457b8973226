/// How many terminal columns text takes, as terminals draw it: East Asian wide and
/// fullwidth characters and emoji take two, others one. An approximation of wcwidth
/// without locale tables; combining marks ride on their base character, which Swift's
/// Character already groups.
public enum TerminalWidth {
    public static func of(_ character: Character) -> Int {
        if character.isASCII { return 1 } // most input, and the cheap test first
        guard let first = character.unicodeScalars.first else { return 0 }
        if character.unicodeScalars.contains(where: \.properties.isEmojiPresentation) { return 2 }
        switch first.value {
        case 0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF,
             0xA000...0xA4CF, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60,
             0xFFE0...0xFFE6, 0x20000...0x2FFFD, 0x30000...0x3FFFD:
            return 2
        default:
            return 1
        }
    }

    public static func of<Text: Sequence<Character>>(_ text: Text) -> Int {
        text.reduce(0) { $0 + of($1) }
    }
}
