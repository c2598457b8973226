import ArgumentParser
import Dispatch
import VerseCLI
import VerseGRPC

/// The interactive chat client: talks to a SwiftVerse (or Goverse) chat gate.
@main
struct ChatClient: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat in the SwiftVerse chat service.",
        discussion: ChatClient.help)

    static let help = """
        Commands:
          /list            the chat rooms
          /join <room>     enter a room (names match in any case)
          /messages        the room's recent messages
          /leave           leave the room
          /help            this help
          /quit            exit (Ctrl-D works too)
          anything else    sends a message to the room
        """

    @Option(help: "Gate address, host:port; repeat it for more gates: a lost connection moves on to the next.")
    var server: [String] = ["localhost:48000"]

    @Option(help: "Your user name (1-32 printable characters, no spaces).")
    var user: String

    @Option(help: "The service's password.")
    var password = "000000"

    @Flag(help: "Connect with TLS.")
    var tls = false

    @Option(name: .customLong("ca-file"), help: "PEM CA certificates to trust for --tls (default: the system's).")
    var caFile: String?

    func validate() throws {
        for server in server {
            guard let colon = server.lastIndex(of: ":"), Int(server[server.index(after: colon)...]) != nil else {
                throw ValidationError("--server expects host:port, got \"\(server)\"")
            }
        }
        guard !user.isEmpty, user.count <= 32, !user.contains(where: { $0.isWhitespace }) else {
            throw ValidationError("--user must be 1-32 printable characters with no spaces")
        }
        if caFile != nil && !tls { throw ValidationError("--ca-file needs --tls") }
    }

    func run() throws {
        try BlockingMain.run { try await self.chat() }
    }

    func chat() async throws {
        let servers = server.map { server in
            let colon = server.lastIndex(of: ":")!
            return (host: String(server[..<colon]), port: Int(server[server.index(after: colon)...])!)
        }
        let options = ChatSession.Options(servers: servers, user: user, password: password,
                                          tls: tls ? .client(trustRootsFile: caFile) : nil)
        let terminal = LineEditor()
        let session = try ChatSession(options: options, output: terminal)
        do {
            try await session.connect()
        } catch {
            terminal.show("error: \(error)")
            throw ExitCode.failure
        }
        terminal.show("connected to \(session.server) as \(user). /list shows the rooms, /help the commands.")
        terminal.enableRawMode()
        defer { terminal.restore() }

        // Lines are read on a thread of their own (reading blocks) and handled here in order.
        let (lines, input) = AsyncStream.makeStream(of: String.self)
        DispatchQueue(label: "chat.input").async {
            while let line = terminal.readLine() { input.yield(line) }
            input.finish()
        }
        for await line in lines {
            if await !handle(line, session: session, terminal: terminal) { break }
        }
        await session.close()
    }

    /// Runs one input line; false to quit.
    func handle(_ line: String, session: ChatSession, terminal: LineEditor) async -> Bool {
        let trimmed = line.trimmingCharacters
        guard !trimmed.isEmpty else { return true }
        do {
            if trimmed.hasPrefix("/") {
                let parts = trimmed.split(separator: " ", maxSplits: 1).map(String.init)
                let argument = parts.count > 1 ? parts[1].trimmingCharacters : ""
                switch parts[0].lowercased() {
                case "/quit", "/exit":
                    return false
                case "/help":
                    terminal.show(Self.help)
                case "/list":
                    let rooms = try await session.listRooms()
                    terminal.show("rooms: " + rooms.joined(separator: ", "))
                case "/join":
                    guard !argument.isEmpty else { throw ChatError("usage: /join <room> (try /list)") }
                    let joined = try await session.join(argument)
                    terminal.show("joined \(joined.room)" + (joined.recent.isEmpty ? "" : "; recent messages:"))
                    for message in joined.recent { terminal.show(ChatSession.format(message)) }
                    terminal.setPrompt("[\(joined.room)]> ")
                case "/messages":
                    let messages = try await session.recentMessages()
                    if messages.isEmpty { terminal.show("(no messages yet)") }
                    for message in messages { terminal.show(ChatSession.format(message)) }
                case "/leave":
                    let room = session.room
                    try await session.leave()
                    terminal.show("left \(room ?? "the room")")
                    terminal.setPrompt("> ")
                default:
                    throw ChatError("unknown command \(parts[0]) (try /help)")
                }
            } else {
                try await session.send(trimmed)
            }
        } catch {
            terminal.show("error: \(error)")
        }
        return true
    }
}

extension String {
    var trimmingCharacters: String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
