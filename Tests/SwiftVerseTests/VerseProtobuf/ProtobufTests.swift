import Testing
import VerseProtobuf

@Suite("protobuf-c message API")
struct ProtobufTests {
    @Test func repeatedBytesRoundTripEmptyElementsIncluded() throws {
        var message = Grpc_Reflection_V1_FileDescriptorResponse()
        message.fileDescriptorProto = [[1, 2, 3], [], [0xff]]
        let decoded = try Grpc_Reflection_V1_FileDescriptorResponse(serializedBytes: message.serializedBytes())
        #expect(decoded.fileDescriptorProto == [[1, 2, 3], [], [0xff]])
        #expect(message.serializedBytes() == [0x0a, 3, 1, 2, 3, 0x0a, 0, 0x0a, 1, 0xff]) // field 1, length-delimited each
    }

    @Test func scalarFieldsEncodeToTheProtobufWireFormat() {
        var request = Grpc_Testing_SimpleRequest()
        request.responseSize = 1
        // field 2, varint: tag 0x10, value 1 (bytes any protobuf implementation agrees on)
        #expect(request.serializedBytes() == [0x10, 0x01])
        #expect(Grpc_Testing_Empty().serializedBytes() == [])
    }

    @Test func nestedRepeatedAndEnumFieldsRoundTrip() throws {
        var request = Grpc_Testing_StreamingOutputCallRequest()
        request.responseType = .compressable
        request.responseParameters = ([10, 0, 70_000] as [Int32]).map { size in
            var parameters = Grpc_Testing_ResponseParameters()
            parameters.size = size
            parameters.intervalUs = -5
            return parameters
        }
        request.payload = Grpc_Testing_Payload()
        request.payload?.body = [0, 1, 2, 255]
        request.responseStatus = Grpc_Testing_EchoStatus()
        request.responseStatus?.code = 2
        request.responseStatus?.message = "héllo ☺ 😈"
        let decoded = try Grpc_Testing_StreamingOutputCallRequest(serializedBytes: request.serializedBytes())
        #expect(decoded == request)
        #expect(decoded.responseParameters.map(\.size) == [10, 0, 70_000])
        #expect(decoded.responseStatus?.message == "héllo ☺ 😈")
    }

    @Test func absentMessageFieldsDecodeAsNil() throws {
        let decoded = try Grpc_Testing_SimpleRequest(serializedBytes: [0x10, 0x05])
        #expect(decoded.payload == nil)
        #expect(decoded.responseSize == 5)
    }

    @Test func repeatedStringsAndInt64RoundTrip() throws {
        var list = Chat_ChatRoom_ListResponse()
        list.chatRooms = ["General", "", "Crypto"]
        #expect(try Chat_ChatRoom_ListResponse(serializedBytes: list.serializedBytes()).chatRooms == ["General", "", "Crypto"])
        var message = Chat_ChatMessage()
        message.timestamp = -1_700_000_000_000_000
        message.userName = "alice"
        #expect(try Chat_ChatMessage(serializedBytes: message.serializedBytes()) == message)
    }

    @Test func invalidBytesThrowADecodingError() {
        // field 3 (payload) claims 100 bytes but none follow
        #expect(throws: ProtoDecodingError.self) {
            try Grpc_Testing_SimpleRequest(serializedBytes: [0x1a, 0x64])
        }
        // a truncated varint
        #expect(throws: ProtoDecodingError.self) {
            try Grpc_Testing_SimpleRequest(serializedBytes: [0x10, 0xff])
        }
    }

    @Test func unknownFieldsAreSkipped() throws {
        // field 15 (varint 7) is not in SimpleRequest; field 2 still decodes
        let decoded = try Grpc_Testing_SimpleRequest(serializedBytes: [0x78, 0x07, 0x10, 0x03])
        #expect(decoded.responseSize == 3)
    }

    @Test func anyPacksWithTheStandardTypeURLAndUnpacks() throws {
        var join = Chat_ChatRoom_JoinRequest()
        join.userName = "bob"
        let any = ProtoAny(packing: join)
        #expect(any.typeUrl == "type.googleapis.com/chat.ChatRoom_JoinRequest")
        #expect(any.typeName == "chat.ChatRoom_JoinRequest")
        #expect(try any.unpack(Chat_ChatRoom_JoinRequest.self) == join)
        #expect(throws: ProtoAnyTypeMismatch.self) { try any.unpack(Chat_ChatMessage.self) }
    }

    @Test func anyInsideAMessageForwardsItsPayloadBytesUntouched() throws {
        // The gate forwards CallObjectRequest.request without decoding it: the payload
        // bytes must survive a decode/encode of the outer message exactly.
        let payload: [UInt8] = [0x0a, 0x03, 0x62, 0x6f, 0x62, 0x12, 0x00]
        var call = Gate_CallObjectRequest()
        call.type = "ChatRoom"
        call.request = ProtoAny()
        call.request?.typeUrl = "type.googleapis.com/chat.ChatRoom_JoinRequest"
        call.request?.value = payload
        let decoded = try Gate_CallObjectRequest(serializedBytes: call.serializedBytes())
        #expect(decoded.request?.value == payload)
        #expect(decoded.type == "ChatRoom")
    }

    @Test func encodingIntoACallerBufferWritesExactlyCountBytes() {
        var response = Grpc_Testing_SimpleResponse()
        response.payload = Grpc_Testing_Payload()
        response.payload?.body = [UInt8](repeating: 7, count: 1000)
        let encoded = response.encoded()
        var buffer = [UInt8](repeating: 0xee, count: encoded.count + 4)
        let written = buffer.withUnsafeMutableBytes { encoded.write(into: $0) }
        #expect(written == encoded.count)
        #expect(Array(buffer.suffix(4)) == [0xee, 0xee, 0xee, 0xee])
        #expect(Array(buffer.prefix(written)) == response.serializedBytes())
    }
}
