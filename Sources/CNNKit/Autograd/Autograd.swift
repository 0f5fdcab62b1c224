/// Where one input of a recorded op sends its gradient.
enum GradEdge {
  /// An input produced by another recorded op: the edge keeps that op's node, not its tensor, so
  /// an intermediate result no backward rule saved is freed as soon as the forward pass drops it.
  case node(GradNode)
  /// A tensor that requires grad and was produced by no recorded op (a parameter): accumulates `grad`.
  case leaf(Tensor)
}

/// One recorded operation: where its inputs' gradients go and how to turn the gradient of its
/// output into gradients of those inputs (nil where an input needs none).
final class GradNode {
  let operation: String
  /// One entry per input; nil where the input needs no gradient.
  private(set) var edges: [GradEdge?]
  /// Released (with everything it captured) once the node has run. The flag says whether the
  /// backward pass owns the gradient exclusively, so the rule may overwrite it and return it.
  private(set) var backward: ((Tensor, Bool) -> [Tensor?])?

  init(operation: String, edges: [GradEdge?], backward: @escaping (Tensor, Bool) -> [Tensor?]) {
    self.operation = operation
    self.edges = edges
    self.backward = backward
  }

  /// Whether a backward pass has consumed this node.
  var isReleased: Bool { backward == nil }

  /// Drops the rule and the edges so saved tensors are freed during, not after, the backward pass.
  func release() {
    backward = nil
    edges = []
  }
}

/// Whether ops record history for autograd (PyTorch's `torch.no_grad()` turns it off). Per thread
/// and task, as PyTorch's is per thread: a data worker or an evaluation on another thread never turns
/// recording off for the training loop.
public enum GradMode {
  @TaskLocal private static var disabled = false

  /// True while ops record autograd history on this thread.
  static var enabled: Bool { !disabled }

  /// True while ops record autograd history on this thread.
  public static var isEnabled: Bool { !disabled }

  /// Runs `body` without recording history: inference, evaluation, optimizer updates.
  public static func withNoGrad<T>(_ body: () throws -> T) rethrows -> T {
    try $disabled.withValue(true, operation: body)
  }
}

extension Tensor {
  /// Attaches a backward rule when grad mode is on and any input requires grad. Returns `self`.
  /// The rule must return fresh tensors or views of the gradient it is given (never saved ones):
  /// the backward pass adds into results it owns.
  @discardableResult
  func recording(_ operation: String, _ inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) -> Tensor
  {
    recording(operation, inputs) { g, _ in backward(g) }
  }

  /// `recording` for a rule that may write its result into the gradient it is given when the second
  /// argument is true (the pass owns that buffer exclusively), saving a buffer the gradient's size.
  @discardableResult
  func recording(
    _ operation: String, _ inputs: [Tensor], backward: @escaping (Tensor, _ owned: Bool) -> [Tensor?]
  ) -> Tensor {
    guard GradMode.enabled, !isMeta, inputs.contains(where: { $0.requiresGrad }) else { return self }
    requiresGrad = true
    gradNode = GradNode(
      operation: operation,
      edges: inputs.map { input in
        // A node consumed by an earlier backward pass leaves its tensor a leaf, as before.
        if let node = input.gradNode, !node.isReleased { return .node(node) }
        return input.requiresGrad ? .leaf(input) : nil
      },
      backward: backward)
    return self
  }

  /// Reverse-mode differentiation from this tensor. A scalar output is seeded with 1; otherwise pass
  /// `gradient` of the same shape. Leaf tensors that require grad accumulate into `grad` (so call
  /// `zeroGrad` between steps, as in PyTorch). The recorded graph is released as it is consumed.
  public func backward(_ gradient: Tensor? = nil) {
    precondition(requiresGrad, "backward: tensor does not require grad")
    let seed = gradient ?? Tensor(repeating: 1, shape: shape).onDevice(of: self)
    precondition(
      seed.shape == shape || (seed.count == 1 && count == 1),
      "backward: gradient shape \(seed.shape) ≠ \(shape)")
    GradMode.withNoGrad {
      guard let root = gradNode else {
        accumulateLeaf(self, seed, owned: gradient == nil)
        return
      }
      var pass = BackwardPass(order: topologicalOrder(from: root))
      pass.grads[ObjectIdentifier(root)] = (seed, gradient == nil)
      pass.run()
      gradNode = nil
    }
  }
}

