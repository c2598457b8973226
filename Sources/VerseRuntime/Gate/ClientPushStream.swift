import Synchronization
import NIOCore
import VerseGRPC
import VerseProtobuf

/// Where a registered client's pushes go: its gRPC Register stream, or a browser's
/// event stream on the HTTP gate. Both bound what a client may leave unread the same way.
protocol ClientPushStream: AnyObject, Sendable {
    var eventLoop: EventLoop { get }
    /// The connection it came on (a gRPC session may be used only from there).
    var connectionID: ObjectIdentifier { get }
    /// What form its pushes take, so each push is encoded once per form.
    var form: PushForm { get }
    /// Queues one push, on `eventLoop`; a client too far behind is cut off.
    func write(_ push: PreparedPush, limit: ServerCall.BacklogLimit)
}

enum PushForm: Sendable, Equatable {
    /// A gRPC message, compressed with the gate's push compression or not.
    case grpc(compressed: Bool)
    /// A Server-Sent Events `message` event.
    case eventStream
}

/// One push, encoded once for each form its targets take.
struct PreparedPush: Sendable {
    let grpc: SharedMessage?
    let eventStream: ByteBuffer?

    init(_ message: ProtoAny, for targets: [ClientSession], compression: GRPCCompression?) {
        // One pass over the targets, nothing allocated: this runs for every push.
        var grpcTargets = false, compressedTargets = false, eventStreamTargets = false
        for session in targets {
            switch session.stream.form {
            case .grpc(let compressed):
                grpcTargets = true
                compressedTargets = compressedTargets || compressed
            case .eventStream:
                eventStreamTargets = true
            }
        }
        grpc = grpcTargets ? SharedMessage(message, compressedWith: compressedTargets ? compression : nil) : nil
        eventStream = eventStreamTargets ? ServerSentEvents.message(message) : nil
    }
}

/// A gRPC Register stream as a push destination.
final class GRPCPushStream: ClientPushStream {
    let call: ServerCall
    let form: PushForm

    init(call: ServerCall, compressed: Bool) {
        self.call = call
        self.form = .grpc(compressed: compressed)
    }

    var eventLoop: EventLoop { call.eventLoop }
    var connectionID: ObjectIdentifier { call.connectionID }

    func write(_ push: PreparedPush, limit: ServerCall.BacklogLimit) {
        guard let message = push.grpc else { return }
        _ = call.writeOnEventLoop(message, limit: limit) // cut-offs are logged when Register ends
    }
}

/// A registered client: its id, who it is, and where its pushes go.
final class ClientSession: Sendable {
    let id: String
    let stream: any ClientPushStream
    /// Held in the session itself: a lock box is two more allocations (about 100 bytes)
    /// per connected client.
    private let boundUser: Mutex<String?>

    /// `user` nil: not known yet (an HTTP event stream is opened without credentials;
    /// the first authenticated call that names it binds it, see `bind`).
    init(id: String, user: String?, stream: any ClientPushStream) {
        self.id = id
        self.stream = stream
        self.boundUser = Mutex(user)
    }

    var user: String? { boundUser.withLock { $0 } }

    /// Binds the session to `user` if it is not bound yet; false if it is bound to
    /// someone else (a client id is not usable by another identity).
    func bind(to user: String) -> Bool {
        boundUser.withLock { bound in
            if let bound { return bound == user }
            bound = user
            return true
        }
    }
}
