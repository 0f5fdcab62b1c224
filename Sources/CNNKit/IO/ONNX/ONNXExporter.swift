import Foundation
import SwiftProtobuf

/// Why a model could not be exported to ONNX.
public enum ONNXExportError: Error, CustomStringConvertible {
  /// An operation, or a form of one, that has no exact ONNX equivalent.
  case unsupported(String)
  /// The traced forward pass read a tensor that is neither the input, a parameter or buffer, nor an
  /// earlier result (a constant made inside `forward`).
  case untracedTensor(operation: String, shape: [Int])

  public var description: String {
    switch self {
    case .unsupported(let message): return "ONNX export: \(message)"
    case .untracedTensor(let operation, let shape):
      return
        "ONNX export: \(operation) reads a \(shapeString(shape)) tensor made inside forward (not the input, a parameter or an earlier result)"
    }
  }
}

/// Settings of an ONNX export.
public struct ONNXExportOptions: Sendable {
  /// The default operator set: 17 has every operator used here with today's attributes
  /// (LayerNormalization-era runtimes all read it).
  public static let defaultOpset = 17
  /// The opset written into the file.
  public var opset = ONNXExportOptions.defaultOpset
  /// Fold each eval-mode batch norm into the convolution before it (when that convolution feeds it
  /// alone): fewer nodes, weights no longer the state dict's.
  public var foldBatchNorm = false
  /// Above this many bytes of weights the tensors go to a side file (`NAME.data`) as ONNX's external
  /// data: one protobuf message may not exceed 2 GiB.
  public var externalDataThreshold = 1 << 30 + 1 << 29
  /// `metadata_props` of the model (model name, class count …).
  public var metadata: [String: String] = [:]

  public init() {}
}

/// What an export wrote.
public struct ONNXExportReport: Sendable {
  /// Graph nodes by operator type.
  public let nodeCounts: [String: Int]
  /// Initializers and their total element count.
  public let initializerCount: Int
  public let parameterElements: Int
  /// The side file holding the weights, when they went to external data.
  public let externalDataPath: String?
  /// Input sizes (H, W) the graph accepts besides the one it was traced at, in words.
  public let inputNote: String
}

/// Writes a CNNKit model as an ONNX graph, traced like `torch.onnx.export`: the model runs once in
/// eval mode on a zero input of the export size and every functional op becomes one or two ONNX
/// nodes. Initializers carry the state-dict names; input `input` [batch, C, H, W] (batch dynamic),
/// output `logits` [batch, classes].
public enum ONNXExporter {
  /// The IR version that goes with opset 17 (ONNX 1.12).
  static let irVersion: Int64 = 8

  /// Builds the ONNX model of `module` for input `input` (C, H, W). The module is left in the mode
  /// it was in. Weights stay inside the returned proto.
  public static func makeModel(
    _ module: Module, input: [Int], options: ONNXExportOptions = ONNXExportOptions()
  ) throws -> (model: Onnx_ModelProto, report: ONNXExportReport) {
    guard input.count == 3, input.allSatisfy({ $0 > 0 }) else {
      throw ONNXExportError.unsupported("input must be C,H,W, got \(shapeString(input))")
    }
    let wasTraining = module.isTraining
    module.eval()
    defer { module.train(wasTraining) }
    let example = Tensor(repeating: 0, shape: [1] + input)
    let (output, calls) = try GradMode.withNoGrad {
      try OperationTracer.trace { try module(example) }
    }
    var graph = GraphBuilder(
      stateDict: module.stateDict(), input: example, output: output, foldBatchNorm: options.foldBatchNorm)
    try graph.emit(calls)
    let proto = graph.finish(inputShape: input, outputShape: output.shape)
    var model = Onnx_ModelProto()
    model.irVersion = irVersion
    model.producerName = "CNNKit"
    model.producerVersion = CNNKitVersion.string
    model.opsetImport = [
      Onnx_OperatorSetIdProto.with {
        $0.domain = ""; $0.version = Int64(options.opset)
      }
    ]
    model.graph = proto
    model.metadataProps = options.metadata.sorted { $0.key < $1.key }.map { key, value in
      Onnx_StringStringEntryProto.with {
        $0.key = key
        $0.value = value
      }
    }
    let report = ONNXExportReport(
      nodeCounts: Dictionary(proto.node.map { ($0.opType, 1) }, uniquingKeysWith: +),
      initializerCount: proto.initializer.count,
      parameterElements: proto.initializer.reduce(0) { $0 + Int($1.dims.reduce(1, *)) },
      externalDataPath: nil, inputNote: graph.inputNote)
    return (model, report)
  }

