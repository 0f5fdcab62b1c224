import CNNKit
import Foundation
import XCTest

/// The notes' recipes through `cnnkit train`, fine-tuning, and what happens to the output folder.
extension CLITests {
  private func recipeFolder() throws -> String {
    let folder = NSTemporaryDirectory() + "cnnkit-recipe-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    addTeardownBlock { try? FileManager.default.removeItem(atPath: folder) }
    return folder
  }

  /// Note 003: ImageFolder, `Compose([CenterCrop(227), ToTensor(), Normalize(ImageNet)])`,
  /// `drop_last=True`, SGD 0.01 / 0.9 / 5e-4, StepLR(30, 0.1) — with a batch that fits 30 images.
  func testNote003RecipeRunsAsWritten() throws {
    let data = try SharedDatasets.folder("imagefolder")
    let folder = try recipeFolder()
    let result = try run([
      "train", "--model", "alexnet-paper-single", "--dataset", "imagefolder", "--data-dir", data,
      "--center-crop", "227", "--normalize", "0.485,0.456,0.406/0.229,0.224,0.225", "--drop-last", "-b", "8",
      "--lr", "0.01", "--momentum", "0.9", "--weight-decay", "5e-4", "--lr-step-size", "30", "--lr-gamma",
      "0.1",
      "--epochs", "1", "--output-dir", folder + "/run",
    ])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertTrue(
      result.stdout.contains(
        """
        Train transform: Compose(
            CenterCrop(size=(227, 227))
            ToTensor()
            Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
        )
        """), result.stdout)
    // 30 images at batch 8 with the last 6 dropped: three steps.
    XCTAssertTrue(result.stdout.contains("3/3 ["), result.stdout)
    XCTAssertTrue(result.stdout.contains("(last partial batch dropped)"), result.stdout)
    let metadata = try ModelMetadata.read(from: folder + "/run/model.safetensors")
    XCTAssertEqual(metadata.model, "alexnet-paper-single")
    XCTAssertEqual(metadata.classNames, ["ants", "bees"])
    XCTAssertEqual(metadata.input, [3, 227, 227])
    XCTAssertEqual(metadata.normalize, .imagenet)

    // predict and eval take the model, classes and names from the weights.
    let image = try XCTUnwrap(
      FileManager.default.enumerator(atPath: data + "/val/ants")?.allObjects.first as? String)
    let prediction = try run([
      "predict", data + "/val/ants/" + image, "--weights", folder + "/run/model.safetensors",
    ])
    XCTAssertEqual(prediction.status, 0, prediction.stderr)
    XCTAssertTrue(prediction.stdout.contains("ants") && prediction.stdout.contains("bees"), prediction.stdout)
    XCTAssertFalse(prediction.stdout.contains("class 1"), prediction.stdout)
    let evaluation = try run([
      "eval", "--weights", folder + "/run/model.safetensors", "--dataset", "imagefolder", "--data-dir", data,
    ])
    XCTAssertEqual(evaluation.status, 0, evaluation.stderr)
    XCTAssertTrue(evaluation.stdout.contains("Evaluating alexnet-paper-single"), evaluation.stdout)
    XCTAssertFalse(evaluation.stdout.contains("top-5"), "two classes: no top-5")

    // Batch 128 with drop_last leaves nothing from 30 images: said before any training.
    let empty = try run([
      "train", "--model", "alexnet-paper-single", "--dataset", "imagefolder", "--data-dir", data,
      "--center-crop", "227", "--drop-last", "-b", "128", "--output-dir", folder + "/empty",
    ])
    XCTAssertNotEqual(empty.status, 0)
    XCTAssertTrue(empty.stderr.hasPrefix("error: --drop-last leaves no batch: 30 images"), empty.stderr)
  }