/// Post-order of the nodes reachable from `root` (root last), by iterative depth-first search:
/// deep ResNets would overflow recursion.
private func topologicalOrder(from root: GradNode) -> [GradNode] {
  var order: [GradNode] = []
  var visited = Set<ObjectIdentifier>()
  var stack: [(GradNode, Bool)] = [(root, false)]
  while let (node, expanded) = stack.popLast() {
    if expanded {
      order.append(node)
      continue
    }
    // Marked when expanded, not when pushed, so a node is emitted after every node it feeds.
    if !visited.insert(ObjectIdentifier(node)).inserted { continue }
    stack.append((node, true))
    for case .node(let input)? in node.edges where !visited.contains(ObjectIdentifier(input)) {
      stack.append((input, false))
    }
  }
  return order
}

/// The state of one backward pass: pending output gradients per node, each flagged when this pass
/// owns its buffer exclusively (and may therefore add into it or hand it to a leaf without a copy).
private struct BackwardPass {
  var order: [GradNode]
  var grads: [ObjectIdentifier: (tensor: Tensor, owned: Bool)] = [:]

  init(order: [GradNode]) { self.order = order }

  mutating func run() {
    // Popping releases each node as soon as it has run; consumers come before their inputs.
    while let node = order.popLast() {
      defer { node.release() }
      guard let inputGrads = apply(node) else { continue }
      for (edge, ig) in zip(node.edges, inputGrads) {
        guard let edge, let (ig, owned) = ig else { continue }
        switch edge {
        case .leaf(let leaf): accumulateLeaf(leaf, ig, owned: owned)
        case .node(let input): accumulate(ObjectIdentifier(input), ig, owned: owned)
        }
      }
    }
  }

  /// Runs `node`'s rule on its pending gradient and tags each result with whether it is exclusive:
  /// a result sharing storage with the incoming gradient or with another result is not.
  private mutating func apply(_ node: GradNode) -> [(tensor: Tensor, owned: Bool)?]? {
    guard let (g, gOwned) = grads.removeValue(forKey: ObjectIdentifier(node)), let rule = node.backward else {
      return nil
    }
    let results = rule(g, gOwned)
    return results.enumerated().map { i, t in
      guard let t else { return nil }
      let shared = results.enumerated().contains { j, other in j != i && other?.storage === t.storage }
      let owned = t.storage === g.storage ? gOwned && !shared : !shared
      return (t, owned)
    }
  }

  private mutating func accumulate(_ key: ObjectIdentifier, _ g: Tensor, owned: Bool) {
    guard let existing = grads[key] else {
      grads[key] = (g, owned)
      return
    }
    if existing.owned {
      addInPlace(existing.tensor, g)
    } else if owned {
      addInPlace(g, existing.tensor)
      grads[key] = (g, true)
    } else {
      let sum = existing.tensor.copy()
      addInPlace(sum, g)
      grads[key] = (sum, true)
    }
  }
}

/// Adds `g` into a leaf's `grad`, adopting `g`'s buffer when this pass owns it.
private func accumulateLeaf(_ leaf: Tensor, _ g: Tensor, owned: Bool) {
  guard leaf.requiresGrad else { return }
  if let existing = leaf.grad {
    addInPlace(existing, g)
  } else {
    leaf.grad = Tensor(shape: leaf.shape, storage: owned ? g.storage : g.copy().storage)
  }
  BackwardHooks.leafAccumulated?(leaf)
}

/// Observers of a backward pass, as PyTorch's gradient hooks: data-parallel training starts sending
/// a bucket of gradients as soon as its last one is written, while backward goes on.
enum BackwardHooks {
  /// Called on the backward thread after each addition into a leaf's `grad`. Set only by the one
  /// thread that trains, around its own backward pass.
  nonisolated(unsafe) static var leafAccumulated: ((Tensor) -> Void)?
}

/// `a += b` elementwise (same element count), outside autograd.
func addInPlace(_ a: Tensor, _ b: Tensor) {
  precondition(a.count == b.count, "gradient shapes \(a.shape) and \(b.shape) differ")
  Backends.inBackward { try Backends.backend("accumulate", a, b).accumulate(a, b) }
}
