import Foundation
import NIOCore
import NIOPosix
import Logging
import NIOHTTP1
import Testing
import VerseGRPC
import VerseProtobuf
@testable import VerseRuntime

@Suite("HTTP gate: routes, request bodies and error statuses")
struct HTTPGateRequestTests {
    static func route(_ method: HTTPMethod, _ uri: String) -> Result<HTTPRoute, HTTPGateError> {
        Result { () throws(HTTPGateError) in try HTTPRoute.parse(method: method, uri: uri) }
    }

    @Test func theAPIPathsOfGoversesGateAndTheWebClientsFiles() {
        #expect(Self.route(.POST, "/api/v1/objects/call/ChatRoom/ChatRoom-General/Join") ==
                .success(.call(type: "ChatRoom", id: "ChatRoom-General", method: "Join")))
        #expect(Self.route(.POST, "/api/v1/objects/call/T/a%20b%2Fc/M?x=1") == .success(.call(type: "T", id: "a b/c", method: "M")))
        #expect(Self.route(.POST, "/api/v1/objects/create/Counter/c1") == .success(.create(type: "Counter", id: "c1")))
        #expect(Self.route(.POST, "/api/v1/objects/delete/Counter/c1") == .success(.delete(type: "Counter", id: "c1")))
        #expect(Self.route(.GET, "/api/v1/events/stream") == .success(.events))
        #expect(Self.route(.OPTIONS, "/api/v1/objects/call/A/b/C") == .success(.preflight))
        #expect(Self.route(.GET, "/") == .success(.file("index.html")))
        #expect(Self.route(.GET, "/chat") == .success(.file("index.html")))
        #expect(Self.route(.GET, "/app.js") == .success(.file("app.js")))
        #expect(Self.route(.GET, "/chat/style.css") == .success(.file("style.css")))
    }

    @Test func badPathsAndMethodsGetTheirStatus() {
        func status(_ method: HTTPMethod, _ uri: String) -> UInt {
            switch Self.route(method, uri) {
            case .success: 200
            case .failure(let error): error.status.code
            }
        }
        #expect(status(.GET, "/api/v1/objects/call/A/b/C") == 405)
        #expect(status(.POST, "/api/v1/events/stream") == 405)
        #expect(status(.DELETE, "/") == 405)
        #expect(status(.POST, "/api/v1/objects/call/A/b") == 400)
        #expect(status(.POST, "/api/v1/objects/call/A/b/C/D") == 400)
        #expect(status(.POST, "/api/v1/objects/call/A//C") == 400)
        #expect(status(.POST, "/api/v1/objects/call/A/%zz/C") == 400)
        #expect(status(.POST, "/api/v1/objects/call/A/%ff/C") == 400) // not UTF-8
        #expect(status(.POST, "/api/v1/nothing") == 404)
        #expect(status(.GET, "/../etc/passwd") == 404)
        #expect(status(.GET, "/.hidden") == 404)
        #expect(status(.GET, "/a/b.js") == 404)
    }

    @Test func aCallBodyIsJSONWithABase64Any() throws {
        var request = Chat_ChatRoom_JoinRequest()
        request.afterSeq = 7
        let any = ProtoAny(packing: request)
        let base64 = Self.base64(any.serializedBytes())
        let decoded = try HTTPGateResponder.decodeRequest(ByteBuffer(string: "{\"request\": \"\(base64)\"}"))
        #expect(decoded == any)
        #expect(try HTTPGateResponder.decodeRequest(ByteBuffer(string: "{}")) == ProtoAny()) // the default request
        for (body, code) in [("not json", "INVALID_JSON"), ("[1]", "INVALID_JSON"), ("{\"request\": 5}", "INVALID_JSON"),
                             ("{\"request\": \"***\"}", "INVALID_BASE64"), ("{\"request\": \"/w==\"}", "INVALID_PROTOBUF")] {
            #expect(throws: HTTPGateError.self) { try HTTPGateResponder.decodeRequest(ByteBuffer(string: body)) }
            do {
                _ = try HTTPGateResponder.decodeRequest(ByteBuffer(string: body))
            } catch let error as HTTPGateError {
                #expect(error.code == code, "\(body)")
                #expect(error.status == .badRequest)
            }
        }
    }

    @Test func runtimeErrorsMapToTheHTTPStatusThatFits() {
        let cases: [(GRPCStatus.Code, UInt)] = [
            (.invalidArgument, 400), (.unauthenticated, 401), (.permissionDenied, 403), (.notFound, 404), (.unimplemented, 404),
            (.failedPrecondition, 409), (.resourceExhausted, 429), (.unavailable, 503), (.deadlineExceeded, 504), (.internal, 500),
        ]
        for (code, status) in cases {
            let error = HTTPGateError(VerseError(VerseError.Code(rawValue: code.rawValue)!, "why"))
            #expect(error.status.code == status, "\(code)")
            #expect(error.code == code.description)
            #expect(error.body == "{\"code\":\"\(code.description)\",\"error\":\"why\"}")
        }
    }

    @Test func eventStreamEventsAreOneJSONDataLineEach() {
        var note = Chat_Client_NewMessageNotification()
        var message = Chat_ChatMessage()
        message.message = "two\nlines \"quoted\""
        note.message = message
        let any = ProtoAny(packing: note)
        let text = String(buffer: ServerSentEvents.message(any))
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 4 && lines[0] == "event: message" && lines[1].hasPrefix("data: {") && lines[2].isEmpty && lines[3].isEmpty)
        #expect(text.contains("\"type\":\"type.googleapis.com/chat.Client_NewMessageNotification\""))
        #expect(text.contains("\"payload\":\"\(Self.base64(any.serializedBytes()))\""))
        #expect(String(buffer: ServerSentEvents.register(clientID: "g/e-1")) == "event: register\ndata: {\"clientId\":\"g/e-1\"}\n\n")
    }

    @Test func eventStreamClientIDsCarry128RandomBits() {
        let ids = (0..<100).map { _ in Self.idPart(Self.someGate().makeUnguessableClientID()) }
        #expect(Set(ids).count == 100)
        #expect(ids.allSatisfy { $0.count == 2 + 32 && $0.hasPrefix("e-") })
    }

    static func idPart(_ id: String) -> String { String(id.split(separator: "/").last!) }

    static func someGate() -> Gate {
        let configuration = Gate.Configuration(advertiseAddress: "127.0.0.1:1", authenticator: OpenAuthenticator(),
                                               policy: AccessPolicy(calls: nil))
        let view = ClusterView(shardCount: 8)
        let links = NodeLinks(secret: nil, group: MultiThreadedEventLoopGroup.singleton, logger: .init(label: "test"))
        return Gate(configuration: configuration, router: ClusterRouter(view: view, localNode: nil, links: links, logger: .init(label: "test")),
                    logger: .init(label: "test"), reportGone: { _ in }, catalog: { nil })
    }

    static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }
}
