/// Errors from looking up or building a zoo model.
public enum ZooError: Error, Equatable, CustomStringConvertible {
  /// No model has this name; `known` lists the names that exist.
  case unknownModel(String, known: [String])
  /// An option does not suit the model (e.g. a class count below 1).
  case invalidOption(String)

  public var description: String {
    switch self {
    case .unknownModel(let name, let known):
      let hint = closestName(to: name, among: known).map { " did you mean '\($0)'?" } ?? ""
      return "unknown model '\(name)';\(hint) known models: \(known.joined(separator: ", "))"
    case .invalidOption(let message): return message
    }
  }
}

/// One entry of the model zoo: a name as used on the command line, what it is, its natural input
/// size, which study note writes it, and how to build it.
public struct ZooEntry {
  /// Command-line name, e.g. `alexnet-paper`.
  public let name: String
  /// One line for `cnnkit list`.
  public let summary: String
  /// Input (C, H, W) the architecture was designed for.
  public let defaultInput: [Int]
  /// Default class count.
  public let defaultClasses: Int
  /// The study note (000 … 004, the AlexNet/VGG/ResNet course notes the zoo is checked against)
  /// that writes this network, and how closely, starting `note NNN`; nil when no note writes it.
  /// Kept as data beside the entry so that `cnnkit list` and README's model table say the same.
  public let note: String?
  /// Builds the model for `classes` outputs and an input of shape (C, H, W).
  public let build: (_ classes: Int, _ input: [Int]) throws -> Module

  // Explicit so that `note` can default to nil: entries made elsewhere need not name one.
  init(
    name: String, summary: String, defaultInput: [Int], defaultClasses: Int, note: String? = nil,
    build: @escaping (_ classes: Int, _ input: [Int]) throws -> Module
  ) {
    self.name = name
    self.summary = summary
    self.defaultInput = defaultInput
    self.defaultClasses = defaultClasses
    self.note = note
    self.build = build
  }
}

/// The model zoo: every architecture CNNKit ships, by name.
///
/// Each builder checks the class count and the channel count (fixed per model) before building, and
/// that the input survives every kernel and pool (on a shape-only pass); a violation is a
/// `ZooError.invalidOption` naming the model.
public enum Zoo {
  /// All entries in listing order: LeNet, AlexNet variants, VGG, torchvision's ResNets, then the
  /// CIFAR ResNets (He et al.'s 6n+2 family and pytorch-tutorial's).
  public static let entries: [ZooEntry] =
    [
      entry(
        "lenet5", "LeNet-5 (LeCun 1998), ReLU + max-pool form: 6-16 convs 5×5, FC 120-84",
        input: [1, 32, 32], classes: 10
      ) { classes, h, w in try LeNet5(classes: classes, inputSize: (h, w)) },
      entry(
        "alexnet", "torchvision AlexNet: 64-192-384-256-256, AdaptiveAvgPool 6×6, dropout classifier",
        input: [3, 224, 224], classes: 1000
      ) { classes, _, _ in AlexNet(classes: classes) },
      entry(
        "alexnet-paper",
        "AlexNet exactly as in the 2012 paper, split over its two GPUs (groups 2 on conv2/4/5): "
          + "96-256-384-384-256, LRN, N(0, 0.01) init",
        input: [3, 227, 227], classes: 1000,
        note: "note 003 cites this paper; the AlexNet code it writes is alexnet-paper-single"
      ) { classes, h, w in try AlexNetPaper(classes: classes, grouped: true, inputSize: (h, w)) },
      entry(
        "alexnet-paper-single",
        "2012 paper AlexNet as one tower (no groups), as code usually writes it: LRN, N(0, 0.01) init",
        input: [3, 227, 227], classes: 1000, note: "note 003: its AlexNet code"
      ) { classes, h, w in try AlexNetPaper(classes: classes, grouped: false, inputSize: (h, w)) },
      entry(
        "alexnet-bn", "AlexNet with BatchNorm after pool1/pool2 (conv1…conv5, fc1…fc3 stages), logits out",
        input: [3, 227, 227], classes: 1000,
        note: "note 000: its Keras and its PyTorch model; the PyTorch one ends in log_softmax"
      ) { classes, h, w in try AlexNetBatchNorm(classes: classes, inputSize: (h, w)) },
      entry(
        "alexnet-plain", "AlexNet without normalisation: 96-256-384-384-256, layers + classifier, logits out",
        input: [3, 227, 227], classes: 1000,
        note: "note 002; notes 001 and 004 are this without dropout, 004 with --classes 10"
      ) { classes, h, w in try AlexNetPlain(classes: classes, inputSize: (h, w)) },
      entry(
        "alexnet-mnist", "AlexNet at quarter width for 28×28 digits: 3×3 convs 24-64-96-96-64, FC 256",
        input: [1, 28, 28], classes: 10
      ) { classes, h, w in try AlexNetSmall.mnist(classes: classes, inputSize: (h, w)) },
      entry(
        "alexnet-cifar", "AlexNet at half width for 32×32 images: 3×3 convs 48-128-192-192-128, FC 512",
        input: [3, 32, 32], classes: 10
      ) { classes, h, w in try AlexNetSmall.cifar(classes: classes, inputSize: (h, w)) },
    ]
    + vggEntries(head: .imagenet, batchNorm: false) + vggEntries(head: .imagenet, batchNorm: true)
    + vggEntries(head: .cifar, batchNorm: false) + vggEntries(head: .cifar, batchNorm: true)
    + [18, 34, 50, 101, 152].map { depth in
      entry(
        "resnet\(depth)",
        "torchvision ResNet-\(depth): \(depth < 50 ? "basic" : "bottleneck") blocks "
          + "\(ResNet.depths[depth]!.layers.map(String.init).joined(separator: "-")), v1.5 strides",
        input: [3, 224, 224], classes: 1000
      ) { classes, _, _ in try ResNet(depth: depth, classes: classes) }
    }
    + CIFARResNet.depths.map { depth in
      entry(
        "resnet\(depth)",
        "He et al. 2016 CIFAR ResNet-\(depth): \((depth - 2) / 6) basic blocks per stage at 16-32-64, "
          + "zero-padding (option A) shortcuts",
        input: [3, 32, 32], classes: 10
      ) { classes, _, _ in try CIFARResNet(depth: depth, classes: classes) }
    }
    + [
      entry(
        "resnet-tutorial",
        "pytorch-tutorial's CIFAR-10 ResNet: blocks 2-2-2 at 16-32-64, 3×3 conv + BN shortcuts, AvgPool 8",
        input: [3, 32, 32], classes: 10, note: "note 003: its ResNet link"
      ) { classes, h, w in try TutorialResNet(classes: classes, inputSize: (h, w)) }
    ]

