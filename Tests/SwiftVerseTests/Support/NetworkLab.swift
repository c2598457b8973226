import Foundation

/// A small network of Linux network namespaces for fault tests: a bridge (in a namespace
/// of its own, as a switch), one namespace per member process with a veth pair into the
/// bridge, and one veth from the test's own namespace, so the test reaches every member
/// directly. `cut` partitions two members silently (their packets to each other are
/// dropped, as a failed link drops them: connections hang, new ones time out) while
/// both still reach everyone else. Needs root (CAP_NET_ADMIN), which `make deps` needs too.
final class NetworkLab: @unchecked Sendable {
    // @unchecked: used by one test, step by step.
    struct Member: Sendable {
        let name: String
        let namespace: String
        let address: String

        /// The command line that runs `executable` inside this namespace (`ip netns exec`
        /// enters it and execs the program, so the PID is the program's own).
        func command(_ executable: String, _ arguments: [String]) -> (executable: String, arguments: [String]) {
            ("/usr/sbin/ip", ["netns", "exec", namespace, executable] + arguments)
        }
    }

    /// Each lab's names start with it, so `make test` can remove a dead run's leftovers.
    static let namePrefix = "svlab"
    private let tag: String
    private let subnet: String
    private var switchNamespace: String { "\(tag)-lan" }
    private var hostInterface: String { "\(tag)h" }
    /// Where the test itself is on the lab's network.
    var hostAddress: String { "\(subnet).1" }
    private(set) var members: [String: Member] = [:]

    init() throws {
        let pid = Int(getpid())
        tag = "\(Self.namePrefix)\(pid)"
        subnet = "10.213.\(pid % 250)"
        try? Self.ip(["netns", "del", switchNamespace]) // a leftover of an earlier run with this PID
        try? Self.ip(["link", "del", hostInterface])
        try Self.ip(["netns", "add", switchNamespace])
        try Self.ip(["-n", switchNamespace, "link", "add", "br0", "type", "bridge"])
        try Self.ip(["-n", switchNamespace, "link", "set", "br0", "up"])
        try Self.ip(["link", "add", hostInterface, "type", "veth", "peer", "name", "\(tag)hb"])
        try plug("\(tag)hb")
        try Self.ip(["addr", "add", "\(hostAddress)/24", "dev", hostInterface])
        try Self.ip(["link", "set", hostInterface, "up"])
    }

    /// The member called `name`, made (with its namespace, address and link) on first use.
    func member(_ name: String) throws -> Member {
        if let member = members[name] { return member }
        let member = Member(name: name, namespace: "\(tag)-\(name)", address: "\(subnet).\(members.count + 2)")
        let inside = "\(tag)m\(members.count)", outside = "\(tag)b\(members.count)"
        try Self.ip(["netns", "add", member.namespace])
        try Self.ip(["-n", member.namespace, "link", "set", "lo", "up"])
        try Self.ip(["link", "add", inside, "type", "veth", "peer", "name", outside])
        try Self.ip(["link", "set", inside, "netns", member.namespace])
        try plug(outside)
        try Self.ip(["-n", member.namespace, "addr", "add", "\(member.address)/24", "dev", inside])
        try Self.ip(["-n", member.namespace, "link", "set", inside, "up"])
        members[name] = member
        return member
    }

    /// Partitions `a` and `b` from each other: each drops what it sends the other.
    func cut(_ a: Member, _ b: Member) throws {
        try Self.ip(["-n", a.namespace, "route", "add", "blackhole", "\(b.address)/32"])
        try Self.ip(["-n", b.namespace, "route", "add", "blackhole", "\(a.address)/32"])
    }

    func heal(_ a: Member, _ b: Member) throws {
        try Self.ip(["-n", a.namespace, "route", "del", "blackhole", "\(b.address)/32"])
        try Self.ip(["-n", b.namespace, "route", "del", "blackhole", "\(a.address)/32"])
    }

    /// Removes every namespace and link of the lab (call after its processes have ended).
    func remove() {
        for member in members.values { try? Self.ip(["netns", "del", member.namespace]) }
        members.removeAll()
        try? Self.ip(["netns", "del", switchNamespace])
        try? Self.ip(["link", "del", hostInterface])
    }

    deinit { remove() }

    /// Attaches the switch's end of a veth pair (made in the test's namespace) to the bridge.
    private func plug(_ interface: String) throws {
        try Self.ip(["link", "set", interface, "netns", switchNamespace])
        try Self.ip(["-n", switchNamespace, "link", "set", interface, "master", "br0"])
        try Self.ip(["-n", switchNamespace, "link", "set", interface, "up"])
    }

    private static func ip(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw HarnessError("ip \(arguments.joined(separator: " ")): \(String(decoding: message, as: UTF8.self))")
        }
    }
}
