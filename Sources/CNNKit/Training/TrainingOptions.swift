import Foundation

/// One option of a training run: its name (the flag without dashes, and the `--config` key), its
/// type, its default and its help text. `TrainingOption.all` is the single table that the command
/// line's flags, the configuration file's checks and the fuzz target all read, so a default or a
/// type is written once.
public struct TrainingOption: Sendable {
  /// The key, e.g. `batch-size` (the flag is `--batch-size`).
  public let key: String
  /// The JSON type a configuration file must give it.
  public let type: TrainingConfiguration.ValueType
  /// The value used when neither the command line nor the file sets it; nil when there is none or
  /// when it depends on other options (`defaultText` then says what happens).
  public let defaultValue: TrainingConfiguration.Value?
  /// What the default is, in words, when it is not a plain value.
  public let defaultText: String?
  /// The help text without the default.
  public let summary: String

  private init(
    key: String, type: TrainingConfiguration.ValueType, defaultValue: TrainingConfiguration.Value?,
    defaultText: String?, summary: String
  ) {
    self.key = key
    self.type = type
    self.defaultValue = defaultValue
    self.defaultText = defaultText
    self.summary = summary
  }

  /// An option with no default.
  init(_ key: String, _ type: TrainingConfiguration.ValueType, _ summary: String) {
    self.init(key: key, type: type, defaultValue: nil, defaultText: nil, summary: summary)
  }

  /// An option with a default value.
  init(
    _ key: String, _ type: TrainingConfiguration.ValueType, _ defaultValue: TrainingConfiguration.Value,
    _ summary: String
  ) {
    self.init(key: key, type: type, defaultValue: defaultValue, defaultText: nil, summary: summary)
  }

  /// An option whose default depends on others, described in words.
  init(_ key: String, _ type: TrainingConfiguration.ValueType, or defaultText: String, _ summary: String) {
    self.init(key: key, type: type, defaultValue: nil, defaultText: defaultText, summary: summary)
  }

  /// The help text with its default, as `--help` shows it.
  public var help: String {
    if let defaultText { return "\(summary) Default: \(defaultText)." }
    switch defaultValue {
    case .string(let text)?: return "\(summary) Default: \(text)."
    case .integer(let value)?: return "\(summary) Default: \(value)."
    case .unsignedInteger(let value)?: return "\(summary) Default: \(value)."
    case .number(let value)?: return "\(summary) Default: \(Self.shortNumber(value))."
    case .flag, nil: return summary
    }
  }

  /// `0.02`, `5e-4`, `4`: numbers as a person writes them.
  private static func shortNumber(_ value: Double) -> String {
    if value == value.rounded(), abs(value) < 1e6 { return String(Int(value)) }
    if abs(value) < 1e-3 {
      let exponent = Int((log10(abs(value))).rounded(.down))
      let mantissa = value / pow(10, Double(exponent))
      if mantissa == mantissa.rounded() { return "\(Int(mantissa))e\(exponent)" }
    }
    return "\(value)"
  }

  /// The option named `key`; a misspelt key in the code is a programming error.
  public static func named(_ key: String) -> TrainingOption {
    guard let option = byKey[key] else { preconditionFailure("no training option '\(key)'") }
    return option
  }

  /// The help text of option `key` (for the command line's flag declarations).
  public static func help(_ key: String) -> String { named(key).help }

  private static let byKey = Dictionary(uniqueKeysWithValues: all.map { ($0.key, $0) })

