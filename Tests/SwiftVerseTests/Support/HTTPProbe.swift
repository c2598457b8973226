import Foundation

/// One plain HTTP/1.1 GET on loopback with a blocking socket: enough for a probe
/// endpoint's status line and short body.
enum HTTPProbe {
    struct Answer {
        let status: Int
        let body: String
    }

    static func get(port: Int, path: String) throws -> Answer {
        let socket = try LoopbackSocket(port: port)
        defer { socket.close() }
        socket.send(Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8))
        let response = socket.readToEnd()
        let text = String(decoding: response, as: UTF8.self)
        guard let statusLine = text.split(separator: "\r\n").first, let status = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) }),
              let bodyStart = text.range(of: "\r\n\r\n") else { throw HarnessError("not an HTTP answer: \(text.prefix(200))") }
        return Answer(status: status, body: String(text[bodyStart.upperBound...]))
    }
}
