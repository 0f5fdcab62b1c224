import Foundation

/// Writes files so that a reader never sees a partial one: the bytes go to a temporary file in the
/// same folder, are flushed to disk (fsync), and only then renamed over the destination. If anything
/// fails, the temporary file is removed and an existing destination is left untouched.
public enum AtomicFile {
  /// Errors while writing; they name the destination path.
  public enum WriteError: Error, CustomStringConvertible {
    case failed(path: String, reason: String)
    public var description: String {
      switch self {
      case .failed(let path, let reason): return "\(path): cannot write: \(reason)"
      }
    }
  }

  /// A sink for the bytes of one file being written.
  public final class Writer {
    fileprivate let fd: Int32
    fileprivate let path: String
    fileprivate init(fd: Int32, path: String) {
      self.fd = fd
      self.path = path
    }

    /// Appends `count` bytes from `pointer`.
    public func write(_ pointer: UnsafeRawPointer, count: Int) throws {
      var offset = 0
      while offset < count {
        let n = Foundation.write(fd, pointer + offset, count - offset)
        if n < 0 {
          if errno == EINTR { continue }
          throw WriteError.failed(path: path, reason: String(cString: strerror(errno)))
        }
        offset += n
      }
    }

    /// Appends the bytes of `data`.
    public func write(_ data: Data) throws {
      try data.withUnsafeBytes { raw in
        if let base = raw.baseAddress { try write(base, count: raw.count) }
      }
    }
  }

  /// Creates `path` atomically with the bytes `body` writes.
  public static func write(to path: String, _ body: (Writer) throws -> Void) throws {
    let url = URL(fileURLWithPath: path)
    let folder = url.deletingLastPathComponent().path
    let temporary =
      folder + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
    guard fd >= 0 else { throw WriteError.failed(path: path, reason: String(cString: strerror(errno))) }
    var renamed = false
    defer { if !renamed { unlink(temporary) } }
    do {
      try body(Writer(fd: fd, path: path))
      guard fsync(fd) == 0 else {
        throw WriteError.failed(path: path, reason: "fsync: \(String(cString: strerror(errno)))")
      }
    } catch {
      close(fd)
      throw error
    }
    close(fd)
    guard rename(temporary, path) == 0 else {
      throw WriteError.failed(path: path, reason: "rename: \(String(cString: strerror(errno)))")
    }
    renamed = true
    // Persist the rename itself.
    let dir = open(folder.isEmpty ? "." : folder, O_RDONLY)
    if dir >= 0 {
      fsync(dir)
      close(dir)
    }
  }

  /// Creates `path` atomically with `data`.
  public static func write(_ data: Data, to path: String) throws {
    try write(to: path) { try $0.write(data) }
  }
}
