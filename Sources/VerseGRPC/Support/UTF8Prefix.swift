extension String {
    /// The longest start of the string within `limit` UTF-8 bytes that cuts no Unicode
    /// scalar in two: for messages that must stay short whatever went into them.
    public func prefix(utf8Bytes limit: Int) -> String {
        guard utf8.count > limit else { return self }
        var kept = 0
        var start = String.UnicodeScalarView()
        for scalar in unicodeScalars {
            kept += UTF8.width(scalar)
            if kept > limit { break }
            start.append(scalar)
        }
        return String(start)
    }
}
