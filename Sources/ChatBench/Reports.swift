import Foundation
import VerseCLI

/// The result of a load run, as a table or one JSON object.
struct RunReport {
    let workload: ChatBench.Workload
    let clients: Int
    let stallClients: Int
    let seconds: Double
    let sent: Int
    let expected: Int
    let delivered: Int
    let sendErrors: Int
    let firstSendError: String?
    let outOfOrder: Int
    let seq: (repeats: Int, gaps: Int, missing: Int, recovered: Int, firstGapError: String?)
    let latency: [String: Double]   // ms
    let callLatency: [String: Double]  // ms
    let serverCPU: CPUTime?
    var serverCPUSeconds: Double? { serverCPU?.total }
    /// Server RSS (summed over --server-pid) before the users registered and at the end
    /// of the measured window.
    let serverRSS: (before: Int, after: Int)?
    /// Users that moved to another gate because theirs went (each move counts).
    let gateMoves: Int

    init(workload: ChatBench.Workload, clients: Int, stallClients: Int, seconds: Double, measurements: Measurements,
         gateMoves: Int, serverCPU: CPUTime?, serverRSS: (before: Int, after: Int)?) {
        self.workload = workload
        self.gateMoves = gateMoves
        self.clients = clients
        self.stallClients = stallClients
        self.seconds = seconds
        self.serverCPU = serverCPU
        self.serverRSS = serverRSS
        seq = measurements.snapshot { ($0.seqRepeats, $0.seqGaps, $0.seqMissing, $0.seqRecovered, $0.firstGapError) }
        (sent, expected, delivered, sendErrors, firstSendError, outOfOrder, latency, callLatency) = measurements.snapshot { m in
            func ms(_ value: UInt64) -> Double { Double(value) / 1000 }
            let e2e = m.latency.totalCount == 0 ? [:] : [
                "p50": ms(m.latency.valueAtPercentile(50)), "p90": ms(m.latency.valueAtPercentile(90)),
                "p99": ms(m.latency.valueAtPercentile(99)), "p99.9": ms(m.latency.valueAtPercentile(99.9)), "max": ms(m.latency.max),
            ]
            let calls = m.callLatency.totalCount == 0 ? [:] : [
                "p50": ms(m.callLatency.valueAtPercentile(50)), "p99": ms(m.callLatency.valueAtPercentile(99)),
            ]
            return (m.sent, m.expected, m.delivered, m.sendErrors, m.firstSendError, m.outOfOrder, e2e, calls)
        }
    }

    var lost: Int { expected - delivered }
    var deliveriesPerSecond: Double { Double(delivered) / seconds }
    var callsPerSecond: Double { Double(sent) / seconds }
    var cpuMicrosPerDelivery: Double? { microsPerUnit(serverCPU?.total) }
    var userMicrosPerUnit: Double? { microsPerUnit(serverCPU?.user) }
    var systemMicrosPerUnit: Double? { microsPerUnit(serverCPU?.system) }

    /// Server CPU seconds over the units of work: deliveries (chat) or calls (list).
    private func microsPerUnit(_ seconds: Double?) -> Double? {
        let units = workload == .chat ? delivered : sent
        guard let seconds, units > 0 else { return nil }
        return seconds * 1e6 / Double(units)
    }
    /// What each user (and never-reading user) added to the server's memory, in bytes.
    var rssPerClient: Double? { serverRSS.map { Double($0.after - $0.before) / Double(clients + stallClients) } }

    /// Why the run failed, if it did: loss, errors, or reordering.
    var problem: String? {
        var problems: [String] = []
        if lost > 0 { problems.append("\(lost) of \(expected) expected deliveries were lost") }
        if sendErrors > 0 { problems.append("\(sendErrors) calls failed (first: \(firstSendError ?? "?"))") }
        if outOfOrder > 0 { problems.append("\(outOfOrder) pushes arrived out of order") }
        if seq.repeats > 0 { problems.append("\(seq.repeats) pushes repeated a seq already seen") }
        if seq.recovered < seq.missing {
            problems.append("\(seq.missing - seq.recovered) messages missing from seq gaps were not fetched back"
                            + (seq.firstGapError.map { " (first error: \($0))" } ?? ""))
        }
        return problems.isEmpty ? nil : problems.joined(separator: "; ")
    }

