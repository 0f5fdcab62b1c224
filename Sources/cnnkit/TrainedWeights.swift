import CNNKit
import Foundation

/// A `--weights` file for `eval`, `predict` and `forward`: what its metadata says about the model
/// (a CNNKit-trained `model.safetensors` records it), and loading it with the fix spelled out when
/// only the head's class count differs.
struct TrainedWeights {
  let path: String
  /// Empty for a plain state dict (torchvision's), which records nothing.
  let metadata: ModelMetadata

  /// Reads the metadata of `path`. A `--model` flag is checked first, so a misspelt name is reported
  /// as such even when the weights file is also wrong.
  init(path: String, model: String?) throws {
    if let model { try CLIError.wrap { _ = try Zoo.resolve(model) } }
    self.path = path
    metadata = try CLIError.wrap { try ModelMetadata.read(from: path) }
  }

  /// The model name: the flag's, else the one the weights record, else `fallback`.
  func modelName(_ flag: String?, fallback: String?) throws -> String {
    guard let name = flag ?? metadata.model ?? fallback else {
      throw CLIError("--model is required: \(path) does not record which model it belongs to")
    }
    return name
  }

  /// Loads the weights into `model`; a strict failure that only the head's shape explains names the
  /// `--classes` value that fits.
  @discardableResult
  func load(into model: Module, strict: Bool) throws -> StateDictLoadReport {
    do {
      return try Checkpoint.loadWeights(from: path, into: model, strict: strict)
    } catch let mismatch as StateDictMismatch {
      if let count = FineTuning.headClassCount(of: mismatch, model: model) {
        throw CLIError("\(mismatch) (the weights have \(count) classes: add --classes \(count))")
      }
      throw CLIError("\(mismatch)")
    } catch {
      throw CLIError("\(error)")
    }
  }

  /// Prints what a non-strict load left out, one warning line each.
  func warn(_ report: StateDictLoadReport) {
    for name in report.missing + report.unexpected + report.shapeMismatches {
      FileHandle.standardError.write(Data("warning: \(path): not loaded: \(name)\n".utf8))
    }
  }
}
