import Foundation

/// Loss, top-1/top-5 accuracy and confusion matrix of a model over a dataset.
public struct EvaluationResult: Sendable {
  public var loss: Double
  public var top1: Double
  public var top5: Double
  public var count: Int
  public var confusion: ConfusionMatrix
}

/// Evaluates `model` (eval mode, no autograd) on every batch of `loader`. In a data-parallel run each
/// process passes its shard of the loader (`DataLoader.sharded`) and gets the totals over all of them.
public func evaluate(
  model: Module, loader: DataLoader, classNames: [String]? = nil,
  communicator: any Communicator = SingleProcess()
) throws -> EvaluationResult {
  model.eval()
  defer { model.train() }
  var loss = RunningMean()
  var top1 = 0
  var top5 = 0
  var count = 0
  let names = classNames ?? loader.dataset.classNames
  var confusion = ConfusionMatrix(classCount: names.count, classNames: names)
  let batches = try loader.batches(epoch: 0)
  let device = model.device
  while let batch = try batches.next() {
    if batch.labels.isEmpty { continue }  // this process's share of a short last batch
    // Logits come back to the host: the metrics below read them there.
    let logits = try GradMode.withNoGrad { try model(batch.images.to(device)) }.to(.cpu)
    let value = try Functional.crossEntropy(logits, targets: batch.labels).item
    loss.add(Double(value), weight: batch.labels.count)
    let hits = try Metrics.topKCorrect(
      logits: logits, labels: batch.labels, ks: [1, min(5, logits.shape[1])])
    top1 += hits[0]
    top5 += hits[1]
    count += batch.labels.count
    try confusion.add(logits: logits, labels: batch.labels)
  }
  if communicator.size > 1 {
    let totals = try communicator.allReduceSum(
      [loss.sum, Double(top1), Double(top5), Double(count)] + confusion.counts.map(Double.init))
    loss = RunningMean()
    loss.add(totals[0] / max(totals[3], 1), weight: Int(totals[3]))
    (top1, top5, count) = (Int(totals[1]), Int(totals[2]), Int(totals[3]))
    var merged = ConfusionMatrix(classCount: names.count, classNames: names)
    merged.add(counts: totals[4...].map { Int($0) })
    confusion = merged
  }
  let n = Double(max(count, 1))
  return EvaluationResult(
    loss: loss.mean, top1: Double(top1) / n, top5: Double(top5) / n, count: count, confusion: confusion)
}

/// Evaluates with the AlexNet paper's ten-crop protocol: each image is resized so its shorter side is
/// `crop·256/224`, cut into four corner crops, the centre crop and their mirrors, and the model's
/// softmax outputs over the ten are averaged.
public func evaluateTenCrop(
  model: Module, dataset: any ImageDataset, crop: (height: Int, width: Int), channels: Int,
  normalize: Normalize?,
  progress: ((Int) -> Void)? = nil
) throws -> EvaluationResult {
  model.eval()
  defer { model.train() }
  let names = dataset.classNames
  var confusion = ConfusionMatrix(classCount: names.count, classNames: names)
  var loss = RunningMean()
  var top1 = 0
  var top5 = 0
  let resize = Resize(crop.height * 256 / 224)
  let grey = Grayscale(outputChannels: channels)
  let tenCrop = TenCrop(height: crop.height, width: crop.width)
  var rng = RandomGenerator(seed: 0)
  for index in 0..<dataset.count {
    let item = try dataset.item(at: index)
    var image = try resize.apply(item.image, using: &rng)
    if image.channels != channels { image = try grey.apply(image, using: &rng) }
    let crops = try tenCrop.tensor(from: image, normalize: normalize)
    let logits = try GradMode.withNoGrad { try model(crops.to(model.device)) }.to(.cpu)
    let probabilities = Functional.softmax(logits)
    let classes = logits.shape[1]
    let mean = Tensor(zeros: [1, classes])
    for r in 0..<10 { for c in 0..<classes { mean.data[c] += probabilities.data[r * classes + c] / 10 } }
    loss.add(-Double(log(max(mean.data[item.label], 1e-12))))
    let hits = try Metrics.topKCorrect(logits: mean, labels: [item.label], ks: [1, min(5, classes)])
    top1 += hits[0]
    top5 += hits[1]
    try confusion.add(logits: mean, labels: [item.label])
    progress?(index + 1)
  }
  let n = Double(max(dataset.count, 1))
  return EvaluationResult(
    loss: loss.mean, top1: Double(top1) / n, top5: Double(top5) / n, count: dataset.count,
    confusion: confusion)
}
