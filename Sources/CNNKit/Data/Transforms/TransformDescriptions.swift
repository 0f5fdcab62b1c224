import Foundation

// Each transform prints itself as torchvision's `repr` does, so a run's header shows its pipeline in
// the words of the script it replaces (`Compose(\n    CenterCrop(size=(227, 227))\n ...)`).

/// Python's spelling of a tuple of two integers.
private func pair(_ a: Int, _ b: Int) -> String { "(\(a), \(b))" }

/// Python's spelling of a float list, `[0.485, 0.456, 0.406]`.
private func floatList(_ values: [Float]) -> String {
  "[" + values.map { "\($0)" }.joined(separator: ", ") + "]"
}

extension Resize: CustomStringConvertible {
  public var description: String {
    let sizeText: String
    switch size {
    case .shorterSide(let side): sizeText = "\(side)"
    case .exact(let height, let width): sizeText = pair(height, width)
    }
    let cap = maxSize.map(String.init) ?? "None"
    return
      "Resize(size=\(sizeText), interpolation=bilinear, max_size=\(cap), antialias=\(antialias ? "True" : "False"))"
  }

  /// Parses the `--resize` text: `N` (the shorter side) or `H,W`.
  public init(parsing text: String) throws {
    let sizes = try parseSizes(text, what: "resize")
    if sizes.count == 1 {
      self.init(sizes[0])
    } else {
      self.init(height: sizes[0], width: sizes[1])
    }
  }
}

extension CenterCrop: CustomStringConvertible {
  public var description: String { "CenterCrop(size=\(pair(height, width)))" }

  /// Parses the `--center-crop` text: `N` (square) or `H,W`.
  public init(parsing text: String) throws {
    let sizes = try parseSizes(text, what: "center crop")
    self.init(height: sizes[0], width: sizes.count == 2 ? sizes[1] : sizes[0])
  }
}

/// One or two positive integers separated by a comma (an `N` or `H,W` size).
private func parseSizes(_ text: String, what: String) throws -> [Int] {
  let parts = text.split(separator: ",", omittingEmptySubsequences: false)
    .map { Int($0.trimmingCharacters(in: .whitespaces)) }
  guard (1...2).contains(parts.count), let sizes = parts as? [Int], sizes.allSatisfy({ $0 >= 1 }) else {
    throw DataError.invalidOption("\(what) size must be N or H,W with positive integers, got '\(text)'")
  }
  return sizes
}

extension RandomCrop: CustomStringConvertible {
  public var description: String {
    let paddingText: String
    if let padding {
      let sides = [padding.left, padding.top, padding.right, padding.bottom]
      paddingText =
        Set(sides).count == 1 ? "\(sides[0])" : "[\(sides.map(String.init).joined(separator: ", "))]"
    } else {
      paddingText = "None"
    }
    return "RandomCrop(size=\(pair(height, width)), padding=\(paddingText))"
  }
}

extension RandomResizedCrop: CustomStringConvertible {
  public var description: String {
    // torchvision rounds the ratio to four decimals in its repr.
    func rounded(_ value: Double) -> String { "\((value * 10_000).rounded() / 10_000)" }
    return "RandomResizedCrop(size=\(pair(height, width)), scale=(\(scale.lowerBound), \(scale.upperBound)), "
      + "ratio=(\(rounded(ratio.lowerBound)), \(rounded(ratio.upperBound))), interpolation=bilinear, "
      + "antialias=\(antialias ? "True" : "False"))"
  }
}

extension RandomHorizontalFlip: CustomStringConvertible {
  public var description: String { "RandomHorizontalFlip(p=\(p))" }
}

extension RandomVerticalFlip: CustomStringConvertible {
  public var description: String { "RandomVerticalFlip(p=\(p))" }
}

extension Pad: CustomStringConvertible {
  public var description: String {
    let sides = [padding.left, padding.top, padding.right, padding.bottom]
    let paddingText =
      Set(sides).count == 1 ? "\(sides[0])" : "[\(sides.map(String.init).joined(separator: ", "))]"
    let fillText =
      fill.count == 1 ? "\(Int(fill[0]))" : "(\(fill.map { "\(Int($0))" }.joined(separator: ", ")))"
    return "Pad(padding=\(paddingText), fill=\(fillText), padding_mode=\(mode))"
  }
}

extension Grayscale: CustomStringConvertible {
  public var description: String { "Grayscale(num_output_channels=\(outputChannels))" }
}

extension PCAColorAugmentation: CustomStringConvertible {
  /// Not a torchvision transform: the AlexNet paper's lighting noise, named as such.
  public var description: String { "PCAColorAugmentation(std=\(std))" }
}

extension Normalize: CustomStringConvertible {
  public var description: String { "Normalize(mean=\(floatList(mean)), std=\(floatList(std)))" }

  /// The `--normalize` spelling, `MEAN[,MEAN…]/STD[,STD…]`.
  public var text: String {
    mean.map { "\($0)" }.joined(separator: ",") + "/" + std.map { "\($0)" }.joined(separator: ",")
  }

  /// Parses `MEAN[,MEAN…]/STD[,STD…]` (e.g. `0.5/0.5`, `0.485,0.456,0.406/0.229,0.224,0.225`).
  public init(parsing text: String) throws {
    let halves = text.split(separator: "/", omittingEmptySubsequences: false)
    func numbers(_ part: Substring) -> [Float]? {
      let values = part.split(separator: ",", omittingEmptySubsequences: false)
        .map { Float($0.trimmingCharacters(in: .whitespaces)) }
      guard let all = values as? [Float], !all.isEmpty, all.allSatisfy(\.isFinite) else { return nil }
      return all
    }
    guard halves.count == 2, let mean = numbers(halves[0]), let std = numbers(halves[1]) else {
      throw DataError.invalidOption("normalisation must be MEAN[,MEAN...]/STD[,STD...], got '\(text)'")
    }
    try self.init(mean: mean, std: std)
  }
}

extension ImagePipeline: CustomStringConvertible {
  /// torchvision's `Compose` repr: the image transforms, `ToTensor()`, then `Normalize` if any.
  public var description: String {
    var lines = transforms.map { "    \($0)" }
    lines.append("    ToTensor()")
    if let normalize { lines.append("    \(normalize)") }
    return "Compose(\n" + lines.joined(separator: "\n") + "\n)"
  }
}

extension Compose: CustomStringConvertible {
  public var description: String {
    "Compose(\n" + transforms.map { "    \($0)" }.joined(separator: "\n") + "\n)"
  }
}