  /// Exports `module` to `path` (written atomically). Weights larger than
  /// `options.externalDataThreshold` go to `path + ".data"` first, then the graph that refers to it.
  @discardableResult
  public static func export(
    _ module: Module, input: [Int], to path: String, options: ONNXExportOptions = ONNXExportOptions()
  ) throws -> ONNXExportReport {
    var (model, report) = try makeModel(module, input: input, options: options)
    let weightBytes = model.graph.initializer.reduce(0) { $0 + $1.rawData.count }
    var sideFile: String?
    if weightBytes > options.externalDataThreshold {
      let dataPath = path + ".data"
      let location = URL(fileURLWithPath: dataPath).lastPathComponent
      try AtomicFile.write(to: dataPath) { writer in
        var offset = 0
        for i in model.graph.initializer.indices {
          let bytes = model.graph.initializer[i].rawData
          try writer.write(bytes)
          model.graph.initializer[i].rawData = Data()
          model.graph.initializer[i].dataLocation = .external
          model.graph.initializer[i].externalData = [
            ("location", location), ("offset", String(offset)), ("length", String(bytes.count)),
          ].map { key, value in
            Onnx_StringStringEntryProto.with {
              $0.key = key
              $0.value = value
            }
          }
          offset += bytes.count
        }
      }
      sideFile = dataPath
    }
    let bytes: Data = try model.serializedBytes()
    try AtomicFile.write(bytes, to: path)
    return ONNXExportReport(
      nodeCounts: report.nodeCounts, initializerCount: report.initializerCount,
      parameterElements: report.parameterElements, externalDataPath: sideFile, inputNote: report.inputNote)
  }
}

/// Turns traced calls into ONNX nodes, naming values as it goes.
private struct GraphBuilder {
  private var nodes: [Onnx_NodeProto] = []
  private var initializers: [Onnx_TensorProto] = []
  private var usedInitializers: Set<String> = []
  /// Current ONNX name of each tensor seen, by identity.
  private var names: [ObjectIdentifier: String] = [:]
  /// State-dict name of each parameter and buffer, by identity.
  private let stateNames: [ObjectIdentifier: String]
  private let stateTensors: [String: Tensor]
  private let outputID: ObjectIdentifier
  private let foldBatchNorm: Bool
  /// How many readers each value has, for folding a batch norm into the only reader of a conv.
  private var readers: [ObjectIdentifier: Int] = [:]
  private var counter = 0
  private var finalCall: Int?
  private var emittingFinal = false
  private(set) var inputNote = "any batch size; height and width as exported"

  init(stateDict: [(name: String, tensor: Tensor)], input: Tensor, output: Tensor, foldBatchNorm: Bool) {
    stateNames = Dictionary(
      stateDict.map { (ObjectIdentifier($0.tensor), $0.name) }, uniquingKeysWith: { first, _ in first })
    stateTensors = Dictionary(stateDict.map { ($0.name, $0.tensor) }, uniquingKeysWith: { first, _ in first })
    names[ObjectIdentifier(input)] = "input"
    outputID = ObjectIdentifier(output)
    self.foldBatchNorm = foldBatchNorm
  }

  mutating func emit(_ calls: [TracedCall]) throws {
    for call in calls {
      for input in call.inputs { readers[ObjectIdentifier(input), default: 0] += 1 }
    }
    // The model's output is the last result written into the output tensor (an op in place may
    // write into one tensor more than once).
    finalCall = calls.lastIndex { ObjectIdentifier($0.output) == outputID }
    for (index, call) in calls.enumerated() {
      emittingFinal = index == finalCall
      try emit(call)
    }
    emittingFinal = false
    if names[outputID] != "logits" {
      // The output was not computed by any op (an identity model): pass the value through.
      node("Identity", [names[outputID] ?? "input"], "logits")
    }
  }

