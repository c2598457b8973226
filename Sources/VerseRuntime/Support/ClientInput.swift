import VerseGRPC

/// Strings a client sends (object types, methods, ids, client ids, type URLs, user
/// names): each is length-checked before anything uses it, and an error message quotes
/// at most a short start of it, so no answer grows with what a stranger sent.
enum ClientInput {
    /// Object type and method names.
    static let maxNameBytes = 128
    static let maxTypeURLBytes = 512
    static let maxClientIDBytes = 256
    static let maxUserBytes = 128
    /// How much of a value an error message quotes (type URLs: `quotedURLBytes`, as
    /// real ones are longer than names). No message quotes more than about 100 bytes.
    static let quotedBytes = 40
    static let quotedURLBytes = 96

    /// Refuses `value` (the client's `field`) past `limit` UTF-8 bytes, naming only its size.
    static func check(_ value: String, _ field: String, atMost limit: Int) throws {
        let count = value.utf8.count
        guard count <= limit else { throw VerseError(.invalidArgument, "\(field) of \(count) bytes exceeds \(limit)") }
    }

    /// `value` for an error message: whole when short, else its first characters
    /// (whole characters, at most `quotedBytes`) and its size.
    static func brief(_ value: String, atMost limit: Int = quotedBytes) -> String {
        let count = value.utf8.count
        guard count > limit else { return value }
        return "\(value.prefix(utf8Bytes: limit))... (\(count) bytes)"
    }
}
