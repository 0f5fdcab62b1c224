import Foundation
import SwiftProtobuf

/// Writes a TensorBoard event file: what PyTorch's `SummaryWriter(log_dir).add_scalar` and Keras'
/// `TensorBoard` callback leave behind, so `tensorboard --logdir DIR` plots a CNNKit run.
///
/// The file is a sequence of TFRecords, each an `Event` protocol buffer (`Protos/tensorboard/`):
/// first one naming the format (`brain.Event:2`), then one per scalar. Records are appended as they
/// are added and `flush()` puts them on disk, so a run killed between flushes leaves a file
/// TensorBoard reads up to the last flush.
public final class TensorBoardWriter {
  /// Why events cannot be written; each names the folder or file.
  public enum WriterError: Error, Equatable, CustomStringConvertible {
    /// The folder cannot be created or written in.
    case unusableDirectory(path: String, reason: String)
    /// The event file could not be created or written.
    case writeFailed(path: String, reason: String)

    public var description: String {
      switch self {
      case .unusableDirectory(let path, let reason): return "\(path): \(reason)"
      case .writeFailed(let path, let reason): return "\(path): cannot write: \(reason)"
      }
    }
  }

  /// The first event of every file: the format version TensorBoard checks for.
  static let fileVersion = "brain.Event:2"

  /// The folder the event file is in.
  public let directory: String
  /// The event file: `events.out.tfevents.<unix seconds>.<hostname>` inside `directory`.
  public let path: String
  private var descriptor: Int32

  /// Creates `directory` if needed and a new event file in it holding the version event.
  /// - Parameters:
  ///   - hostname: the last part of the file name (the machine's name by default), as TensorFlow
  ///     names its files.
  ///   - now: the time in the file name and on the version event.
  public init(directory: String, hostname: String? = nil, now: Date = Date()) throws {
    do {
      try RunFolder.makeWritableFolder(directory)
    } catch RunFolder.RunFolderError.unusable(let path, let reason) {
      throw WriterError.unusableDirectory(path: path, reason: reason)
    }
    self.directory = directory
    let host = hostname ?? Self.machineName()
    let base = directory + "/events.out.tfevents.\(Int(now.timeIntervalSince1970)).\(host)"
    // A second writer started in the same second (two runs, or a resume) gets a numbered name
    // rather than appending to, or clobbering, the first one's file.
    var candidate = base
    var suffix = 0
    var fd: Int32
    repeat {
      fd = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_APPEND, 0o644)
      if fd < 0 && errno == EEXIST {
        suffix += 1
        candidate = base + ".\(suffix)"
        continue
      }
      break
    } while true
    guard fd >= 0 else {
      throw WriterError.writeFailed(path: candidate, reason: String(cString: strerror(errno)))
    }
    path = candidate
    descriptor = fd
    var version = Tensorboard_Event()
    version.wallTime = now.timeIntervalSince1970
    version.fileVersion = Self.fileVersion
    try append([version])
    try flush()
  }

  deinit { close() }

  /// Appends one scalar (TensorBoard's Scalars tab): `tag` such as `loss/train` at `step`.
  public func addScalar(_ tag: String, _ value: Double, step: Int, wallTime: Date = Date()) throws {
    try addScalars([(tag, value)], step: step, wallTime: wallTime)
  }

  /// Appends several scalars of one step, an event each (as PyTorch's writer does), in one write.
  public func addScalars(_ scalars: [(tag: String, value: Double)], step: Int, wallTime: Date = Date()) throws
  {
    let events = scalars.map { tag, value in
      var scalar = Tensorboard_Summary.Value()
      scalar.tag = tag
      scalar.simpleValue = Float(value)
      var event = Tensorboard_Event()
      event.wallTime = wallTime.timeIntervalSince1970
      event.step = Int64(step)
      event.summary.value = [scalar]
      return event
    }
    try append(events)
  }

  /// Appends an epoch's figures at step `record.epoch` (1 for the first epoch, as in `metrics.csv`)
  /// and flushes: `loss/train`, `accuracy/train`, `loss/val` and `accuracy/val` (when validated),
  /// `lr` and `img_per_s`. Accuracies are fractions, as Keras logs them.
  public func add(_ record: EpochRecord, wallTime: Date = Date()) throws {
    var scalars: [(tag: String, value: Double)] = [
      ("loss/train", record.trainLoss), ("accuracy/train", record.trainAccuracy),
    ]
    if let loss = record.validationLoss { scalars.append(("loss/val", loss)) }
    if let accuracy = record.validationAccuracy { scalars.append(("accuracy/val", accuracy)) }
    scalars += [("lr", record.learningRate), ("img_per_s", record.imagesPerSecond)]
    try addScalars(scalars, step: record.epoch, wallTime: wallTime)
    try flush()
  }

  /// Puts everything appended so far on disk (fsync).
  public func flush() throws {
    guard descriptor >= 0 else { throw WriterError.writeFailed(path: path, reason: "the writer is closed") }
    guard fsync(descriptor) == 0 else {
      throw WriterError.writeFailed(path: path, reason: "fsync: \(String(cString: strerror(errno)))")
    }
  }

  /// Closes the file; later additions fail. Closing twice does nothing.
  public func close() {
    if descriptor >= 0 {
      Foundation.close(descriptor)
      descriptor = -1
    }
  }

  /// One TFRecord: the length as a little-endian UInt64, the masked CRC-32C of those 8 bytes, the
  /// data, and the masked CRC-32C of the data (both little-endian UInt32).
  public static func record(_ data: [UInt8]) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(data.count + 16)
    bytes += littleEndianBytes(UInt64(data.count))
    bytes += littleEndianBytes(CRC32C.maskedChecksum(bytes))
    bytes += data
    bytes += littleEndianBytes(CRC32C.maskedChecksum(data))
    return bytes
  }

  private static func littleEndianBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
  }

  /// Writes the events' records with one `write` call, so a crash leaves at most the last record cut.
  private func append(_ events: [Tensorboard_Event]) throws {
    guard descriptor >= 0 else { throw WriterError.writeFailed(path: path, reason: "the writer is closed") }
    var bytes: [UInt8] = []
    for event in events {
      do {
        bytes += Self.record(try event.serializedBytes())
      } catch {
        throw WriterError.writeFailed(path: path, reason: "cannot encode an event: \(error)")
      }
    }
    var offset = 0
    while offset < bytes.count {
      let written = bytes.withUnsafeBytes { raw in
        Foundation.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
      }
      if written < 0 {
        if errno == EINTR { continue }
        throw WriterError.writeFailed(path: path, reason: String(cString: strerror(errno)))
      }
      offset += written
    }
  }

  /// The machine's name, from `gethostname` (Foundation's `hostName` may ask DNS, which can hang).
  private static func machineName() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
    let name = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
      .replacingOccurrences(of: "/", with: "_")
    return name.isEmpty ? "localhost" : name
  }
}
