import ArgumentParser
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import VerseCLI
import VerseGRPC
import VerseProtobuf

/// chat-bench: load on a chat gate through the client protocol only, so it drives a
/// SwiftVerse gate or any other gate that speaks DESIGN.md's protocol.
@main
struct ChatBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat-bench",
        abstract: "Load generator for the chat service: push fan-out, calls, idle clients.",
        discussion: """
            Every message carries its send time; every receiver records the end-to-end
            latency (send start -> push received). Messages sent during warmup or drain are
            delivered but not measured. Loss is an error: after the drain, any expected
            delivery that did not arrive makes chat-bench exit non-zero.
            """)

    enum Workload: String, ExpressibleByArgument {
        /// Senders post chat messages; everyone in the room gets them.
        case chat
        /// Senders call ChatRoomMgr.ListChatRooms (a routed call with no push).
        case list
    }

    @Option(name: .customLong("target"), help: """
        Gate host:port (repeatable: users spread over the gates, and a user whose gate goes \
        moves to the next one, fetches what it missed, and retries its sends).
        """)
    var targets: [String] = ["127.0.0.1:48000"]
    @Option(help: "Simulated users.") var clients = 100
    @Option(help: "HTTP/2 connections per gate the users share (default: one per user).") var connections: Int?
    @Option(help: "Rooms the users spread over (at most 5: the predefined rooms).") var rooms = 5
    @Option(name: .customLong("room-clients"), help: """
        Users that join rooms (the first N; default: all). The others only register and \
        stay connected: many connected clients with a few of them chatting.
        """)
    var roomClients: Int?
    @Option(name: .customLong("source"), help: """
        Local address to connect from (repeatable: connections spread over them, for more \
        connections than one address has ephemeral ports).
        """)
    var sources: [String] = []
    @Option(help: "Users that send (the first N users).") var senders = 5
    @Option(help: "Messages per second per sender (open loop).") var rate: Double = 10
    @Flag(name: .customLong("closed-loop"), help: "Each sender sends its next message when the last one is answered.")
    var closedLoop = false
    @Option(help: "What senders do: chat or list.") var workload: Workload = .chat
    @Option(help: "Measured seconds.") var duration: Double = 10
    @Option(help: "Seconds of load before measuring.") var warmup: Double = 2
    @Option(help: "Seconds to wait after the run for deliveries still in flight.") var drain: Double = 10
    @Option(name: .customLong("message-size"), help: "Message text bytes.") var messageSize = 64
    @Option(name: .customLong("stall-clients"), help: "Extra users that join rooms and never read their pushes.")
    var stallClients = 0
    @Option(name: .customLong("user-prefix"), help: "User names are <prefix><n>.") var userPrefix = "bench"
    @Option(help: "The service password.") var password = "000000"
    @Flag(help: "Connect with TLS.") var tls = false
    @Option(name: .customLong("ca-file"), help: "PEM CA certificates for --tls.") var caFile: String?
    @Option(name: .customLong("server-pid"), help: """
        Report this process's CPU time (user and system) over the measured window, and its \
        memory (repeatable: a cluster's processes, summed).
        """)
    var serverPIDs: [Int32] = []
    @Flag(help: "Print the result as one JSON object.") var json = false
    @Flag(help: "Register the users, hold them idle for --duration, report server memory per user (needs --server-pid).")
    var idle = false

    static let roomNames = ["General", "Technology", "Crypto", "Sports", "Movies"]

    func validate() throws {
        guard clients > 0 else { throw ValidationError("--clients must be positive") }
        guard (1...5).contains(rooms) else { throw ValidationError("--rooms must be 1...5 (the predefined rooms)") }
        guard senders >= 0, senders <= clients else { throw ValidationError("--senders must be 0...--clients") }
        if let roomClients {
            guard roomClients >= senders, roomClients <= clients else { throw ValidationError("--room-clients must be --senders...--clients") }
        }
        for source in sources where (try? SocketAddress(ipAddress: source, port: 0)) == nil {
            throw ValidationError("--source expects an IP address, got \"\(source)\"")
        }
        guard closedLoop || idle || senders == 0 || rate > 0 else { throw ValidationError("--rate must be positive") }
        guard duration > 0, warmup >= 0, drain >= 0 else { throw ValidationError("--duration, --warmup and --drain must be positive") }
        guard messageSize >= 1, messageSize <= 4096 else { throw ValidationError("--message-size must be 1...4096") }
        guard (connections ?? 1) > 0, stallClients >= 0 else { throw ValidationError("--connections and --stall-clients must be positive") }
        for target in targets {
            guard let colon = target.lastIndex(of: ":"), Int(target[target.index(after: colon)...]) != nil else {
                throw ValidationError("--target expects host:port, got \"\(target)\"")
            }
        }
        if idle && serverPIDs.isEmpty { throw ValidationError("--idle needs --server-pid to measure memory") }
    }

    func run() throws {
        ProcessLimits.raiseOpenFileLimit()
        try BlockingMain.run { try await self.benchmark() }
    }

    /// One event loop per CPU this process may use (one when pinned with taskset).
    static let group = MultiThreadedEventLoopGroup(numberOfThreads: ProcessCPUs.available)

    private func makeClient(_ target: String, number: Int = 0) throws -> GRPCClient {
        let colon = target.lastIndex(of: ":")!
        var configuration = GRPCClient.Configuration(host: String(target[..<colon]), port: Int(target[target.index(after: colon)...])!,
                                                     tls: tls ? .client(trustRootsFile: caFile) : nil)
        configuration.http2.keepaliveInterval = nil
        configuration.connectTimeout = .seconds(30)
        if !sources.isEmpty { configuration.sourceAddress = sources[number % sources.count] }
        return try GRPCClient(configuration: configuration, group: Self.group)
    }

    func benchmark() async throws {
        let measurements = Measurements()
        let servers = ServerProcesses(pids: serverPIDs)
        let rssBefore = servers.residentBytes

        // Connections: K per gate, users assigned round-robin over gates, then connections.
        let perTarget = (clients + targets.count - 1) / targets.count
        let shared = try targets.map { target in try (0..<min(connections ?? perTarget, perTarget)).map { try makeClient(target, number: $0) } }
        let started = ContinuousClock.now
        let users: [BenchClient] = try await withThrowingTaskGroup(of: BenchClient.self) { group in
            var made: [BenchClient] = []
            for index in 0..<clients {
                if index >= 64 { made.append(try await group.next()!) } // at most 64 registrations in flight
                // Its own gate first, then the others in order.
                let gates = (0..<targets.count).map { offset in
                    let pool = shared[(index + offset) % targets.count]
                    return pool[(index / targets.count) % pool.count]
                }
                let room = index < (roomClients ?? clients) ? Self.roomNames[index % rooms] : nil
                let user = "\(userPrefix)\(index)"
                let password = self.password
                group.addTask { try await BenchClient.start(index: index, user: user, password: password, room: room, gates: gates) }
            }
            for try await client in group { made.append(client) }
            return made.sorted { $0.index < $1.index }
        }
        var stalled: [BenchClient] = []
        for index in 0..<stallClients { // own connections: unread data must not block anyone else's window
            let grpc = try makeClient(targets[index % targets.count], number: index)
            stalled.append(try await BenchClient.start(index: clients + index, user: "\(userPrefix)stall\(index)", password: password,
                                                       room: Self.roomNames[index % rooms], gates: [grpc]))
        }
        log("registered \(clients) users (+\(stallClients) that never read) in \(started.duration(to: .now)) over \(shared.flatMap { $0 }.count) connections")

        if idle {
            try await Task.sleep(for: .seconds(duration))
            let rssAfter = servers.residentBytes
            let report = IdleReport(clients: clients, rssBefore: rssBefore, rssAfter: rssAfter)
            print(json ? report.json : report.table)
            for user in users { user.close() }
            return
        }

        let readers = users.filter { $0.room != nil }
        let audience = Dictionary(grouping: readers, by: { $0.room! }).mapValues(\.count)
        for user in readers {
            await user.receive({ stamp, now, recovered in
                measurements.recordDelivery(receiver: user.index, stamp: stamp, receivedNanos: now, recovered: recovered)
            }, seqEvent: measurements.record)
        }

        // Load: warmup, measured window, then stop sending and drain.
        let stop = NIOLockedValueBox(false)
        let sending = (0..<senders).map { index in
            let sender = users[index]
            return Task { await self.sendLoop(sender, audience: sender.room.flatMap { audience[$0] } ?? 0, measurements: measurements, stop: stop) }
        }
        let progress = Task {
            var last = measurements.progress()
            let begin = ContinuousClock.now
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                let now = measurements.progress()
                log(String(format: "t=%5.1fs sent=%d delivered/s=%d p99=%.2fms", Double((ContinuousClock.now - begin).components.seconds),
                           now.sentAll, now.deliveredAll - last.deliveredAll, Double(now.recentP99) / 1000))
                last = now
            }
        }
        try await Task.sleep(for: .seconds(warmup))
        let cpuStart = servers.cpuTime
        let windowStart = monotonicNanos()
        measurements.openWindow(at: windowStart)
        try await Task.sleep(for: .seconds(duration))
        let windowEnd = monotonicNanos()
        measurements.closeWindow(at: windowEnd)
        let cpuEnd = servers.cpuTime
        let rssAfter = servers.residentBytes
        stop.withLockedValue { $0 = true }
        for task in sending { await task.value }
        let drainDeadline = ContinuousClock.now + .seconds(drain)
        while ContinuousClock.now < drainDeadline,
              measurements.snapshot({ $0.delivered < $0.expected }) {
            try await Task.sleep(for: .milliseconds(100))
        }
        progress.cancel()
        for user in users + stalled { user.close() }

        let report = RunReport(
            workload: workload, clients: clients, stallClients: stallClients,
            seconds: Double(windowEnd - windowStart) / 1e9, measurements: measurements, gateMoves: users.map(\.moves).reduce(0, +),
            serverCPU: cpuStart.flatMap { start in cpuEnd.map { $0 - start } },
            serverRSS: rssBefore.flatMap { before in rssAfter.map { (before, $0) } })
        print(json ? report.json : report.table)
        if let problem = report.problem {
            log("FAILED: \(problem)")
            throw ExitCode.failure
        }
    }

    /// One sender: open loop at --rate, or closed loop (next send when answered).
    private func sendLoop(_ sender: BenchClient, audience: Int, measurements: Measurements, stop: NIOLockedValueBox<Bool>) async {
        let interval = closedLoop ? 0 : UInt64(1e9 / rate)
        var next = monotonicNanos()
        var sequence = 0
        await withTaskGroup(of: Void.self) { group in
            while !stop.withLockedValue({ $0 }) {
                if interval > 0 {
                    let now = monotonicNanos()
                    if next > now { try? await Task.sleep(for: .nanoseconds(Int64(next - now))) }
                    next += interval
                }
                sequence += 1
                let stamp = BenchStamp(sender: sender.index, sequence: sequence, sentNanos: monotonicNanos())
                let text = stamp.text(size: messageSize)
                let id = "\(userPrefix)\(sender.index)-\(sequence)"
                let workload = self.workload
                let once: @Sendable () async -> Void = {
                    var failure: Error?
                    do {
                        switch workload {
                        case .chat: try await sender.send(text, id: id)
                        case .list: try await sender.listRooms()
                        }
                    } catch {
                        failure = error
                    }
                    measurements.recordSend(sentNanos: stamp.sentNanos, finishedNanos: monotonicNanos(),
                                            audience: workload == .chat ? audience : 0, error: failure)
                }
                if interval == 0 {
                    await once()
                } else {
                    group.addTask(operation: once) // open loop: do not wait for the answer
                }
            }
        }
    }

    private func log(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
