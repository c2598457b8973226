import ArgumentParser
import ChatService
import Foundation
import Logging
import VerseCLI
import VerseRuntime
import VerseServer

/// The chat service's node. `--embedded` runs the whole service (node + gate) in one
/// process with no etcd; otherwise it joins the cluster in etcd and gates route to it.
@main
struct ChatServer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat-server",
        abstract: "SwiftVerse chat node: ChatRoomMgr and ChatRoom objects.",
        discussion: "Listens on 127.0.0.1:48000 with --embedded, 127.0.0.1:47001 as a cluster node, unless --listen says otherwise.")

    @Flag(help: "Run node and gate in one process with no etcd; clients connect to --listen.")
    var embedded = false

    @OptionGroup var addresses: AddressOptions

    @Option(name: .customLong("history"), help: "Messages each room keeps (env SWIFTVERSE_CHAT_HISTORY).")
    var history = Int(ProcessInfo.processInfo.environment["SWIFTVERSE_CHAT_HISTORY"] ?? "") ?? 1000

    @OptionGroup var auth: GateAuthOptions
    @OptionGroup(title: "HTTP (browsers with --embedded; operators on any)") var http: GateHTTPOptions
    @OptionGroup var cluster: ClusterOptions

    func validate() throws {
        guard history >= 1 else { throw ValidationError("--history must be at least 1") }
    }

    func run() throws {
        ProcessLimits.raiseOpenFileLimit()
        try BlockingMain.run { try await self.serve() }
    }

    func serve() async throws {
        ProcessLogging.bootstrap(level: cluster.logLevel, format: cluster.logFormat)
        let metrics = ProcessMetrics.bootstrap(enabled: cluster.metrics)
        let logger = Logger(label: "chat-server")
        Chat.historyLimit = history
        let (listen, advertise) = try addresses.resolve(defaultListen: embedded ? "127.0.0.1:48000" : "127.0.0.1:47001")
        var gate = cluster.gate(advertise: advertise, authenticator: auth.authenticator, policy: Chat.policy)
        gate.http = try http.configuration(defaultWebRoot: Chat.webClientFolder, tls: cluster.serverTLS, metrics: metrics)
        // One machine keeps its rooms in a file unless told otherwise.
        let location = try cluster.storeLocation(default: embedded ? .defaultSQLite(named: "chat.sqlite") : .none)
        var settings = cluster.settings(embedded: embedded)
        if !embedded { settings.operatorHTTP = try http.configuration(defaultListen: "off", tls: cluster.serverTLS, metrics: metrics) }
        settings.store = try await location.open(logger: logger)
        logger.notice("object store: \(location)\(location == .none ? " (rooms live in memory only)" : "")")
        let process = try ClusterProcess.node(
            listen: cluster.server(listen: listen, logger: logger), advertise: advertise, objectTypes: Chat.objectTypes,
            settings: settings, gate: gate, logger: logger)
        // ChatRoomMgr0 (and through it the rooms) once every shard has an owner.
        try await serveUntilSignalled(process, logger: logger) {
            while !Task.isCancelled {
                do {
                    try await process.view.waitUntilReady(timeout: .seconds(60))
                    try await process.createObject(type: ChatRoomMgr.typeName, id: Chat.managerID)
                    logger.notice("chat service ready", metadata: ["rooms": "\(Chat.roomNames.joined(separator: ","))", "listen": "\(listen)"])
                    return
                } catch {
                    logger.info("chat setup waits for the cluster: \(error)")
                    try? await Task.sleep(for: .milliseconds(500))
                }
            }
        }
    }
}