  func finish(inputShape: [Int], outputShape: [Int]) -> Onnx_GraphProto {
    var graph = Onnx_GraphProto()
    graph.name = "cnnkit"
    graph.node = nodes
    // Folding leaves the batch norm's and the convolution's original tensors unread: drop them.
    let read = Set(nodes.flatMap(\.input))
    graph.initializer = initializers.filter { read.contains($0.name) }
    graph.input = [valueInfo("input", dims: [nil] + inputShape.map { $0 })]
    graph.output = [valueInfo("logits", dims: [nil] + outputShape.dropFirst().map { $0 })]
    return graph
  }

  // MARK: - Values

  private mutating func name(of tensor: Tensor, in operation: String) throws -> String {
    let id = ObjectIdentifier(tensor)
    if let known = names[id] { return known }
    if let key = stateNames[id] {
      if !usedInitializers.contains(key) {
        usedInitializers.insert(key)
        initializers.append(Self.floatTensor(key, shape: tensor.shape, values: tensor.scalars))
      }
      return key
    }
    throw ONNXExportError.untracedTensor(operation: operation, shape: tensor.shape)
  }

  /// A fresh name for the result of `call` ("logits" for the model's output).
  private mutating func resultName(_ output: Tensor, _ stem: String) -> String {
    let id = ObjectIdentifier(output)
    let name = emittingFinal ? "logits" : "/\(stem)_\(counter)"
    counter += 1
    names[id] = name
    return name
  }

  private mutating func constant(_ stem: String, shape: [Int], values: [Float]) -> String {
    let name = "/\(stem)_const_\(counter)"
    counter += 1
    initializers.append(Self.floatTensor(name, shape: shape, values: values))
    return name
  }

  private mutating func int64Constant(_ stem: String, _ values: [Int64]) -> String {
    let name = "/\(stem)_const_\(counter)"
    counter += 1
    var tensor = Onnx_TensorProto()
    tensor.name = name
    tensor.dims = [Int64(values.count)]
    tensor.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
    tensor.int64Data = values
    initializers.append(tensor)
    return name
  }

  static func floatTensor(_ name: String, shape: [Int], values: [Float]) -> Onnx_TensorProto {
    var tensor = Onnx_TensorProto()
    tensor.name = name
    tensor.dims = shape.map(Int64.init)
    tensor.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
    // raw_data is little-endian, as every platform CNNKit runs on.
    tensor.rawData = values.withUnsafeBufferPointer { Data(buffer: $0) }
    return tensor
  }

  private func valueInfo(_ name: String, dims: [Int?]) -> Onnx_ValueInfoProto {
    var info = Onnx_ValueInfoProto()
    info.name = name
    info.type.tensorType.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
    info.type.tensorType.shape.dim = dims.map { dim in
      var d = Onnx_TensorShapeProto.Dimension()
      if let dim { d.dimValue = Int64(dim) } else { d.dimParam = "batch" }
      return d
    }
    return info
  }

  private mutating func node(
    _ opType: String, _ inputs: [String], _ output: String, _ attributes: [Onnx_AttributeProto] = []
  ) {
    var node = Onnx_NodeProto()
    node.opType = opType
    node.name = "/\(opType)_\(nodes.count)"
    node.input = inputs
    node.output = [output]
    node.attribute = attributes
    nodes.append(node)
  }
}

// MARK: - Operations