    private func f(_ value: Double?, _ digits: Int = 2) -> String {
        value.map { String(format: "%.\(digits)f", $0) } ?? "-"
    }

    var table: String {
        var rows: [(String, String)] = [
            ("workload", workload.rawValue), ("clients", "\(clients)" + (stallClients > 0 ? " (+\(stallClients) never reading)" : "")),
            ("measured seconds", f(seconds)), ("calls sent", "\(sent)"),
            ("calls/s", f(callsPerSecond, 0)), ("call latency p50 / p99 ms", "\(f(callLatency["p50"])) / \(f(callLatency["p99"]))"),
        ]
        if workload == .chat {
            rows += [
                ("expected deliveries", "\(expected)"), ("delivered", "\(delivered)"), ("lost", "\(lost)"),
                ("deliveries/s", f(deliveriesPerSecond, 0)),
                ("end-to-end p50 / p90 / p99 ms", "\(f(latency["p50"])) / \(f(latency["p90"])) / \(f(latency["p99"]))"),
                ("end-to-end p99.9 / max ms", "\(f(latency["p99.9"])) / \(f(latency["max"]))"),
                ("out of order", "\(outOfOrder)"),
                ("seq gaps: missing / fetched back", "\(seq.gaps): \(seq.missing) / \(seq.recovered)"),
                ("seq repeats", "\(seq.repeats)"),
            ]
        }
        rows += [("call errors", "\(sendErrors)"), ("moves to another gate", "\(gateMoves)"), ("server CPU seconds", f(serverCPUSeconds, 3)),
                 ("server CPU us per \(workload == .chat ? "delivery" : "call")", f(cpuMicrosPerDelivery)),
                 ("  of which user / system", "\(f(userMicrosPerUnit)) / \(f(systemMicrosPerUnit))"),
                 ("server RSS per client KiB", f(rssPerClient.map { $0 / 1024 }, 1))]
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n")
    }

    var json: String {
        var object: [String: Any] = [
            "workload": workload.rawValue, "clients": clients, "stall_clients": stallClients, "seconds": seconds,
            "sent": sent, "calls_per_second": callsPerSecond, "expected": expected, "delivered": delivered, "lost": lost,
            "deliveries_per_second": deliveriesPerSecond, "call_errors": sendErrors, "out_of_order": outOfOrder,
            "seq_repeats": seq.repeats, "seq_gaps": seq.gaps, "seq_missing": seq.missing, "seq_recovered": seq.recovered,
            "latency_ms": latency, "call_latency_ms": callLatency, "gate_moves": gateMoves,
        ]
        if let serverCPUSeconds { object["server_cpu_seconds"] = serverCPUSeconds }
        if let cpu = cpuMicrosPerDelivery { object["server_cpu_us_per_unit"] = cpu }
        if let user = userMicrosPerUnit, let system = systemMicrosPerUnit {
            object["server_user_us_per_unit"] = user
            object["server_system_us_per_unit"] = system
        }
        if let rss = serverRSS {
            object["server_rss_before"] = rss.before
            object["server_rss_after"] = rss.after
            object["server_rss_per_client"] = rssPerClient ?? 0
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

/// Memory held by idle registered users.
struct IdleReport {
    let clients: Int
    let rssBefore: Int?
    let rssAfter: Int?

    var perClient: Double? {
        guard let before = rssBefore, let after = rssAfter else { return nil }
        return Double(after - before) / Double(clients)
    }

    var table: String {
        """
        idle clients          \(clients)
        server RSS before     \(rssBefore.map { "\($0 / 1024) KiB" } ?? "-")
        server RSS after      \(rssAfter.map { "\($0 / 1024) KiB" } ?? "-")
        RSS per client        \(perClient.map { String(format: "%.1f KiB", $0 / 1024) } ?? "-")
        """
    }

    var json: String {
        "{\"clients\":\(clients),\"rss_before\":\(rssBefore ?? -1),\"rss_after\":\(rssAfter ?? -1),\"rss_per_client\":\(perClient ?? -1)}"
    }
}
