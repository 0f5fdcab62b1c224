import Foundation

/// The output folder of a training run, checked before any data is read or model built: it must be
/// creatable and writable, and a folder holding a finished or started run is refused unless the run
/// is resumed or the user asked to overwrite it.
public enum RunFolder {
  /// What is wrong with an output folder; each names it.
  public enum RunFolderError: Error, Equatable, CustomStringConvertible {
    /// The path cannot be a writable folder.
    case unusable(path: String, reason: String)
    /// The folder already holds a run.
    case holdsRun(path: String, file: String)

    public var description: String {
      switch self {
      case .unusable(let path, let reason): return "output folder \(path): \(reason)"
      case .holdsRun(let path, let file):
        return
          "output folder \(path) already holds a run (\(file)); overwrite it, resume it, or choose another folder"
      }
    }
  }

  /// The files a run writes there (and that overwriting removes, so no old file is left beside the
  /// new ones).
  static func isRunFile(_ name: String) -> Bool {
    ["checkpoint.safetensors", "model.safetensors", "metrics.csv", "history.svg"].contains(name)
      || (name.hasPrefix("checkpoint-epoch-") && name.hasSuffix(".safetensors"))
      || name.hasPrefix("events.out.tfevents.")
  }

  /// Creates `path` if needed and checks it. With `overwrite` an earlier run's files are removed;
  /// with `resuming` they are kept.
  public static func prepare(_ path: String, overwrite: Bool, resuming: Bool) throws {
    try makeWritableFolder(path)
    let manager = FileManager.default
    let names = ((try? manager.contentsOfDirectory(atPath: path)) ?? []).filter(isRunFile).sorted()
    guard let first = names.first, !resuming else { return }
    guard overwrite else { throw RunFolderError.holdsRun(path: path, file: first) }
    for name in names {
      do {
        try manager.removeItem(atPath: path + "/" + name)
      } catch {
        throw RunFolderError.unusable(path: path, reason: "cannot remove the earlier run's \(name)")
      }
    }
  }

  /// Creates `path` (and its parents) if needed and checks that files can be made in it; throws
  /// `RunFolderError.unusable` with the reason in plain words. Also what other log folders, such as
  /// TensorBoard's, are checked with.
  public static func makeWritableFolder(_ path: String) throws {
    let manager = FileManager.default
    var isDirectory: ObjCBool = false
    if manager.fileExists(atPath: path, isDirectory: &isDirectory) {
      guard isDirectory.boolValue else {
        throw RunFolderError.unusable(path: path, reason: "is a file, not a folder")
      }
    } else {
      // The nearest existing ancestor says why a folder cannot be made, in plain words.
      var ancestor = path
      repeat {
        ancestor = (ancestor as NSString).deletingLastPathComponent
      } while !ancestor.isEmpty && !manager.fileExists(atPath: ancestor)
      if ancestor.isEmpty { ancestor = "." }
      if manager.fileExists(atPath: ancestor, isDirectory: &isDirectory), !isDirectory.boolValue {
        throw RunFolderError.unusable(path: path, reason: "\(ancestor) is a file, not a folder")
      }
      do {
        try manager.createDirectory(atPath: path, withIntermediateDirectories: true)
      } catch {
        let reason = access(ancestor, W_OK) != 0 ? "\(ancestor) is not writable" : "cannot be created"
        throw RunFolderError.unusable(path: path, reason: reason)
      }
    }
    guard access(path, W_OK | X_OK) == 0 else {
      throw RunFolderError.unusable(
        path: path, reason: "is not writable (\(String(cString: strerror(errno))))")
    }
  }
}
