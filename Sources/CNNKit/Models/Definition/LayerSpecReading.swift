// The layer types a model file may use and the keys each takes, named as PyTorch's constructors
// name their arguments (`out_channels`, `kernel_size`), so a line of `nn.Sequential` code turns into a
// line of JSON.

extension SpecReader {
  /// Keys every layer may carry.
  static let commonKeys: Set<String> = ["type", "name", "functional"]

  /// Each type's own keys.
  static let keysByType: [String: Set<String>] = [
    "Conv2d": [
      "in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias",
      "init_std",
      "init_bias",
    ],
    "Linear": ["in_features", "out_features", "bias", "init_std", "init_bias"],
    "ReLU": ["inplace"],
    "Dropout": ["p", "inplace"],
    "Softmax": ["dim"],
    "LogSoftmax": ["dim"],
    "Flatten": ["start_dim"],
    "MaxPool2d": ["kernel_size", "stride", "padding", "ceil_mode"],
    "AvgPool2d": ["kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"],
    "AdaptiveAvgPool2d": ["output_size"],
    "BatchNorm2d": ["num_features", "eps", "momentum"],
    "LocalResponseNorm": ["size", "alpha", "beta", "k", "convention"],
    "ChannelPad": ["out_channels", "stride"],
    "Sequential": ["layers", "class"],
    "Residual": ["layers", "shortcut", "after", "class"],
  ]

  /// Types that hold no parameters and so may be applied functionally (`F.relu`, `x.view`).
  static let parameterFree: Set<String> = [
    "ReLU", "Dropout", "Softmax", "LogSoftmax", "Flatten", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
    "LocalResponseNorm", "ChannelPad",
  ]

