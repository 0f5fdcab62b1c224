/// The standard preprocessing for a dataset feeding a model with input (C, H, W): what a torchvision
/// reference script would write for it.
///
/// - Small-image datasets (MNIST, Fashion-MNIST, digits, CIFAR) are resized only when the model's
///   input differs (e.g. digits' 8×8 to a 28×28 model; MNIST is padded by 2 for LeNet-5's 32×32, as
///   in LeCun's paper), and converted to the model's channel count.
/// - CIFAR training adds RandomCrop(padding 4) and a horizontal flip.
/// - ImageFolder / photos: RandomResizedCrop + flip for training; Resize(⌊H·256/224⌋) + CenterCrop(H)
///   for evaluation (Resize 256 / CenterCrop 224 at 224²).
/// - Normalisation: each dataset's own mean/std; ImageNet's for ImageFolder and photos.
public enum Preprocessing {
  /// Pipelines for `dataset` (a `Datasets` name, or "photo") and a model input `(C, H, W)`.
  /// `augment` adds the training augmentations; `pcaColor` adds the AlexNet paper's PCA lighting noise.
  public static func pipeline(
    dataset: String, imageSize: (height: Int, width: Int, channels: Int)?, modelInput: [Int], augment: Bool,
    pcaColor: Bool = false
  ) -> ImagePipeline {
    let (channels, height, width) = (modelInput[0], modelInput[1], modelInput[2])
    let key = dataset.lowercased().filter { $0 != "-" && $0 != "_" }
    var steps: [any ImageTransform] = []
    let normalize: Normalize
    switch key {
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
      normalize = key.hasPrefix("cifar") ? .cifar10 : .mnist
    default:
      if augment {
        steps += [RandomResizedCrop(height: height, width: width), RandomHorizontalFlip()]
      } else {
        steps += [Resize(height * 256 / 224), CenterCrop(height: height, width: width)]
      }
      if pcaColor && channels == 3 { steps.append(PCAColorAugmentation()) }
      normalize = .imagenet
    }
    // Photos decode as RGB; only a channel-count mismatch needs converting (grey ↔ RGB).
    let sourceChannels = imageSize?.channels ?? (key == "imagefolder" || key == "photo" ? 3 : channels)
    if sourceChannels != channels { steps.append(Grayscale(outputChannels: channels)) }
    let perChannel =
      normalize.mean.count == channels
      ? normalize
      : (try? Normalize(
        mean: Array(repeating: normalize.mean.reduce(0, +) / Float(normalize.mean.count), count: channels),
        std: Array(repeating: normalize.std.reduce(0, +) / Float(normalize.std.count), count: channels)))
        ?? normalize
    return ImagePipeline(steps, normalize: perChannel)
  }
}
