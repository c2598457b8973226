import VerseGRPC
import VerseProtobuf

/// A test case did not get what the interop descriptions require.
public struct InteropFailure: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The client side of the standard gRPC interop cases (doc/interop-test-descriptions.md).
public enum InteropTestCases {
    public static let all = [
        "empty_unary", "large_unary", "client_streaming", "server_streaming", "ping_pong", "empty_stream",
        "custom_metadata", "status_code_and_message", "special_status_message", "unimplemented_method",
        "unimplemented_service", "cancel_after_begin", "cancel_after_first_response", "timeout_on_sleeping_server",
        "client_compressed_unary", "server_compressed_unary", "client_compressed_streaming", "server_compressed_streaming",
    ]

    /// Every case `all` runs, with the two client-compressed ones in their "noprobe" form
    /// (grpc-java's names): for servers that cannot tell whether a request arrived
    /// compressed, as grpcio's Python API cannot, and so cannot answer the probe.
    public static let allWithoutProbes = all.map { name in
        name == "client_compressed_unary" || name == "client_compressed_streaming" ? name + "_noprobe" : name
    }

    /// Every case name this client runs.
    public static let known = all + ["client_compressed_unary_noprobe", "client_compressed_streaming_noprobe"]

    static let service = "/grpc.testing.TestService/"

    public static func run(_ name: String, client: GRPCClient) async throws {
        switch name {
        case "empty_unary": try await emptyUnary(client)
        case "large_unary": try await largeUnary(client)
        case "client_streaming": try await clientStreaming(client)
        case "server_streaming": try await serverStreaming(client)
        case "ping_pong": try await pingPong(client)
        case "empty_stream": try await emptyStream(client)
        case "custom_metadata": try await customMetadata(client)
        case "status_code_and_message": try await statusCodeAndMessage(client, message: "test status message")
        case "special_status_message":
            try await statusCodeAndMessage(client, message: "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n", unaryOnly: true)
        case "unimplemented_method": try await unimplemented(client, path: service + "UnimplementedCall")
        case "unimplemented_service": try await unimplemented(client, path: "/grpc.testing.UnimplementedService/UnimplementedCall")
        case "cancel_after_begin": try await cancelAfterBegin(client)
        case "cancel_after_first_response": try await cancelAfterFirstResponse(client)
        case "timeout_on_sleeping_server": try await timeoutOnSleepingServer(client)
        case "client_compressed_unary": try await clientCompressedUnary(client, probe: true)
        case "client_compressed_unary_noprobe": try await clientCompressedUnary(client, probe: false)
        case "server_compressed_unary": try await serverCompressedUnary(client)
        case "client_compressed_streaming": try await clientCompressedStreaming(client, probe: true)
        case "client_compressed_streaming_noprobe": try await clientCompressedStreaming(client, probe: false)
        case "server_compressed_streaming": try await serverCompressedStreaming(client)
        default: throw InteropFailure("unknown test case \"\(name)\"; known: \(all.joined(separator: ", "))")
        }
    }

    // MARK: helpers

