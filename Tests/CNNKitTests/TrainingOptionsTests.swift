import CNNKit
import Foundation
import XCTest

/// The option table, the data choices (as torchvision spells them), subsets, model metadata, the
/// output folder and freezing.
final class TrainingOptionsTests: XCTestCase {
  func testOptionTableIsTheOneSourceOfKeysDefaultsAndHelp() throws {
    let keys = TrainingOption.all.map(\.key)
    XCTAssertEqual(Set(keys).count, keys.count, "each key once")
    XCTAssertEqual(Set(TrainingConfiguration.keyTypes.keys), Set(keys))
    XCTAssertEqual(TrainingOption.help("batch-size"), "Batch size. Default: 32.")
    XCTAssertEqual(TrainingOption.help("weight-decay"), "Weight decay. Default: 5e-4.")
    XCTAssertEqual(TrainingOption.help("lr"), "Initial learning rate. Default: 0.02.")
    XCTAssertEqual(TrainingOption.help("keep-last").hasSuffix("Default: 0."), true)
    for option in TrainingOption.all {
      XCTAssertFalse(option.summary.isEmpty, option.key)
      if let value = option.defaultValue {
        // A default has the option's own type.
        let checked = try TrainingConfiguration(values: [option.key: value], source: "table")
        XCTAssertTrue(checked.isSet(option.key), option.key)
      }
    }
    // The command line over a file: set keys win, the rest fall through to the file, then the table.
    let file = try TrainingConfiguration(json: Array(#"{"epochs": 9, "lr": 0.5}"#.utf8))
    let flags = try TrainingConfiguration(values: ["epochs": .integer(2)], source: "command line")
    let merged = file.overridden(by: flags)
    XCTAssertEqual(merged.int("epochs"), 2)
    XCTAssertEqual(merged.float("lr"), 0.5)
    XCTAssertEqual(merged.int("batch-size"), 32)
    XCTAssertThrowsError(try TrainingConfiguration(values: ["epochs": .string("2")], source: "command line"))
    XCTAssertThrowsError(try TrainingConfiguration(values: ["epoch": .integer(2)], source: "command line"))
  }

  func testOptimizerFactoryNamesTheHyperparameter() throws {
    let parameters = [Tensor(zeros: [2], requiresGrad: true)]
    var options = OptimizerOptions()
    options.learningRate = 0.1
    XCTAssertTrue(try Optimizers.make("SGD", parameters: parameters, options: options) is SGD)
    XCTAssertTrue(try Optimizers.make("adamw", parameters: parameters, options: options) is AdamW)
    options.momentum = -1
    XCTAssertThrowsError(try Optimizers.make("sgd", parameters: parameters, options: options)) {
      XCTAssertEqual(
        $0 as? TrainingError, .invalidOption(name: "momentum", message: "must not be negative, got -1.0"))
    }
    options.momentum = 0
    options.nesterov = true
    XCTAssertThrowsError(try Optimizers.make("sgd", parameters: parameters, options: options))
    XCTAssertThrowsError(try Optimizers.make("lbfgs", parameters: parameters, options: OptimizerOptions()))
  }

  func testTransformsPrintAsTorchvisionRepr() throws {
    XCTAssertEqual(
      "\(try Resize(parsing: "256"))",
      "Resize(size=256, interpolation=bilinear, max_size=None, antialias=True)")
    XCTAssertEqual(
      "\(try Resize(parsing: "224,200"))",
      "Resize(size=(224, 200), interpolation=bilinear, max_size=None, antialias=True)")
    XCTAssertEqual("\(try CenterCrop(parsing: "227"))", "CenterCrop(size=(227, 227))")
    XCTAssertEqual("\(RandomCrop(32, padding: Padding(4)))", "RandomCrop(size=(32, 32), padding=4)")
    XCTAssertEqual("\(RandomHorizontalFlip())", "RandomHorizontalFlip(p=0.5)")
    XCTAssertEqual(
      "\(RandomResizedCrop(224))",
      "RandomResizedCrop(size=(224, 224), scale=(0.08, 1.0), ratio=(0.75, 1.3333), interpolation=bilinear, antialias=True)"
    )
    XCTAssertEqual("\(Grayscale(outputChannels: 3))", "Grayscale(num_output_channels=3)")
    let pipeline = ImagePipeline([Resize(256), CenterCrop(224)], normalize: .imagenet)
    XCTAssertEqual(
      "\(pipeline)",
      """
      Compose(
          Resize(size=256, interpolation=bilinear, max_size=None, antialias=True)
          CenterCrop(size=(224, 224))
          ToTensor()
          Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
      )
      """)
    for bad in ["", "0", "1,2,3", "a", "-4"] {
      XCTAssertThrowsError(try CenterCrop(parsing: bad), bad)
      XCTAssertThrowsError(try Resize(parsing: bad), bad)
    }
  }

  func testNormalizeParsingAndEachDatasetsOwnStatistics() throws {
    XCTAssertEqual(try Normalize(parsing: "0.5/0.5"), try Normalize(mean: [0.5], std: [0.5]))
    XCTAssertEqual(try Normalize(parsing: Normalize.imagenet.text), .imagenet)
    for bad in ["0.5", "0.5/", "/0.5", "0.5/0", "a/b", "0.1,0.2/0.3", "0.5/0.5/0.5", "nan/1"] {
      XCTAssertThrowsError(try Normalize(parsing: bad), bad)
    }
    func normalization(_ dataset: String, _ input: [Int]) -> Normalize? {
      Preprocessing.pipeline(dataset: dataset, imageSize: nil, modelInput: input, augment: false).normalize
    }
    XCTAssertEqual(normalization("mnist", [1, 28, 28]), .mnist)
    XCTAssertEqual(normalization("fashion-mnist", [1, 28, 28]), .fashionMNIST)
    XCTAssertEqual(normalization("cifar10", [3, 32, 32]), .cifar10)
    XCTAssertEqual(normalization("cifar100", [3, 32, 32]), .cifar100)
    // A chosen geometry replaces the default steps and the augmentation; the chosen mean is kept.
    let chosen = Preprocessing.pipeline(
      dataset: "imagefolder", imageSize: nil, modelInput: [3, 227, 227], augment: true,
      choices: PreprocessingChoices(centerCrop: CenterCrop(227), normalize: try Normalize(parsing: "0.5/0.5"))
    )
    XCTAssertEqual(
      "\(chosen)",
      "Compose(\n    CenterCrop(size=(227, 227))\n    ToTensor()\n    Normalize(mean=[0.5], std=[0.5])\n)")
  }

  func testSubsetsAreFixedDrawsWithoutRepeats() throws {
    struct Numbers: ImageDataset {
      let count = 50
      let classNames = ["a", "b"]
      func item(at index: Int) throws -> LabeledImage {
        LabeledImage(image: Image(height: 1, width: 1, channels: 1), label: index % 2)
      }
    }
    let a = try SubsetDataset(base: Numbers(), randomCount: 20)
    let b = try SubsetDataset(base: Numbers(), randomCount: 20)
    XCTAssertEqual(a.indices, b.indices, "the same draw every time")
    XCTAssertEqual(Set(a.indices).count, 20)
    XCTAssertEqual(a.indices, a.indices.sorted())
    XCTAssertNotEqual(a.indices, Array(0..<20), "drawn, not the first 20")
    XCTAssertEqual(try SubsetDataset(base: Numbers(), randomCount: 50).indices, Array(0..<50))
    XCTAssertThrowsError(try SubsetDataset(base: Numbers(), randomCount: 51))
    XCTAssertThrowsError(try SubsetDataset(base: Numbers(), indices: [3, 50]))
  }

  func testModelMetadataRoundTripsAndRejectsMalformedFields() throws {
    let metadata = ModelMetadata(
      model: "lenet5", classes: 2, classNames: ["cat", "dog \"big\""], input: [1, 32, 32], normalize: .mnist)
    XCTAssertEqual(try ModelMetadata(metadata: metadata.entries, path: "m"), metadata)
    XCTAssertEqual(try ModelMetadata(metadata: ["format": "pt"], path: "m"), ModelMetadata())
    let bad: [[String: String]] = [
      ["cnnkit.classes": "zero"], ["cnnkit.classes": "0"], ["cnnkit.input": "3,224"],
      ["cnnkit.class_names": "[1, 2]"], ["cnnkit.normalize": "0.5"],
      ["cnnkit.classes": "3", "cnnkit.class_names": #"["a", "b"]"#],
    ]
    for entries in bad {
      XCTAssertThrowsError(try ModelMetadata(metadata: entries, path: "m.safetensors"), "\(entries)") {
        XCTAssertTrue("\($0)".hasPrefix("m.safetensors: "), "\($0)")
      }
    }
  }

  func testRunFolderRefusesAFinishedRunUnlessAsked() throws {
    let root = NSTemporaryDirectory() + "cnnkit-runfolder-\(UUID().uuidString)"
    addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
    let folder = root + "/a/b"
    try RunFolder.prepare(folder, overwrite: false, resuming: false)
    XCTAssertTrue(FileManager.default.fileExists(atPath: folder), "created with its parents")
    FileManager.default.createFile(atPath: folder + "/metrics.csv", contents: Data([1]))
    XCTAssertThrowsError(try RunFolder.prepare(folder, overwrite: false, resuming: false)) {
      XCTAssertEqual($0 as? RunFolder.RunFolderError, .holdsRun(path: folder, file: "metrics.csv"))
    }
    try RunFolder.prepare(folder, overwrite: false, resuming: true)
    XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/metrics.csv"), "a resume keeps it")
    try RunFolder.prepare(folder, overwrite: true, resuming: false)
    XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/metrics.csv"))
    FileManager.default.createFile(atPath: root + "/plain", contents: Data([1]))
    XCTAssertThrowsError(try RunFolder.prepare(root + "/plain", overwrite: false, resuming: false))
  }

  func testFreezeAndHeadDetection() throws {
    let model = try Zoo.build("lenet5", classes: 10)
    XCTAssertEqual(FineTuning.headName(of: model), "classifier.4")
    XCTAssertEqual(FineTuning.headName(of: try Zoo.build("resnet18", classes: 3)), "fc")
    let frozen = try FineTuning.freeze(model, prefixes: ["features."])
    XCTAssertEqual(frozen, ["features.0.weight", "features.0.bias", "features.3.weight", "features.3.bias"])
    XCTAssertEqual(model.namedParameters().filter { !$0.tensor.requiresGrad }.count, 4)
    XCTAssertThrowsError(try FineTuning.freeze(model, prefixes: ["feat"])) {
      XCTAssertEqual(
        $0 as? FineTuning.FineTuningError, .unknownPrefix("feat", known: ["features", "classifier"]))
    }
    XCTAssertThrowsError(try FineTuning.freeze(model, prefixes: ["classifier"])) {
      XCTAssertEqual($0 as? FineTuning.FineTuningError, .nothingToTrain)
    }
  }
}
