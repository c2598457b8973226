import Testing
import VerseProtobuf

@Suite("protobuf oneofs")
struct ProtobufOneofTests {
    @Test func onlyTheSetOneofMemberDecodes() throws {
        var put = Etcdserverpb_PutResponse()
        put.header = Etcdserverpb_ResponseHeader()
        put.header?.revision = 7
        var op = Etcdserverpb_ResponseOp()
        op.responsePut = put
        let decoded = try Etcdserverpb_ResponseOp(serializedBytes: op.serializedBytes())
        #expect(decoded.responsePut?.header?.revision == 7)
        #expect(decoded.responseRange == nil)
        #expect(decoded.responseDeleteRange == nil)

        var compare = Etcdserverpb_Compare()
        compare.modRevision = 0 // a zero oneof scalar is still "set" and encoded
        let back = try Etcdserverpb_Compare(serializedBytes: compare.serializedBytes())
        #expect(back.modRevision == 0)
        #expect(back.version == nil)
    }
}