extension GraphBuilder {
  fileprivate mutating func emit(_ call: TracedCall) throws {
    let operation = "\(call.operation)".prefix { $0 != "(" }
    // Adaptive pooling to the size it is given returns its input: no node, but the graph then
    // accepts only that size. (Other ops may return their input object too, computed in place: those
    // are real nodes, and their result takes a new name.)
    if case .adaptiveAvgPool2d = call.operation, call.inputs[0] === call.output {
      let shape = call.output.shape
      inputNote =
        "any batch size; only the exported height and width (the adaptive pooling meets \(shape[2])×\(shape[3]) features)"
      return
    }
    let inputs = try call.inputs.map { try name(of: $0, in: String(operation)) }
    switch call.operation {
    case .conv2d(let stride, let padding, let dilation, let groups, let relu):
      let weight = call.inputs[1].shape
      let attributes: [Onnx_AttributeProto] = [
        .ints("kernel_shape", [weight[2], weight[3]]), .ints("strides", [stride.0, stride.1]),
        .ints("pads", [padding.0, padding.1, padding.0, padding.1]),
        .ints("dilations", [dilation.0, dilation.1]), .int("group", groups),
      ]
      if relu {
        let convolved = "/conv_\(counter)"
        counter += 1
        node("Conv", inputs, convolved, attributes)
        node("Relu", [convolved], resultName(call.output, "relu"))
      } else {
        node("Conv", inputs, resultName(call.output, "conv"), attributes)
      }
    case .relu: node("Relu", inputs, resultName(call.output, "relu"))
    case .softmax(let log):
      node(log ? "LogSoftmax" : "Softmax", inputs, resultName(call.output, "softmax"), [.int("axis", -1)])
    case .add: node("Add", inputs, resultName(call.output, "add"))
    case .scale(let factor):
      let c = constant("scale", shape: [], values: [factor])
      node("Mul", inputs + [c], resultName(call.output, "mul"))
    case .flatten(let startDim):
      node("Flatten", inputs, resultName(call.output, "flatten"), [.int("axis", startDim)])
    case .reshape(let shape):
      // 0 keeps the batch dimension as the runtime sees it.
      var target = shape.map(Int64.init)
      if let first = shape.first, first == call.inputs[0].shape.first { target[0] = 0 }
      let s = int64Constant("shape", target)
      node("Reshape", inputs + [s], resultName(call.output, "reshape"))
    case .linear:
      node(
        "Gemm", inputs, resultName(call.output, "gemm"),
        [.float("alpha", 1), .float("beta", 1), .int("transB", 1)])
    case .batchNorm(let eps, let hasWeight, let hasBias):
      try emitBatchNorm(call, inputs: inputs, eps: eps, hasWeight: hasWeight, hasBias: hasBias)
    case .localResponseNorm(let size, let alpha, let beta, let k):
      node(
        "LRN", inputs, resultName(call.output, "lrn"),
        [.int("size", size), .float("alpha", alpha), .float("beta", beta), .float("bias", k)])
    case .maxPool2d(let kernel, let stride, let padding, let ceilMode):
      node(
        "MaxPool", inputs, resultName(call.output, "maxpool"),
        [
          .ints("kernel_shape", [kernel.0, kernel.1]), .ints("strides", [stride.0, stride.1]),
          .ints("pads", [padding.0, padding.1, padding.0, padding.1]), .int("ceil_mode", ceilMode ? 1 : 0),
        ])
    case .avgPool2d(let kernel, let stride, let padding, let ceilMode, let countIncludePad):
      node(
        "AveragePool", inputs, resultName(call.output, "avgpool"),
        [
          .ints("kernel_shape", [kernel.0, kernel.1]), .ints("strides", [stride.0, stride.1]),
          .ints("pads", [padding.0, padding.1, padding.0, padding.1]), .int("ceil_mode", ceilMode ? 1 : 0),
          .int("count_include_pad", countIncludePad ? 1 : 0),
        ])
    case .padChannels(let before, let after):
      // ONNX pads list every axis's begin, then every axis's end.
      let rank = call.inputs[0].shape.count
      var pads = [Int64](repeating: 0, count: 2 * rank)
      pads[1] = Int64(before)
      pads[rank + 1] = Int64(after)
      let p = int64Constant("pads", pads)
      node("Pad", inputs + [p], resultName(call.output, "pad"), [.string("mode", "constant")])
    case .adaptiveAvgPool2d(let size):
      let (h, w) = (call.inputs[0].shape[2], call.inputs[0].shape[3])
      if size == (1, 1) {
        node("GlobalAveragePool", inputs, resultName(call.output, "gap"))
      } else if h % size.0 == 0, w % size.1 == 0 {
        // Equal windows: the fixed pooling it is at this size.
        let kernel = [h / size.0, w / size.1]
        node(
          "AveragePool", inputs, resultName(call.output, "avgpool"),
          [.ints("kernel_shape", kernel), .ints("strides", kernel)])
        inputNote =
          "any batch size; only the exported height and width (adaptive pooling \(h)×\(w) → \(size.0)×\(size.1) became a fixed \(kernel[0])×\(kernel[1]) pooling)"
      } else {
        throw ONNXExportError.unsupported(
          "adaptive average pooling from \(h)×\(w) to \(size.0)×\(size.1) has unequal windows; export at an input size whose features divide evenly"
        )
      }
    }
  }

