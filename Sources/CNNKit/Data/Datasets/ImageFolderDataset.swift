import Foundation

/// torchvision's `ImageFolder`: `root/<class>/**/<image>`, one subfolder per class. Class indices
/// follow the sorted folder names; samples are ordered by folder path, then file name (code-point
/// order, as Python's `sorted`). Files are found by extension (`.jpg`, `.jpeg`, `.png`, any case);
/// other files are ignored, and so are entries whose names start with `.` (torchvision would make
/// `.ipynb_checkpoints` a class).
///
/// Only the file list is built up front: each image is read and decoded in `item(at:)`, so the
/// dataset streams from disk and any number of threads may call it at once.
///
/// A corrupt image is a `DataError.corrupt` naming the file. With `skipCorrupt`, `item(at:)` instead
/// returns the next decodable sample (wrapping around at the end, with that sample's own label),
/// prints one warning per bad file to standard error, and records it in `corruptFiles`, so a few
/// broken downloads cannot stop a long training run. Files found bad are not decoded again.
public struct ImageFolderDataset: ImageDataset {
  /// File extensions accepted as images (compared case-insensitively).
  public static let imageExtensions: Set<String> = ["jpg", "jpeg", "png"]

  /// One image file and its class.
  public struct Sample: Equatable, Sendable {
    /// `root/<class>/.../<file>`.
    public let path: String
    /// Index of the class folder in `classNames`.
    public let label: Int
  }

  /// The folder holding the class folders.
  public let root: String
  /// Class folder names, sorted; index = label.
  public let classNames: [String]
  /// Every image file, in torchvision's order.
  public let samples: [Sample]
  /// Whether `item(at:)` skips undecodable files instead of throwing.
  public let skipCorrupt: Bool
  /// Channels of the decoded images (`.rgb` as torchvision's default loader).
  public let channels: ImageChannels
  private let log = CorruptFileLog()

  public var count: Int { samples.count }

  /// Lists `root`; throws `badLayout` naming the folder when there are no class folders or a class
  /// folder holds no images, `unreadable` when `root` cannot be listed.
  public init(root: String, channels: ImageChannels = .rgb, skipCorrupt: Bool = false) throws {
    self.root = root
    self.channels = channels
    self.skipCorrupt = skipCorrupt
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: root, isDirectory: &isFolder), isFolder.boolValue else {
      throw DataError.unreadable(path: root, reason: "no such folder")
    }
    let classes = try Self.entries(of: root).filter { Self.isFolder(root + "/" + $0) }
    guard !classes.isEmpty else {
      throw DataError.badLayout(
        path: root, reason: "no class subfolders (ImageFolder expects root/<class>/<image>)")
    }
    var samples: [Sample] = []
    for (label, name) in classes.enumerated() {
      let folder = root + "/" + name
      let files = try Self.imageFiles(under: folder)
      guard !files.isEmpty else {
        throw DataError.badLayout(
          path: folder, reason: "class folder '\(name)' has no image files (.jpg, .jpeg or .png)")
      }
      samples += files.map { Sample(path: $0, label: label) }
    }
    classNames = classes
    self.samples = samples
  }

  /// Visible entry names of `folder`, sorted by code point.
  private static func entries(of folder: String) throws -> [String] {
    do {
      return try FileManager.default.contentsOfDirectory(atPath: folder)
        .filter { !$0.hasPrefix(".") }
        .sorted(by: codePointOrder)
    } catch {
      throw DataError.unreadable(path: folder, reason: "cannot list folder: \(error.localizedDescription)")
    }
  }

  private static func codePointOrder(_ a: String, _ b: String) -> Bool {
    a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars)
  }

  private static func isFolder(_ path: String) -> Bool {
    var flag: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &flag) && flag.boolValue
  }

  /// Image files under `folder`, recursively (symbolic links followed, as torchvision does), in
  /// the order of Python's `sorted(os.walk(...))`: folders by full path, files sorted within each.
  private static func imageFiles(under folder: String) throws -> [String] {
    var folders: [Listing] = []
    try collect(folder, depth: 0, into: &folders)
    // Sorting whole paths, not walking depth-first, matters when a name holds a character below
    // "/" ("x y" sorts before "x/z").
    return folders.sorted { codePointOrder($0.path, $1.path) }.flatMap(\.files)
  }

  /// One folder's path and the image files directly in it.
  private typealias Listing = (path: String, files: [String])

  private static func collect(_ folder: String, depth: Int, into folders: inout [Listing]) throws {
    // A link cycle would recurse forever; no real dataset nests this deep.
    guard depth < 32 else {
      throw DataError.badLayout(path: folder, reason: "folders nest more than 32 deep (link cycle?)")
    }
    var files: [String] = []
    for name in try entries(of: folder) {
      let path = folder + "/" + name
      if isFolder(path) {
        try collect(path, depth: depth + 1, into: &folders)
      } else if let dot = name.lastIndex(of: "."),
        imageExtensions.contains(name[name.index(after: dot)...].lowercased())
      {
        files.append(path)
      }
    }
    folders.append((folder, files))
  }

  /// Files that failed to decode so far (in `skipCorrupt` mode), sorted.
  public var corruptFiles: [String] { log.paths }

  /// Decodes sample `index`. See the type's documentation for `skipCorrupt`.
  public func item(at index: Int) throws -> LabeledImage {
    guard index >= 0 && index < count else {
      throw DataError.invalidOption("ImageFolderDataset: index \(index) is outside 0..<\(count)")
    }
    guard skipCorrupt else {
      let sample = samples[index]
      return LabeledImage(
        image: try ImageDecoder.decode(path: sample.path, channels: channels), label: sample.label)
    }
    var lastError: Error?
    for step in 0..<count {
      let sample = samples[(index + step) % count]
      if log.contains(sample.path) { continue }
      do {
        return LabeledImage(
          image: try ImageDecoder.decode(path: sample.path, channels: channels), label: sample.label)
      } catch let error as DataError {
        if log.insert(sample.path) {
          FileHandle.standardError.write(Data("warning: skipping corrupt image: \(error)\n".utf8))
        }
        lastError = error
      }
    }
    throw lastError ?? DataError.badLayout(path: root, reason: "every image in this folder is corrupt")
  }
}

/// The set of files found corrupt, shared by every copy of a dataset and safe to use from many threads.
private final class CorruptFileLog: @unchecked Sendable {
  // @unchecked: every access to `set` holds `lock`.
  private let lock = NSLock()
  private var set: Set<String> = []

  func contains(_ path: String) -> Bool { lock.withLock { set.contains(path) } }

  /// Adds `path`; true when it was not already there.
  func insert(_ path: String) -> Bool { lock.withLock { set.insert(path).inserted } }

  var paths: [String] { lock.withLock { set.sorted() } }
}
