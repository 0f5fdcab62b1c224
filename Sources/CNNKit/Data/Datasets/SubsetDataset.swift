/// Part of another dataset, as `torch.utils.data.Subset`: sample `i` is the base's `indices[i]`.
public struct SubsetDataset: ImageDataset {
  /// The dataset the samples come from.
  public let base: any ImageDataset
  /// The base's sample indices, in this dataset's order.
  public let indices: [Int]

  /// The samples of `base` at `indices` (each within `0..<base.count`).
  public init(base: any ImageDataset, indices: [Int]) throws {
    guard let bad = indices.first(where: { !(0..<base.count).contains($0) }) else {
      self.base = base
      self.indices = indices
      return
    }
    throw DataError.invalidOption("subset index \(bad) is outside the dataset's 0..<\(base.count)")
  }

  /// `count` samples of `base` drawn without replacement, in the base's order. The draw is fixed (it
  /// does not follow the training seed), so runs with different seeds see the same images and a
  /// train and a validation subset stay the same from run to run.
  public init(base: any ImageDataset, randomCount count: Int) throws {
    guard count >= 1, count <= base.count else {
      throw DataError.invalidOption(
        "a subset of \(count) images from a dataset of \(base.count) is not possible")
    }
    var order = Array(0..<base.count)
    var rng = RandomGenerator(seed: 0x5355_4253)
    // A partial Fisher–Yates shuffle: the first `count` positions end up a uniform sample.
    for i in 0..<count {
      order.swapAt(i, i + Int(rng.next() % UInt64(base.count - i)))
    }
    try self.init(base: base, indices: order.prefix(count).sorted())
  }

  public var count: Int { indices.count }
  public var classNames: [String] { base.classNames }
  public func item(at index: Int) throws -> LabeledImage { try base.item(at: indices[index]) }
}