  private mutating func emitBatchNorm(
    _ call: TracedCall, inputs: [String], eps: Float, hasWeight: Bool, hasBias: Bool
  ) throws {
    let channels = call.inputs[0].shape[1]
    var operands = [inputs[0]]
    var next = 1
    operands.append(
      hasWeight
        ? inputs[next] : constant("bn_scale", shape: [channels], values: .init(repeating: 1, count: channels))
    )
    if hasWeight { next += 1 }
    operands.append(
      hasBias
        ? inputs[next] : constant("bn_bias", shape: [channels], values: .init(repeating: 0, count: channels)))
    if hasBias { next += 1 }
    operands += inputs[next...]
    if foldBatchNorm, try fold(call, operands: operands, eps: eps) { return }
    node("BatchNormalization", operands, resultName(call.output, "batchnorm"), [.float("epsilon", eps)])
  }

  /// Rewrites the Conv that produced the batch norm's input (when nothing else reads it) with
  /// W' = W·γ/√(σ²+ε) per output channel and b' = (b − μ)·γ/√(σ²+ε) + β; returns false if no such Conv.
  private mutating func fold(_ call: TracedCall, operands: [String], eps: Float) throws -> Bool {
    let source = call.inputs[0]
    guard readers[ObjectIdentifier(source)] == 1,
      let index = nodes.lastIndex(where: { $0.output == [operands[0]] && $0.opType == "Conv" })
    else { return false }
    func values(_ name: String) -> [Float]? {
      if let tensor = stateTensors[name] { return tensor.scalars }
      guard let proto = initializers.first(where: { $0.name == name }) else { return nil }
      return proto.rawData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
    let conv = nodes[index]
    guard let gamma = values(operands[1]), let beta = values(operands[2]), let mean = values(operands[3]),
      let variance = values(operands[4]), let weight = values(conv.input[1])
    else { return false }
    let channels = gamma.count
    let bias = conv.input.count > 2 ? values(conv.input[2]) ?? [] : [Float](repeating: 0, count: channels)
    let perChannel = weight.count / channels
    let factor = (0..<channels).map { gamma[$0] / (variance[$0] + eps).squareRoot() }
    let foldedWeight = (0..<weight.count).map { weight[$0] * factor[$0 / perChannel] }
    let foldedBias = (0..<channels).map { (bias[$0] - mean[$0]) * factor[$0] + beta[$0] }
    let weightShape = stateTensors[conv.input[1]]?.shape ?? [channels, perChannel]
    let w = constant("folded_weight", shape: weightShape, values: foldedWeight)
    let b = constant("folded_bias", shape: [channels], values: foldedBias)
    nodes[index].input = [conv.input[0], w, b]
    let result = resultName(call.output, "conv")
    nodes[index].output = [result]
    return true
  }
}

extension Onnx_AttributeProto {
  fileprivate static func int(_ name: String, _ value: Int) -> Onnx_AttributeProto {
    .with {
      $0.name = name
      $0.type = .int
      $0.i = Int64(value)
    }
  }

  fileprivate static func float(_ name: String, _ value: Float) -> Onnx_AttributeProto {
    .with {
      $0.name = name
      $0.type = .float
      $0.f = value
    }
  }

  fileprivate static func string(_ name: String, _ value: String) -> Onnx_AttributeProto {
    .with {
      $0.name = name
      $0.type = .string
      $0.s = Data(value.utf8)
    }
  }

  fileprivate static func ints(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
    .with {
      $0.name = name
      $0.type = .ints
      $0.ints = values.map(Int64.init)
    }
  }
}
