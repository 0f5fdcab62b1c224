import Foundation
import XCTest

/// The user's study notes and reference texts under `<repo>/../shared`, read at test time so that
/// byte-exact tests compare with the notes themselves; a test skips when the shared folder is absent.
enum StudyNotes {
  /// Text of a file under `<repo>/../shared`, or a skip when it is missing.
  static func sharedText(_ relativePath: String) throws -> String {
    let url = SharedDatasets.repositoryRoot.appendingPathComponent("../shared/" + relativePath).standardized
    guard let data = FileManager.default.contents(atPath: url.path) else {
      throw XCTSkip("shared file \(url.path) is absent")
    }
    return String(decoding: data, as: UTF8.self)
  }

  /// The study note whose file name starts with `number` (`000_…txt`).
  static func seed(_ number: String) throws -> String {
    let folder = SharedDatasets.repositoryRoot.appendingPathComponent("../shared/seeds").standardized.path
    let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
    guard let name = names.sorted().first(where: { $0.hasPrefix(number + "_") }) else {
      throw XCTSkip("no seed \(number) in \(folder)")
    }
    return try sharedText("seeds/" + name)
  }

  /// A text's lines, empty ones kept.
  static func lines(_ text: String) -> [String] {
    text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
  }
}
