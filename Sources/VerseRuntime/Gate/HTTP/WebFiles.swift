import Foundation
import NIOCore

/// The files of a web client (one flat folder), read once when the gate starts.
struct WebFiles: Sendable {
    struct File: Sendable {
        let contentType: String
        let bytes: ByteBuffer
    }

    private let files: [String: File]

    static let contentTypes = [
        "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "mjs": "text/javascript; charset=utf-8",
        "css": "text/css; charset=utf-8", "svg": "image/svg+xml", "png": "image/png", "ico": "image/x-icon",
        "json": "application/json", "txt": "text/plain; charset=utf-8",
    ]

    static let none = WebFiles(files: [:])

    private init(files: [String: File]) { self.files = files }

    /// Every file of a known type directly in `folder`, which must hold `page`.
    init(folder: String, page: String = "index.html") throws {
        var files: [String: File] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) {
            guard let type = name.split(separator: ".").last.flatMap({ Self.contentTypes[String($0)] }) else { continue }
            let data = try Data(contentsOf: URL(filePath: folder + "/" + name))
            files[name] = File(contentType: type, bytes: ByteBuffer(bytes: data))
        }
        guard files[page] != nil else {
            throw VerseError(.invalidArgument, "the web root \(folder) has no \(page)")
        }
        self.files = files
    }

    subscript(_ name: String) -> File? { files[name] }
}

/// The cluster page's files (`/cluster`), shipped with the runtime: every gate serves it.
enum ClusterPageFiles {
    static let shared: WebFiles = {
        guard let folder = Bundle.module.resourceURL?.appendingPathComponent("ClusterPage").path,
              let files = try? WebFiles(folder: folder, page: "cluster.html") else { return .none }
        return files
    }()
}
