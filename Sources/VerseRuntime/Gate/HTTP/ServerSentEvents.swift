import FoundationEssentials
import NIOCore
import VerseProtobuf

/// The event stream's wire form (text/event-stream): `event: <name>`, one `data:` line
/// of JSON, a blank line. The JSON holds no raw newline, so one data line always does.
enum ServerSentEvents {
    static func event(_ name: String, json: String) -> ByteBuffer {
        ByteBuffer(string: "event: \(name)\ndata: \(json)\n\n")
    }

    /// `register`: the client id pushes to this stream are addressed to.
    static func register(clientID: String) -> ByteBuffer {
        event("register", json: JSONText.object(["clientId": clientID]))
    }

    /// `message`: one push, as Goverse's gate sends it: the Any's type URL and the
    /// whole serialized Any in base64.
    static func message(_ message: ProtoAny) -> ByteBuffer {
        let payload = Data(message.serializedBytes()).base64EncodedString()
        return event("message", json: JSONText.object(["type": message.typeUrl, "payload": payload]))
    }

    static let heartbeat = event("heartbeat", json: "{}")
}

/// Small JSON objects of strings, encoded by Foundation (escaping included).
enum JSONText {
    static func object(_ fields: [String: String]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(fields)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
