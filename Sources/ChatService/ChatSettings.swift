import Foundation
import NIOConcurrencyHelpers
import VerseRuntime

/// The chat service's fixed names and its tunables.
public enum Chat {
    /// The predefined rooms, in the order ListChatRooms answers.
    public static let roomNames = ["General", "Technology", "Crypto", "Sports", "Movies"]
    public static let managerID = "ChatRoomMgr0"
    public static let roomPrefix = "ChatRoom-"
    /// Longest message, in UTF-8 bytes.
    public static let maxMessageBytes = 4096
    /// Messages a Join or /messages returns.
    public static let recentCount = 50
    /// Most messages one catch-up (after_seq) or page returns.
    public static let maxPage = 1000
    /// Longest message_id a client may give, in UTF-8 bytes.
    public static let maxMessageIDBytes = 64
    /// A durable room saves its whole state every this many messages, so activating it
    /// replays at most this many journal entries.
    public static let snapshotEvery: Int64 = 500

    public static func roomID(_ name: String) -> String { roomPrefix + name }

    /// What clients may call through the gate.
    public static let policy = AccessPolicy(calls: [
        "ChatRoomMgr/ListChatRooms", "ChatRoom/Join", "ChatRoom/SendMessage", "ChatRoom/GetRecentMessages", "ChatRoom/Leave",
    ], publicCalls: ["ChatRoomMgr/ListChatRooms"])

    public static let objectTypes: [any VirtualObject.Type] = [ChatRoomMgr.self, ChatRoom.self]

    private static let historyLimitBox = NIOLockedValueBox(1000)

    /// Messages each room keeps (older ones are dropped), so memory stays bounded.
    public static var historyLimit: Int {
        get { historyLimitBox.withLockedValue { $0 } }
        set { historyLimitBox.withLockedValue { $0 = max(1, newValue) } }
    }
}

extension Chat {
    /// The web chat client's folder (index.html and its modules), shipped with the build.
    public static var webClientFolder: String? {
        Bundle.module.resourceURL.map { $0.appendingPathComponent("Web").path }
    }
}
