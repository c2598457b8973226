import VerseGRPC

/// What an object id may be: checked by the gate before it routes a call and by the node
/// before it activates anything, with the same rule and the same answers.
enum ObjectID {
    /// Longest object id accepted, in UTF-8 bytes.
    static let maxLength = 256

    static func validate(_ id: String) throws {
        guard !id.isEmpty else { throw VerseError(.invalidArgument, "empty object id") }
        guard id.utf8.count <= maxLength else {
            throw VerseError(.invalidArgument, "object id of \(id.utf8.count) bytes exceeds \(maxLength)")
        }
    }
}
