/// The standard preprocessing for a dataset feeding a model with input (C, H, W): what a torchvision
/// reference script would write for it.
///
/// - Small-image datasets (MNIST, Fashion-MNIST, digits, CIFAR) are resized only when the model's
///   input differs (e.g. digits' 8×8 to a 28×28 model; MNIST is padded by 2 for LeNet-5's 32×32, as
///   in LeCun's paper), and converted to the model's channel count.
/// - CIFAR training adds RandomCrop(padding 4) and a horizontal flip.
/// - ImageFolder / photos: RandomResizedCrop + flip for training; Resize(⌊H·256/224⌋) + CenterCrop(H)
///   for evaluation (Resize 256 / CenterCrop 224 at 224²).
/// - Normalisation: each dataset's own mean/std (Fashion-MNIST and CIFAR-100 included); ImageNet's
///   for ImageFolder and photos.
///
/// `PreprocessingChoices` replaces parts of this, as a script's own `Compose` would.
public enum Preprocessing {
  /// Pipelines for `dataset` (a `Datasets` name, or "photo") and a model input `(C, H, W)`.
  /// `augment` adds the training augmentations; `pcaColor` adds the AlexNet paper's PCA lighting noise.
  public static func pipeline(
    dataset: String, imageSize: (height: Int, width: Int, channels: Int)?, modelInput: [Int], augment: Bool,
    pcaColor: Bool = false, choices: PreprocessingChoices = PreprocessingChoices()
  ) -> ImagePipeline {
    let (channels, height, width) = (modelInput[0], modelInput[1], modelInput[2])
    let key = dataset.lowercased().filter { $0 != "-" && $0 != "_" }
    var steps: [any ImageTransform] = []
    let normalize: Normalize
    switch key {
    case _ where choices.resize != nil || choices.centerCrop != nil:
      // The script's own geometry, exactly: no default resizing, padding or augmentation.
      if let resize = choices.resize { steps.append(resize) }
      if let crop = choices.centerCrop { steps.append(crop) }
      normalize = defaultNormalize(key)
    case "mnist", "fashionmnist", "digits", "cifar10", "cifar100":
      let native = imageSize ?? (height, width, channels)
      if native.height + 4 == height && native.width + 4 == width {
        steps.append(Pad(2))
      } else if native.height != height || native.width != width {
        steps.append(Resize(height: height, width: width))
      }
      if key.hasPrefix("cifar") && augment {
        steps += [RandomCrop(height: height, width: width, padding: Padding(4)), RandomHorizontalFlip()]
      }
      normalize = defaultNormalize(key)
    default:
      if augment {
        steps += [RandomResizedCrop(height: height, width: width), RandomHorizontalFlip()]
      } else {
        steps += [Resize(height * 256 / 224), CenterCrop(height: height, width: width)]
      }
      if pcaColor && channels == 3 { steps.append(PCAColorAugmentation()) }
      normalize = .imagenet
    }
    // A chosen normalisation is used as given (the command line checks its channel count); a
    // default one is fitted to the model's channels.
    let adapt = choices.normalize == nil
    return finish(steps, normalize: choices.normalize ?? normalize, adapt: adapt, key, imageSize, channels)
  }

  /// Each dataset's own training-set statistics.
  static func defaultNormalize(_ key: String) -> Normalize {
    switch key {
    case "mnist", "digits": return .mnist
    case "fashionmnist": return .fashionMNIST
    case "cifar10": return .cifar10
    case "cifar100": return .cifar100
    default: return .imagenet
    }
  }

  /// Adds the channel conversion and fits a default normalisation to the model's channel count.
  private static func finish(
    _ steps: [any ImageTransform], normalize: Normalize, adapt: Bool, _ key: String,
    _ imageSize: (height: Int, width: Int, channels: Int)?, _ channels: Int
  ) -> ImagePipeline {
    var steps = steps
    // Photos decode as RGB; only a channel-count mismatch needs converting (grey ↔ RGB).
    let sourceChannels = imageSize?.channels ?? (key == "imagefolder" || key == "photo" ? 3 : channels)
    if sourceChannels != channels { steps.append(Grayscale(outputChannels: channels)) }
    let perChannel =
      !adapt || normalize.mean.count == channels
      ? normalize
      : (try? Normalize(
        mean: Array(repeating: normalize.mean.reduce(0, +) / Float(normalize.mean.count), count: channels),
        std: Array(repeating: normalize.std.reduce(0, +) / Float(normalize.std.count), count: channels)))
        ?? normalize
    return ImagePipeline(steps, normalize: perChannel)
  }
}

/// Parts of the standard preprocessing replaced by the user's own, as torchvision transforms.
public struct PreprocessingChoices: Sendable {
  /// `transforms.Resize`, first.
  public var resize: Resize?
  /// `transforms.CenterCrop`, after the resize.
  public var centerCrop: CenterCrop?
  /// `transforms.Normalize` instead of the dataset's statistics.
  public var normalize: Normalize?

  /// The choices; none replaces anything.
  public init(resize: Resize? = nil, centerCrop: CenterCrop? = nil, normalize: Normalize? = nil) {
    self.resize = resize
    self.centerCrop = centerCrop
    self.normalize = normalize
  }
}
