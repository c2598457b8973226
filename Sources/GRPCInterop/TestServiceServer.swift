import VerseGRPC
import VerseProtobuf

/// grpc.testing.TestService as the interop test descriptions define the server side:
/// payloads of the requested sizes, echoed metadata and status, response intervals.
public enum TestServiceServer {
    public static let serviceName = "grpc.testing.TestService"

    static let echoInitialKey = "x-grpc-test-echo-initial"
    static let echoTrailingKey = "x-grpc-test-echo-trailing-bin"

    public static func service() -> GRPCService {
        var service = GRPCService(name: serviceName)
        service.unary("EmptyCall") { (_: Grpc_Testing_Empty, context) in
            echoMetadata(context)
            return Grpc_Testing_Empty()
        }
        service.unary("UnaryCall") { (request: Grpc_Testing_SimpleRequest, context) in
            echoMetadata(context)
            try checkCompression(expected: request.expectCompressed, wasCompressed: context.call.requestWasCompressed)
            try echoStatus(request.responseStatus)
            // CompressedResponse: compressed exactly when asked (in what the client accepts).
            if request.responseCompressed?.value == true { try compressResponses(context) }
            var response = Grpc_Testing_SimpleResponse()
            response.payload = try payload(type: request.responseType, size: request.responseSize)
            return response
        }
        service.unary("CacheableUnaryCall") { (request: Grpc_Testing_SimpleRequest, context) in
            echoMetadata(context)
            var response = Grpc_Testing_SimpleResponse()
            response.payload = Grpc_Testing_Payload()
            // The interop description asks for a payload that differs per request: the time.
            response.payload?.body = Array(String(describing: ContinuousClock.now).utf8)
            return response
        }
        service.serverStreaming("StreamingOutputCall") {
            (request: Grpc_Testing_StreamingOutputCallRequest, writer: ResponseWriter<Grpc_Testing_StreamingOutputCallResponse>, context) in
            echoMetadata(context)
            if request.responseParameters.contains(where: { $0.compressed?.value == true }) { try compressResponses(context) }
            try await respond(to: request, with: writer)
        }
        service.clientStreaming("StreamingInputCall") {
            (_: RequestStream<Grpc_Testing_StreamingInputCallRequest>, context) in
            echoMetadata(context)
            var total: Int32 = 0
            // Read with how each message arrived: CompressedRequest checks it per message.
            while let message = try await context.call.nextRequestMessage() {
                let request = try message.bytes.withUnsafeReadableBytes {
                    try Grpc_Testing_StreamingInputCallRequest(serializedBytes: $0)
                }
                try checkCompression(expected: request.expectCompressed, wasCompressed: message.wasCompressed)
                total += Int32(request.payload?.body.count ?? 0)
            }
            var response = Grpc_Testing_StreamingInputCallResponse()
            response.aggregatedPayloadSize = total
            return response
        }
        service.bidirectionalStreaming("FullDuplexCall") {
            (requests: RequestStream<Grpc_Testing_StreamingOutputCallRequest>, writer: ResponseWriter<Grpc_Testing_StreamingOutputCallResponse>, context) in
            echoMetadata(context)
            for try await request in requests {
                try await respond(to: request, with: writer)
            }
        }
        service.bidirectionalStreaming("HalfDuplexCall") {
            (requests: RequestStream<Grpc_Testing_StreamingOutputCallRequest>, writer: ResponseWriter<Grpc_Testing_StreamingOutputCallResponse>, context) in
            echoMetadata(context)
            var buffered: [Grpc_Testing_StreamingOutputCallRequest] = []
            for try await request in requests { buffered.append(request) }
            for request in buffered { try await respond(to: request, with: writer) }
        }
        return service
    }

    /// Echo Metadata: the initial key back as initial metadata, the trailing key back
    /// as trailing metadata, unchanged.
    private static func echoMetadata(_ context: ServerContext) {
        if let value = context.requestMetadata[echoInitialKey] {
            var initial = Metadata()
            initial.add(echoInitialKey, value)
            context.addInitialMetadata(initial)
        }
        if let value = context.requestMetadata.binary(echoTrailingKey) {
            var trailing = Metadata()
            trailing.add(echoTrailingKey, binary: value)
            context.addTrailingMetadata(trailing)
        }
    }

    /// Echo Status: a request carrying response_status ends the call with it.
    private static func echoStatus(_ status: Grpc_Testing_EchoStatus?) throws {
        guard let status, status.code != 0 else { return }
        let code = GRPCStatus.Code(rawValue: Int(status.code)) ?? .unknown
        throw GRPCStatus(code, status.message)
    }

    /// CompressedRequest: a request that says it is compressed must be, and one that
    /// says it is not must not be (INVALID_ARGUMENT otherwise: the clients' probe).
    private static func checkCompression(expected: Grpc_Testing_BoolValue?, wasCompressed: Bool) throws {
        guard let expected else { return }
        if expected.value && !wasCompressed {
            throw GRPCStatus(.invalidArgument, "expected a compressed request, got an uncompressed one")
        }
        if !expected.value && wasCompressed {
            throw GRPCStatus(.invalidArgument, "expected an uncompressed request, got a compressed one")
        }
    }

    /// Compresses this call's responses with gzip, or deflate, whichever the client takes.
    private static func compressResponses(_ context: ServerContext) throws {
        guard let encoding = [GRPCCompression.gzip, .deflate].first(where: context.call.acceptedEncodings.contains) else {
            throw GRPCStatus(.invalidArgument, "a compressed response was asked for, but the client accepts no compression")
        }
        context.call.compressResponses(with: encoding)
    }

    private static func payload(type: Grpc_Testing_PayloadType, size: Int32) throws -> Grpc_Testing_Payload {
        guard type == .compressable else {
            throw GRPCStatus(.invalidArgument, "unsupported response payload type \(type.rawValue)")
        }
        guard size >= 0 else { throw GRPCStatus(.invalidArgument, "negative response size \(size)") }
        var payload = Grpc_Testing_Payload()
        payload.type = type
        payload.body = [UInt8](repeating: 0, count: Int(size))
        return payload
    }

    private static func respond(to request: Grpc_Testing_StreamingOutputCallRequest,
                                with writer: ResponseWriter<Grpc_Testing_StreamingOutputCallResponse>) async throws {
        try echoStatus(request.responseStatus)
        for parameters in request.responseParameters {
            if parameters.intervalUs > 0 {
                try await Task.sleep(for: .microseconds(Int(parameters.intervalUs)))
            }
            var response = Grpc_Testing_StreamingOutputCallResponse()
            response.payload = try payload(type: request.responseType, size: parameters.size)
            try await writer.send(response, compress: parameters.compressed?.value == true)
        }
    }
}