  /// Every option, in the order `--help` lists them.
  public static let all: [TrainingOption] = [
    // What is trained, on what.
    .init("model", .string, .string("alexnet-mnist"), "Zoo model (see `cnnkit list`)."),
    .init("dataset", .string, .string("mnist"), "Dataset: \(Datasets.names.joined(separator: ", "))."),
    .init(
      "data-dir", .string, or: "for mnist, the built-in 12,000/2,000-image subset", "Dataset folder."),
    .init(
      "classes", .integer, or: "the dataset's",
      "Number of output classes."),
    .init("input", .string, or: "the model's", "Model input size C,H,W."),
    .init(
      "weights", .string,
      "Start from these weights (model.safetensors or a torchvision state dict); a head of another class count is replaced."
    ),
    .init(
      "freeze", .string,
      "Parameter-name prefixes to keep fixed, comma-separated (e.g. features): no gradients, no optimiser state."
    ),
    // Data.
    .init(
      "resize", .string,
      "Resize first: N (shorter side, as transforms.Resize(N)) or H,W. With --resize or --center-crop the pipeline is exactly these steps (no augmentation)."
    ),
    .init("center-crop", .string, "Crop the centre: N or H,W (as transforms.CenterCrop)."),
    .init(
      "normalize", .string, or: "the dataset's statistics (ImageNet's for folders of images)",
      "Normalisation MEAN/STD, one value or one per channel, e.g. 0.5/0.5 or 0.485,0.456,0.406/0.229,0.224,0.225."
    ),
    .init("no-shuffle", .flag, "Keep the dataset's order (shuffle=False)."),
    .init("drop-last", .flag, "Skip the last batch when it is smaller than --batch-size (drop_last=True)."),
    .init("train-subset", .integer, "Train on N images drawn at random (the same N for every --seed)."),
    .init("val-subset", .integer, "Validate on N images drawn at random."),
    .init("no-augment", .flag, "No training augmentation."),
    .init("pca-color", .flag, "Add the AlexNet paper's PCA colour augmentation (RGB photo datasets)."),
    .init(
      "skip-corrupt", .flag, "Skip corrupt images in an ImageFolder (with a warning) instead of failing."),
    .init("no-validation", .flag, "Skip validation after each epoch."),
    .init(
      "sync-bn", .flag,
      "Under mpirun: batch-norm statistics over the whole batch of all processes (SyncBatchNorm), not each process's share."
    ),
    // Optimisation.
    .init("epochs", .integer, .integer(5), "Epochs to train."),
    .init("batch-size", .integer, .integer(32), "Batch size."),
    .init("lr", .number, .number(0.02), "Initial learning rate."),
    .init("momentum", .number, .number(0.9), "SGD momentum."),
    .init("weight-decay", .number, .number(5e-4), "Weight decay."),
    .init("optimizer", .string, .string("sgd"), "\(Optimizers.names.joined(separator: ", "))."),
    .init("nesterov", .flag, "Nesterov momentum (SGD)."),
    .init(
      "lr-scheduler", .string, .string("step"),
      "\(Schedulers.names.joined(separator: ", "))."),
    .init("lr-step-size", .integer, .integer(4), "StepLR period in epochs."),
    .init("lr-gamma", .number, .number(0.1), "Decay factor of step, multistep and plateau."),
    .init("lr-milestones", .string, "MultiStepLR milestones, e.g. 30,60,90."),
    .init("lr-warmup-epochs", .integer, .integer(0), "Epochs of linear warm-up."),
    .init("lr-warmup-decay", .number, .number(0.01), "Warm-up start factor."),
    .init("lr-min", .number, .number(0), "Cosine eta_min / plateau min_lr."),
    .init("lr-patience", .integer, .integer(10), "ReduceLROnPlateau patience in epochs."),
    .init("label-smoothing", .number, .number(0), "Cross-entropy label smoothing."),
    // Outputs and the run.
    .init("output-dir", .string, or: "runs/MODEL-DATASET", "Where checkpoints and logs go."),
    .init(
      "tensorboard", .string,
      "Also write TensorBoard event files here (scalars per epoch; view with tensorboard --logdir)."),
    .init(
      "overwrite", .flag, "Replace a finished run in --output-dir (without it such a folder is refused)."),
    .init(
      "resume", .string,
      "Continue from a checkpoint file (or an output folder holding checkpoint.safetensors)."),
    .init(
      "seed", .unsignedInteger, .unsignedInteger(0),
      "Seed for initialisation, shuffling, augmentation and dropout."),
    .init("threads", .integer, or: "all cores", "Threads for the kernels."),
    .init("workers", .integer, .integer(2), "Data-loading threads."),
    .init("keep-last", .integer, .integer(0), "Per-epoch checkpoint copies to keep (checkpoint-epoch-NNN)."),
    .init("max-steps", .integer, "Stop after this many optimiser steps (checkpoint and model written)."),
    .init("checkpoint-every", .integer, "Also checkpoint every this many steps within an epoch."),
    .init("device", .string, .string("cpu"), "cpu, cuda or cuda:N."),
    .init(
      "precision", .string, .string("fp32"),
      "fp32, tf32 (a CUDA device) or bf16 (the CPU: bf16 operands, fp32 sums and weights)."),
  ]
}
