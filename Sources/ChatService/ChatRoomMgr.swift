import VerseProtobuf
import VerseRuntime

/// The singleton `ChatRoomMgr0`: creates the predefined rooms and lists them.
public actor ChatRoomMgr: VirtualObject {
    public static let typeName = "ChatRoomMgr"
    public static let methods = MethodTable<ChatRoomMgr>()
        .method("ListChatRooms") { (_: isolated ChatRoomMgr, _: Chat_ChatRoom_ListRequest, _: CallContext) in
            var response = Chat_ChatRoom_ListResponse()
            response.chatRooms = Chat.roomNames
            return response
        }
    public static var idleTimeout: Duration? { nil }

    public static func allowsActivation(of id: String) -> Bool { id == Chat.managerID }

    private let runtime: ObjectRuntime

    public nonisolated var unownedExecutor: UnownedSerialExecutor { runtime.executor }

    public init(id: String, runtime: ObjectRuntime) {
        self.runtime = runtime
    }

    /// Creates every room, wherever its shard lives.
    public func onCreated() async throws {
        for name in Chat.roomNames {
            try await runtime.create(ChatRoom.typeName, Chat.roomID(name))
        }
    }
}