  /// Note 003's MNIST loader: `Normalize((0.5,), (0.5,))`, plus subsets and no shuffling.
  func testDataFlagsNormalizeSubsetsAndShuffle() throws {
    let folder = try recipeFolder()
    let result = try run([
      "train", "--model", "lenet5", "--normalize", "0.5/0.5", "--train-subset", "100", "--val-subset", "50",
      "--no-shuffle", "--max-steps", "1", "--output-dir", folder + "/run",
    ])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertTrue(
      result.stdout.contains(
        "Pad(padding=2, fill=0, padding_mode=constant)\n    ToTensor()\n    Normalize(mean=[0.5], std=[0.5])"),
      result.stdout)
    XCTAssertTrue(result.stdout.contains("(100 train, 50 validation images)"), result.stdout)
    XCTAssertTrue(result.stdout.contains("Stopped by --max-steps at step 1"), result.stdout)
    XCTAssertEqual(try ModelMetadata.read(from: folder + "/run/model.safetensors").normalize?.mean, [0.5])

    let cases: [([String], String)] = [
      (["--normalize", "0.5"], "error: --normalize: normalisation must be MEAN[,MEAN...]/STD[,STD...]"),
      (["--normalize", "0.1,0.2,0.3/0.1,0.2,0.3"], "error: --normalize has 3 means for 1 input channels"),
      (["--center-crop", "0"], "error: --center-crop: center crop size must be N or H,W"),
      (["--center-crop", "20"], "error: the data pipeline makes 1×20×20 images but lenet5 takes 1×32×32"),
      (["--train-subset", "20000"], "error: --train-subset: a subset of 20000 images"),
      (["--classes", "5"], "error: --classes 5 is fewer than the 10 classes of mnist"),
      (["--freeze", "convs"], "error: --freeze: freeze prefix 'convs' matches no parameter"),
    ]
    for (flags, expected) in cases {
      let bad = try run(["train", "--model", "lenet5", "--output-dir", folder + "/bad"] + flags)
      XCTAssertNotEqual(bad.status, 0, "\(flags)")
      XCTAssertTrue(bad.stderr.hasPrefix(expected), "\(flags): \(bad.stderr)")
      XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, "\(flags): one line")
      XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/bad/checkpoint.safetensors"))
    }
  }

  /// A finished run is not overwritten by accident; `--overwrite` replaces all of it.
  func testOutputFolderIsCheckedFirst() throws {
    let folder = try recipeFolder()
    let out = folder + "/run"
    let first = try run(["train", "--model", "lenet5", "--max-steps", "1", "--output-dir", out])
    XCTAssertEqual(first.status, 0, first.stderr)
    let model = try Data(contentsOf: URL(fileURLWithPath: out + "/model.safetensors"))

    let again = try run(["train", "--model", "lenet5", "--max-steps", "1", "--output-dir", out])
    XCTAssertNotEqual(again.status, 0)
    XCTAssertTrue(again.stderr.hasPrefix("error: --output-dir \(out) already holds a run"), again.stderr)
    XCTAssertFalse(again.stdout.contains("Epoch"), "refused before training")
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out + "/model.safetensors")), model, "untouched")

    // An old per-epoch copy would otherwise linger beside the new run's files.
    FileManager.default.createFile(atPath: out + "/checkpoint-epoch-009.safetensors", contents: Data([1]))
    FileManager.default.createFile(atPath: out + "/notes.txt", contents: Data([1]))
    let overwrite = try run([
      "train", "--model", "lenet5", "--max-steps", "1", "--seed", "3", "--output-dir", out, "--overwrite",
    ])
    XCTAssertEqual(overwrite.status, 0, overwrite.stderr)
    XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/checkpoint-epoch-009.safetensors"))
    XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/notes.txt"), "only run files are removed")
    XCTAssertNotEqual(try Data(contentsOf: URL(fileURLWithPath: out + "/model.safetensors")), model)

    FileManager.default.createFile(atPath: folder + "/file", contents: Data([1]))
    let underFile = try run(["train", "--model", "lenet5", "--output-dir", folder + "/file/run"])
    XCTAssertNotEqual(underFile.status, 0)
    XCTAssertEqual(
      underFile.stderr,
      "error: --output-dir: output folder \(folder)/file/run: \(folder)/file is a file, not a folder\n")
  }

  /// Fine-tuning: weights of a 10-class run into a 12-class model (new head), a frozen trunk that
  /// does not move, and a head mismatch in `eval` that names the `--classes` that fits.
  func testFineTuneWithNewHeadAndFrozenFeatures() throws {
    let folder = try recipeFolder()
    let base = try run(["train", "--model", "lenet5", "--max-steps", "2", "--output-dir", folder + "/base"])
    XCTAssertEqual(base.status, 0, base.stderr)
    let tuned = try run([
      "train", "--model", "lenet5", "--weights", folder + "/base/model.safetensors", "--classes", "12",
      "--freeze", "features", "--max-steps", "3", "--output-dir", folder + "/tuned",
    ])
    XCTAssertEqual(tuned.status, 0, tuned.stderr)
    XCTAssertTrue(tuned.stdout.contains("New head: "), tuned.stdout)
    XCTAssertTrue(tuned.stdout.contains("for 12 classes replaces the 10-class head"), tuned.stdout)
    XCTAssertTrue(tuned.stdout.contains("Frozen: 4 parameter tensors under features"), tuned.stdout)
    XCTAssertFalse(tuned.stdout.contains("Non-trainable params: 0\n"), tuned.stdout)

    let before = try SafeTensorsFile(path: folder + "/base/model.safetensors")
    let after = try SafeTensorsFile(path: folder + "/tuned/model.safetensors")
    for entry in before.entries {
      let old = try before.tensor(named: entry.name).scalars
      let new = try after.tensor(named: entry.name).scalars
      if entry.name.hasPrefix("features.") {
        XCTAssertEqual(old, new, "\(entry.name) is frozen")
      } else if old.count == new.count {
        XCTAssertNotEqual(old, new, "\(entry.name) trains")
      }
    }

    // The 12-class weights hold no metadata-free surprise: without it, the hint names --classes 12.
    let plain = folder + "/plain.safetensors"
    try SafeTensorsWriter.write(
      after.entries.map { .init(name: $0.name, tensor: try after.tensor(named: $0.name)) }, metadata: [:],
      to: plain)
    let mismatch = try run(["eval", "--model", "lenet5", "--weights", plain])
    XCTAssertNotEqual(mismatch.status, 0)
    XCTAssertTrue(
      mismatch.stderr.contains("(the weights have 12 classes: add --classes 12)"), mismatch.stderr)
  }
}