    static func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw InteropFailure(message()) }
    }

    static func zeros(_ count: Int) -> Grpc_Testing_Payload {
        var payload = Grpc_Testing_Payload()
        payload.body = [UInt8](repeating: 0, count: count)
        return payload
    }

    static func streamingRequest(responseSize: Int32?, payloadSize: Int?) -> Grpc_Testing_StreamingOutputCallRequest {
        var request = Grpc_Testing_StreamingOutputCallRequest()
        if let responseSize {
            var parameters = Grpc_Testing_ResponseParameters()
            parameters.size = responseSize
            request.responseParameters = [parameters]
        }
        if let payloadSize { request.payload = zeros(payloadSize) }
        return request
    }

    static func largeRequest() -> Grpc_Testing_SimpleRequest {
        var request = Grpc_Testing_SimpleRequest()
        request.responseSize = 314_159
        request.payload = zeros(271_828)
        return request
    }

    static func checkPayload(_ payload: Grpc_Testing_Payload?, size: Int, _ what: String) throws {
        let body = payload?.body ?? []
        try expect(body.count == size, "\(what): payload of \(body.count) bytes, expected \(size)")
        try expect(body.allSatisfy { $0 == 0 }, "\(what): payload is not all zeros")
    }

    /// Expects the call to end with exactly `code`, and returns its status.
    @discardableResult
    static func expectStatus(_ code: GRPCStatus.Code, _ what: String, _ body: () async throws -> Void) async throws -> GRPCStatus {
        do {
            try await body()
        } catch let status as GRPCStatus {
            try expect(status.code == code, "\(what): status \(status), expected \(code)")
            return status
        }
        throw InteropFailure("\(what): call succeeded, expected \(code)")
    }

    // MARK: cases

    static func emptyUnary(_ client: GRPCClient) async throws {
        let _: Grpc_Testing_Empty = try await client.unary(service + "EmptyCall", request: Grpc_Testing_Empty())
    }

    static func largeUnary(_ client: GRPCClient) async throws {
        let response: Grpc_Testing_SimpleResponse = try await client.unary(service + "UnaryCall", request: largeRequest())
        try checkPayload(response.payload, size: 314_159, "large_unary")
    }

    static func clientStreaming(_ client: GRPCClient) async throws {
        let call: StreamingCall<Grpc_Testing_StreamingInputCallRequest, Grpc_Testing_StreamingInputCallResponse> =
            try await client.streaming(service + "StreamingInputCall")
        for size in [27_182, 8, 1_828, 45_904] {
            var request = Grpc_Testing_StreamingInputCallRequest()
            request.payload = zeros(size)
            try await call.send(request)
        }
        call.finishSending()
        let response = try await call.response()
        try expect(response.aggregatedPayloadSize == 74_922, "aggregated_payload_size \(response.aggregatedPayloadSize), expected 74922")
    }

    static func serverStreaming(_ client: GRPCClient) async throws {
        let sizes: [Int32] = [31_415, 9, 2_653, 58_979]
        var request = Grpc_Testing_StreamingOutputCallRequest()
        request.responseParameters = sizes.map { size in
            var parameters = Grpc_Testing_ResponseParameters()
            parameters.size = size
            return parameters
        }
        let call: StreamingCall<Grpc_Testing_StreamingOutputCallRequest, Grpc_Testing_StreamingOutputCallResponse> =
            try await client.serverStreaming(service + "StreamingOutputCall", request: request)
        var received: [Int] = []
        for try await response in call.responses {
            try checkPayload(response.payload, size: Int(sizes[min(received.count, sizes.count - 1)]), "server_streaming response \(received.count)")
            received.append(response.payload?.body.count ?? 0)
        }
        try expect(received == sizes.map(Int.init), "server_streaming: response sizes \(received), expected \(sizes)")
    }

    static func pingPong(_ client: GRPCClient) async throws {
        let call: StreamingCall<Grpc_Testing_StreamingOutputCallRequest, Grpc_Testing_StreamingOutputCallResponse> =
            try await client.streaming(service + "FullDuplexCall")
        var responses = call.responses.makeAsyncIterator()
        for (responseSize, payloadSize) in [(31_415, 27_182), (9, 8), (2_653, 1_828), (58_979, 45_904)] {
            try await call.send(streamingRequest(responseSize: Int32(responseSize), payloadSize: payloadSize))
            guard let response = try await responses.next() else {
                throw InteropFailure("ping_pong: stream ended before the response of size \(responseSize)")
            }
            try checkPayload(response.payload, size: responseSize, "ping_pong")
        }
        call.finishSending()
        try expect(try await responses.next() == nil, "ping_pong: more than four responses")
    }

    static func emptyStream(_ client: GRPCClient) async throws {
        let call: StreamingCall<Grpc_Testing_StreamingOutputCallRequest, Grpc_Testing_StreamingOutputCallResponse> =
            try await client.streaming(service + "FullDuplexCall")
        call.finishSending()
        var count = 0
        for try await _ in call.responses { count += 1 }
        try expect(count == 0, "empty_stream: \(count) responses, expected none")
    }

    static func customMetadata(_ client: GRPCClient) async throws {
        let initialValue = "test_initial_metadata_value"
        let trailingValue: [UInt8] = [0xab, 0xab, 0xab]
        var metadata = Metadata()
        metadata.add("x-grpc-test-echo-initial", initialValue)
        metadata.add("x-grpc-test-echo-trailing-bin", binary: trailingValue)

        func check(_ initial: Metadata, _ trailing: Metadata, _ what: String) throws {
            try expect(initial["x-grpc-test-echo-initial"] == initialValue,
                       "\(what): initial metadata x-grpc-test-echo-initial = \(initial["x-grpc-test-echo-initial"] ?? "missing")")
            try expect(trailing.binary("x-grpc-test-echo-trailing-bin") == trailingValue,
                       "\(what): trailing metadata x-grpc-test-echo-trailing-bin = \(trailing.binary("x-grpc-test-echo-trailing-bin").map { "\($0)" } ?? "missing")")
        }

        let unary: UnaryResponse<Grpc_Testing_SimpleResponse> =
            try await client.unaryCall(service + "UnaryCall", request: largeRequest(), metadata: metadata)
        try checkPayload(unary.message.payload, size: 314_159, "custom_metadata UnaryCall")
        try check(unary.initialMetadata, unary.trailingMetadata, "custom_metadata UnaryCall")

        let call: StreamingCall<Grpc_Testing_StreamingOutputCallRequest, Grpc_Testing_StreamingOutputCallResponse> =
            try await client.streaming(service + "FullDuplexCall", metadata: metadata)
        try await call.send(streamingRequest(responseSize: 314_159, payloadSize: 271_828))
        call.finishSending()
        var count = 0
        for try await response in call.responses {
            try checkPayload(response.payload, size: 314_159, "custom_metadata FullDuplexCall")
            count += 1
        }
        try expect(count == 1, "custom_metadata FullDuplexCall: \(count) responses, expected 1")
        try check(try await call.initialMetadata(), await call.trailingMetadata(), "custom_metadata FullDuplexCall")
    }

    static func statusCodeAndMessage(_ client: GRPCClient, message: String, unaryOnly: Bool = false) async throws {
        var echo = Grpc_Testing_EchoStatus()
        echo.code = 2
        echo.message = message
        var unaryRequest = Grpc_Testing_SimpleRequest()
        unaryRequest.responseStatus = echo
        let unaryStatus = try await expectStatus(.unknown, "UnaryCall") {
            let _: Grpc_Testing_SimpleResponse = try await client.unary(service + "UnaryCall", request: unaryRequest)
        }
        try expect(unaryStatus.message == message, "UnaryCall: status message \(unaryStatus.message.debugDescription), expected \(message.debugDescription)")
        if unaryOnly { return }

        var streamRequest = Grpc_Testing_StreamingOutputCallRequest()
        streamRequest.responseStatus = echo
        let streamStatus = try await expectStatus(.unknown, "FullDuplexCall") {
            let call: StreamingCall<Grpc_Testing_StreamingOutputCallRequest, Grpc_Testing_StreamingOutputCallResponse> =
                try await client.streaming(service + "FullDuplexCall")
            try await call.send(streamRequest)
            call.finishSending()
            for try await _ in call.responses {}
        }
        try expect(streamStatus.message == message, "FullDuplexCall: status message \(streamStatus.message.debugDescription), expected \(message.debugDescription)")
    }

    static func unimplemented(_ client: GRPCClient, path: String) async throws {
        try await expectStatus(.unimplemented, path) {
            let _: Grpc_Testing_Empty = try await client.unary(path, request: Grpc_Testing_Empty())
        }
    }

    static func cancelAfterBegin(_ client: GRPCClient) async throws {
        let call: StreamingCall<Grpc_Testing_StreamingInputCallRequest, Grpc_Testing_StreamingInputCallResponse> =
            try await client.streaming(service + "StreamingInputCall")
        call.cancel()
        let status = await call.status()
        try expect(status.code == .cancelled, "cancel_after_begin: status \(status), expected CANCELLED")
        try await emptyUnary(client) // the connection still works
    }

    static func cancelAfterFirstResponse(_ client: GRPCClient) async throws {
        let call: StreamingCall<Grpc_Testing_StreamingOutputCallRequest, Grpc_Testing_StreamingOutputCallResponse> =
            try await client.streaming(service + "FullDuplexCall")
        try await call.send(streamingRequest(responseSize: 31_415, payloadSize: 27_182))
        var responses = call.responses.makeAsyncIterator()
        guard let first = try await responses.next() else { throw InteropFailure("cancel_after_first_response: no response") }
        try checkPayload(first.payload, size: 31_415, "cancel_after_first_response")
        call.cancel()
        let status = await call.status()
        try expect(status.code == .cancelled, "cancel_after_first_response: status \(status), expected CANCELLED")
        try await emptyUnary(client)
    }

    static func timeoutOnSleepingServer(_ client: GRPCClient) async throws {
        let call: StreamingCall<Grpc_Testing_StreamingOutputCallRequest, Grpc_Testing_StreamingOutputCallResponse> =
            try await client.streaming(service + "FullDuplexCall", timeout: .milliseconds(1))
        try? await call.send(streamingRequest(responseSize: nil, payloadSize: 27_182))
        let status = await call.status()
        try expect(status.code == .deadlineExceeded, "timeout_on_sleeping_server: status \(status), expected DEADLINE_EXCEEDED")
        try await emptyUnary(client)
    }

    // MARK: compression (the CompressedRequest and CompressedResponse features)

    static func flag(_ value: Bool) -> Grpc_Testing_BoolValue {
        var flag = Grpc_Testing_BoolValue()
        flag.value = value
        return flag
    }

    /// The server must refuse a request that claims compression without it (the probe),
    /// then take one compressed and one not, each saying which it is.
    static func clientCompressedUnary(_ client: GRPCClient, probe: Bool) async throws {
        var request = largeRequest()
        request.expectCompressed = flag(true)
        if probe {
            try await expectStatus(.invalidArgument, "client_compressed_unary probe (expect_compressed, sent uncompressed)") {
                let _: Grpc_Testing_SimpleResponse = try await client.unary(service + "UnaryCall", request: request)
            }
        }
        for compressed in [true, false] {
            request.expectCompressed = flag(compressed)
            let response: Grpc_Testing_SimpleResponse = try await client.unary(
                service + "UnaryCall", request: request, compression: compressed ? .gzip : nil)
            try checkPayload(response.payload, size: 314_159, "client_compressed_unary (compressed: \(compressed))")
        }
    }

    /// The response comes compressed exactly when the request asks for it.
    static func serverCompressedUnary(_ client: GRPCClient) async throws {
        for compressed in [true, false] {
            var request = Grpc_Testing_SimpleRequest()
            request.responseSize = 314_159
            request.payload = zeros(271_828)
            request.responseCompressed = flag(compressed)
            let call = try await client.makeCall(path: service + "UnaryCall")
            try await call.send(request)
            call.finishSending()
            guard let message = try await call.nextResponseMessage() else {
                throw InteropFailure("server_compressed_unary: no response (status \(await call.status()))")
            }
            try expect(message.wasCompressed == compressed,
                       "server_compressed_unary: response compressed flag \(message.wasCompressed), asked for \(compressed)")
            let response = try message.bytes.withUnsafeReadableBytes { try Grpc_Testing_SimpleResponse(serializedBytes: $0) }
            try checkPayload(response.payload, size: 314_159, "server_compressed_unary (compressed: \(compressed))")
        }
    }

    /// Probe first, then a stream whose first message is compressed and second is not.
    static func clientCompressedStreaming(_ client: GRPCClient, probe: Bool) async throws {
        func request(size: Int, expectCompressed: Bool) -> Grpc_Testing_StreamingInputCallRequest {
            var request = Grpc_Testing_StreamingInputCallRequest()
            request.payload = zeros(size)
            request.expectCompressed = flag(expectCompressed)
            return request
        }
        if probe {
            try await expectStatus(.invalidArgument, "client_compressed_streaming probe (expect_compressed, sent uncompressed)") {
                let call: StreamingCall<Grpc_Testing_StreamingInputCallRequest, Grpc_Testing_StreamingInputCallResponse> =
                    try await client.streaming(service + "StreamingInputCall")
                try? await call.send(request(size: 27_182, expectCompressed: true))
                call.finishSending()
                _ = try await call.response()
            }
        }
        let call: StreamingCall<Grpc_Testing_StreamingInputCallRequest, Grpc_Testing_StreamingInputCallResponse> =
            try await client.streaming(service + "StreamingInputCall", compression: .gzip)
        try await call.send(request(size: 27_182, expectCompressed: true))
        try await call.send(request(size: 45_904, expectCompressed: false), compress: false)
        call.finishSending()
        let response = try await call.response()
        try expect(response.aggregatedPayloadSize == 73_086,
                   "client_compressed_streaming: aggregated_payload_size \(response.aggregatedPayloadSize), expected 73086")
    }

    /// Two responses: the first compressed, the second not, as the request asks.
    static func serverCompressedStreaming(_ client: GRPCClient) async throws {
        let asked: [(size: Int32, compressed: Bool)] = [(31_415, true), (92_653, false)]
        var request = Grpc_Testing_StreamingOutputCallRequest()
        request.responseParameters = asked.map { item in
            var parameters = Grpc_Testing_ResponseParameters()
            parameters.size = item.size
            parameters.compressed = flag(item.compressed)
            return parameters
        }
        let call = try await client.makeCall(path: service + "StreamingOutputCall")
        try await call.send(request)
        call.finishSending()
        var index = 0
        while let message = try await call.nextResponseMessage() {
            try expect(index < asked.count, "server_compressed_streaming: more than \(asked.count) responses")
            try expect(message.wasCompressed == asked[index].compressed,
                       "server_compressed_streaming: response \(index) compressed flag \(message.wasCompressed), asked for \(asked[index].compressed)")
            let response = try message.bytes.withUnsafeReadableBytes {
                try Grpc_Testing_StreamingOutputCallResponse(serializedBytes: $0)
            }
            try checkPayload(response.payload, size: Int(asked[index].size), "server_compressed_streaming response \(index)")
            index += 1
        }
        try expect(index == asked.count, "server_compressed_streaming: \(index) responses, expected \(asked.count)")
    }
}