  /// Reads one layer entry: an object with a `type`, or `{"call": "name"}`.
  func layer(_ node: JSONNode, at keyPath: String, index: Int) throws -> LayerSpec {
    guard let members = node.members else { throw error(node, keyPath, "a layer must be a JSON object") }
    if members.contains(where: { $0.key == "call" }) {
      let fields = try object(node, at: keyPath, keys: ["call"], what: "a call of an earlier layer")
      let target = try identifier(fields["call"]!, at: join(keyPath, "call"))
      return LayerSpec(
        name: target, role: .module, kind: .call(target), keyPath: keyPath, line: node.line, initStd: nil,
        initBias: nil)
    }
    guard let typeNode = members.first(where: { $0.key == "type" })?.value else {
      throw missing("type", in: node, at: keyPath)
    }
    let type = try text(typeNode, at: join(keyPath, "type"))
    guard let ownKeys = Self.keysByType[type] else {
      let known = Self.keysByType.keys.sorted()
      let hint = closestName(to: type, among: known).map { " (did you mean '\($0)'?)" } ?? ""
      throw error(
        typeNode, join(keyPath, "type"),
        "unknown layer type '\(type)'\(hint); known: \(known.joined(separator: ", "))")
    }
    let fields = try object(node, at: keyPath, keys: Self.commonKeys.union(ownKeys), what: type)
    func key(_ name: String) -> String { join(keyPath, name) }
    func optional<T>(_ name: String, _ read: (JSONNode, String) throws -> T)
      throws -> T?
    {
      guard let value = fields[name] else { return nil }
      return try read(value, key(name))
    }
    func required<T>(_ name: String, _ read: (JSONNode, String) throws -> T)
      throws -> T
    {
      guard let value = fields[name] else { throw missing(name, in: node, at: keyPath) }
      return try read(value, key(name))
    }

    let name = try optional("name") { (n, k) throws in try identifier(n, at: k) } ?? String(index)
    let functional = try optional("functional") { (n, k) throws in try flag(n, at: k) } ?? false
    if functional, !Self.parameterFree.contains(type) {
      throw error(node, key("functional"), "only parameter-free layers can be functional; \(type) has state")
    }
    let size = { (n: JSONNode, k: String) throws in try integer(n, at: k, minimum: 0) }
    let positiveSize = { (n: JSONNode, k: String) throws in try positive(n, at: k) }
    let onOff = { (n: JSONNode, k: String) throws in try flag(n, at: k) }
    let className = { (n: JSONNode, k: String) throws in try identifier(n, at: k) }

    let kind: LayerSpec.Kind
    switch type {
    case "Conv2d":
      let padding: LayerSpec.Padding
      if let word = fields["padding"]?.string {
        switch word {
        case "same": padding = .same
        case "valid": padding = .sizes(0, 0)
        default: throw error(fields["padding"]!, key("padding"), "must be sizes, \"same\" or \"valid\"")
        }
      } else {
        let sizes = try optional("padding") { (n, k) throws in try pair(n, at: k, minimum: 0) }
        padding = .sizes(sizes?.0 ?? 0, sizes?.1 ?? 0)
      }
      kind = .conv(
        inChannels: try optional("in_channels", positiveSize),
        outChannels: try required("out_channels") { (n, k) throws in try count(n, at: k) },
        kernel: try required("kernel_size") { (n, k) throws in try pair(n, at: k, minimum: 1) },
        stride: try optional("stride") { (n, k) throws in try pair(n, at: k, minimum: 1) }
          ?? (1, 1),
        padding: padding,
        dilation: try optional("dilation") { (n, k) throws in try pair(n, at: k, minimum: 1) }
          ?? (1, 1),
        groups: try optional("groups", positiveSize) ?? 1, bias: try optional("bias", onOff) ?? true)
    case "Linear":
      kind = .linear(
        inFeatures: try optional("in_features", positiveSize),
        outFeatures: try required("out_features") { (n, k) throws in try count(n, at: k) },
        bias: try optional("bias", onOff) ?? true)
    case "ReLU":
      _ = try optional("inplace", onOff)
      kind = .relu
    case "Dropout":
      _ = try optional("inplace", onOff)
      kind = .dropout(try optional("p") { (n, k) throws in try number(n, at: k, range: 0...1) } ?? 0.5)
    case "Softmax", "LogSoftmax":
      // The layers work over the last dimension: the class scores of a (batch, classes) output.
      if let dim = fields["dim"], dim.integer != -1, dim.integer != 1 {
        throw error(dim, key("dim"), "must be 1 or -1 (the class dimension of a (batch, classes) output)")
      }
      kind = .softmax(logarithm: type == "LogSoftmax")
    case "Flatten":
      if let dim = fields["start_dim"], dim.integer != 1 {
        throw error(dim, key("start_dim"), "must be 1 (everything but the batch)")
      }
      kind = .flatten(startDim: 1)
    case "MaxPool2d", "AvgPool2d":
      let kernel = try required("kernel_size", positiveSize)
      let stride = try optional("stride", positiveSize)
      let pad = try optional("padding", size) ?? 0
      let ceil = try optional("ceil_mode", onOff) ?? false
      kind =
        type == "MaxPool2d"
        ? .maxPool(kernel: kernel, stride: stride, padding: pad, ceilMode: ceil)
        : .avgPool(
          kernel: kernel, stride: stride, padding: pad, ceilMode: ceil,
          countIncludePad: try optional("count_include_pad", onOff) ?? true)
    case "AdaptiveAvgPool2d":
      kind = .adaptiveAvgPool(
        try required("output_size") { (n, k) throws in try pair(n, at: k, minimum: 1) })
    case "BatchNorm2d":
      kind = .batchNorm(
        features: try optional("num_features", positiveSize),
        eps: try optional("eps") { (n, k) throws in try number(n, at: k, range: 1e-12...1) }
          ?? 1e-5,
        momentum: try optional("momentum") { (n, k) throws in try number(n, at: k, range: 0...1) }
          ?? 0.1)
    case "LocalResponseNorm":
      var convention = LRNConvention.pytorch
      if let word = fields["convention"] {
        switch try text(word, at: key("convention")) {
        case "pytorch": convention = .pytorch
        case "paper": convention = .paper
        default:
          throw error(word, key("convention"), "must be \"pytorch\" (α/size) or \"paper\" (α as written)")
        }
      }
      let positiveNumber = { (n: JSONNode, k: String) throws in
        try number(n, at: k, range: 0...1e6)
      }
      kind = .localResponseNorm(
        size: try required("size", positiveSize), alpha: try optional("alpha", positiveNumber) ?? 1e-4,
        beta: try optional("beta", positiveNumber) ?? 0.75, k: try optional("k", positiveNumber) ?? 1,
        convention: convention)
    case "ChannelPad":
      kind = .channelPad(
        outChannels: try required("out_channels", positiveSize),
        stride: try optional("stride", positiveSize) ?? 1)
    case "Sequential":
      kind = .sequence(
        typeName: try optional("class", className) ?? "Sequential",
        layers: try required("layers") { (n, k) throws in try layerList(n, at: k) })
    default:  // "Residual"
      var shortcut: LayerSpec? = nil
      if let node = fields["shortcut"] {
        // A list is an `nn.Sequential` (keys `shortcut.0.weight`); one object is the module itself.
        shortcut =
          node.elements != nil
          ? LayerSpec(
            name: "shortcut", role: .module,
            kind: .sequence(typeName: "Sequential", layers: try layerList(node, at: key("shortcut"))),
            keyPath: key("shortcut"), line: node.line, initStd: nil, initBias: nil)
          : try layer(node, at: key("shortcut"), index: 0).named(
            node.members?.contains { $0.key == "name" } == true ? nil : "shortcut")
        if case .call = shortcut!.kind { throw error(node, key("shortcut"), "must be layers, not a call") }
      }
      kind = .residual(
        typeName: try optional("class", className) ?? "Residual",
        body: try required("layers") { (n, k) throws in try layerList(n, at: k) },
        shortcut: shortcut,
        after: try optional("after") { (n, k) throws in try layerList(n, at: k) } ?? [])
    }
    let weightStd = { (n: JSONNode, k: String) throws in try number(n, at: k, range: 0...10) }
    let biasValue = { (n: JSONNode, k: String) throws in try number(n, at: k, range: -100...100) }
    return LayerSpec(
      name: name, role: functional ? .functional : .module, kind: kind, keyPath: keyPath, line: node.line,
      initStd: try optional("init_std", weightStd), initBias: try optional("init_bias", biasValue))
  }
}
