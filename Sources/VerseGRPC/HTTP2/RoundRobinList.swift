/// A list looked at a bounded number at a time, each look starting where the last one
/// stopped, where a look may remove what it sees. Removal swaps the last element into
/// the removed one's place (the order does not matter, and it costs O(1)); a look that
/// has gone round past the end steps over an element so moved if it has seen it already,
/// so that a look sees each element at most once and, given room, every one.
struct RoundRobinList<Element> {
    enum Visit {
        case keep
        case remove
        /// Remove this one and end the look.
        case removeAndStop
    }

    private(set) var elements: [Element] = []
    /// Where the next look starts.
    private var cursor = 0

    var count: Int { elements.count }
    var isEmpty: Bool { elements.isEmpty }

    mutating func append(_ element: Element) {
        elements.append(element)
    }

    /// Shows `visit` up to `limit` elements, each once, round the list from where the
    /// last look stopped. Returns how many it saw.
    @discardableResult
    mutating func look(atMost limit: Int, _ visit: (Element) -> Visit) -> Int {
        let looks = min(limit, elements.count)
        if cursor >= elements.count { cursor = 0 }
        // Positions from `start` to the end were seen before the look went round.
        let start = cursor
        var wrapped = false
        var seen = 0
        while seen < looks {
            if cursor >= elements.count {
                cursor = 0
                wrapped = true
            }
            seen += 1
            let verdict = visit(elements[cursor])
            guard verdict != .keep else {
                cursor += 1
                continue
            }
            let last = elements.removeLast() // it stood at `elements.count` now
            if cursor < elements.count {
                elements[cursor] = last
                if wrapped && elements.count >= start { cursor += 1 } // seen in this look already
            }
            if verdict == .removeAndStop { break }
        }
        return seen
    }
}
