import NIOHTTP1

/// What an HTTP gate request asks for, from its method and path (the HTTP API of
/// Goverse's gate, plus the web client's files).
enum HTTPRoute: Equatable, Sendable {
    case call(type: String, id: String, method: String)
    case create(type: String, id: String)
    case delete(type: String, id: String)
    case events
    /// A CORS preflight for an API path.
    case preflight
    /// A file of the web client (`/` and `/chat` are its page).
    case file(String)
    /// `GET /healthz`: the process runs. `GET /ready`: it should get traffic.
    case healthz
    case ready
    /// `GET /metrics`: Prometheus text.
    case metrics
    /// `GET /api/v1/cluster`: the cluster page's data (JSON); `GET /cluster`: the page.
    case clusterReport
    case clusterPage(String)

    static let apiPrefix = "/api/v1/"

    static func parse(method: HTTPMethod, uri: String) throws(HTTPGateError) -> HTTPRoute {
        let path = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        guard path.hasPrefix(apiPrefix) else { return try page(method: method, path: path) }
        if method == .OPTIONS { return .preflight }
        let rest = path.dropFirst(apiPrefix.count)
        if rest == "cluster" {
            guard method == .GET else { throw .methodNotAllowed("GET") }
            return .clusterReport
        }
        if rest == "events/stream" {
            guard method == .GET else { throw .methodNotAllowed("GET") }
            return .events
        }
        for (action, count) in [("objects/call/", 3), ("objects/create/", 2), ("objects/delete/", 2)] where rest.hasPrefix(action) {
            guard method == .POST else { throw .methodNotAllowed("POST") }
            let parts = rest.dropFirst(action.count).split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == count else {
                throw HTTPGateError(.badRequest, "INVALID_PATH", "the path must be \(apiPrefix)\(action)"
                                    + (count == 3 ? "{type}/{id}/{method}" : "{type}/{id}"))
            }
            let decoded = try parts.map { part throws(HTTPGateError) -> String in
                guard let text = percentDecoded(part), !text.isEmpty else {
                    throw HTTPGateError(.badRequest, "INVALID_PATH", "empty or badly escaped part in \(path)")
                }
                return text
            }
            switch action {
            case "objects/call/": return .call(type: decoded[0], id: decoded[1], method: decoded[2])
            case "objects/create/": return .create(type: decoded[0], id: decoded[1])
            default: return .delete(type: decoded[0], id: decoded[1])
            }
        }
        throw HTTPGateError(.notFound, "NOT_FOUND", "no API at \(path)")
    }

    private static func page(method: HTTPMethod, path: String) throws(HTTPGateError) -> HTTPRoute {
        guard method == .GET || method == .HEAD else { throw .methodNotAllowed("GET") }
        if path == "/healthz" { return .healthz }
        if path == "/ready" { return .ready }
        if path == "/metrics" { return .metrics }
        if path == "/cluster" || path == "/cluster/" { return .clusterPage("cluster.html") }
        if path == "/" || path == "/chat" || path == "/chat/" { return .file("index.html") }
        let inCluster = path.hasPrefix("/cluster/")
        let name = path.dropFirst(path.hasPrefix("/chat/") ? 6 : inCluster ? 9 : 1)
        // One flat folder of files: nothing that could leave it.
        guard !name.isEmpty, !name.hasPrefix("."),
              name.utf8.allSatisfy({ $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_")
                  || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0 | 0x20) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
        else { throw HTTPGateError(.notFound, "NOT_FOUND", "no page at \(path)") }
        return inCluster ? .clusterPage(String(name)) : .file(String(name))
    }

    /// `%XX` escapes decoded (UTF-8); nil for a malformed escape or invalid UTF-8.
    static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var index = text.utf8.startIndex
        let utf8 = text.utf8
        while index < utf8.endIndex {
            let byte = utf8[index]
            if byte == UInt8(ascii: "%") {
                let first = utf8.index(after: index)
                guard first < utf8.endIndex, utf8.index(after: first) < utf8.endIndex,
                      let high = hexValue(utf8[first]), let low = hexValue(utf8[utf8.index(after: first)]) else { return nil }
                bytes.append(high << 4 | low)
                index = utf8.index(first, offsetBy: 2)
            } else {
                bytes.append(byte)
                index = utf8.index(after: index)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