  /// `vgg11` … `vgg19`, `vgg11_bn` …, `vgg11-cifar` …, `vgg11_bn-cifar` …
  private static func vggEntries(head: VGG.Head, batchNorm: Bool) -> [ZooEntry] {
    [11, 13, 16, 19].map { depth in
      let letter = VGG.configurationForDepth[depth]!
      let bn = batchNorm ? "_bn" : ""
      let withBN = batchNorm ? " with BatchNorm" : ""
      // Note 003 writes torchvision's VGG class (whose make_layers takes batch_norm) and a VGG with a
      // CIFAR head built without BatchNorm.
      let note: String? =
        switch (head, batchNorm) {
        case (.imagenet, false): "note 003: its torchvision VGG code"
        case (.imagenet, true): "note 003: its torchvision VGG code, make_layers(batch_norm=True)"
        case (.cifar, false): "note 003: its VGG with the CIFAR head (cifar=True)"
        case (.cifar, true): nil
        }
      switch head {
      case .imagenet:
        return entry(
          "vgg\(depth)\(bn)",
          "torchvision VGG-\(depth) (config \(letter))\(withBN), AdaptiveAvgPool 7×7, FC 4096",
          input: [3, 224, 224], classes: 1000, note: note
        ) { classes, h, w in
          try VGG(depth: depth, batchNorm: batchNorm, classes: classes, head: .imagenet, inputSize: (h, w))
        }
      case .cifar:
        return entry(
          "vgg\(depth)\(bn)-cifar", "VGG-\(depth) (config \(letter))\(withBN) for 32×32 images, FC 512-512",
          input: [3, 32, 32], classes: 10, note: note
        ) { classes, h, w in
          try VGG(depth: depth, batchNorm: batchNorm, classes: classes, head: .cifar, inputSize: (h, w))
        }
      }
    }
  }

  /// Makes an entry whose builder validates the options, builds from (classes, H, W), and checks on a
  /// shape-only input that the whole model runs at that size.
  private static func entry(
    _ name: String, _ summary: String, input: [Int], classes: Int, note: String? = nil,
    build: @escaping (_ classes: Int, _ height: Int, _ width: Int) throws -> Module
  ) -> ZooEntry {
    ZooEntry(name: name, summary: summary, defaultInput: input, defaultClasses: classes, note: note) {
      classCount, shape in
      try validate(classes: classCount, input: shape)
      guard shape[0] == input[0] else {
        throw ZooError.invalidOption(
          "\(name) takes \(input[0])-channel input, got \(shape[0]) channel\(shape[0] == 1 ? "" : "s") (input \(shapeText(shape)))"
        )
      }
      let model = try build(classCount, shape[1], shape[2])
      _ = try outputShape(of: [model], input: shape, model: name)
      return model
    }
  }

  /// Checks a class count and a (C, H, W) input shape.
  private static func validate(classes: Int, input: [Int]) throws {
    guard classes >= 1 else {
      throw ZooError.invalidOption("the class count must be at least 1, got \(classes)")
    }
    guard input.count == 3, input.allSatisfy({ $0 > 0 }) else {
      throw ZooError.invalidOption(
        "input must be three positive sizes C,H,W, got \(input.map(String.init).joined(separator: ","))")
    }
  }

  /// Names of all models.
  public static var names: [String] { entries.map(\.name) }

  /// Looks a model up by name.
  public static func entry(named name: String) throws -> ZooEntry {
    guard let entry = entries.first(where: { $0.name == name }) else {
      throw ZooError.unknownModel(name, known: names)
    }
    return entry
  }

  /// The entry a model reference names: a zoo name, or a model-definition file (a path ending in
  /// `.json` or containing `/`), which is read and checked.
  public static func resolve(_ reference: String) throws -> ZooEntry {
    ModelDefinition.isFileReference(reference)
      ? try ModelDefinition(path: reference).zooEntry : try entry(named: reference)
  }

  /// Builds model `name` (a zoo name or a model file) with `classes` outputs (default: the model's own) for input (C, H, W).
  public static func build(_ name: String, classes: Int? = nil, input: [Int]? = nil) throws -> Module {
    let entry = try resolve(name)
    return try entry.build(classes ?? entry.defaultClasses, input ?? entry.defaultInput)
  }
}
