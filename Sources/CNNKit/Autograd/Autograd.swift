/// One recorded operation: the tensors it read and how to turn the gradient of its output into
/// gradients of those inputs (nil where an input needs none).
final class GradNode {
  let operation: String
  let inputs: [Tensor]
  let backward: (Tensor) -> [Tensor?]

  init(operation: String, inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) {
    self.operation = operation
    self.inputs = inputs
    self.backward = backward
  }
}

/// Whether ops record history for autograd (PyTorch's `torch.no_grad()` turns it off).
public enum GradMode {
  nonisolated(unsafe) static var enabled = true

  /// True while ops record autograd history.
  public static var isEnabled: Bool { enabled }

  /// Runs `body` without recording history: inference, evaluation, optimizer updates.
  public static func withNoGrad<T>(_ body: () throws -> T) rethrows -> T {
    let saved = enabled
    enabled = false
    defer { enabled = saved }
    return try body()
  }
}

extension Tensor {
  /// Attaches a backward rule when grad mode is on and any input requires grad. Returns `self`.
  @discardableResult
  func recording(_ operation: String, _ inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) -> Tensor
  {
    guard GradMode.enabled, inputs.contains(where: { $0.requiresGrad }) else { return self }
    requiresGrad = true
    gradNode = GradNode(operation: operation, inputs: inputs, backward: backward)
    return self
  }

  /// Reverse-mode differentiation from this tensor. A scalar output is seeded with 1; otherwise pass
  /// `gradient` of the same shape. Leaf tensors that require grad accumulate into `grad` (so call
  /// `zeroGrad` between steps, as in PyTorch). The recorded graph is released afterwards.
  public func backward(_ gradient: Tensor? = nil) {
    precondition(requiresGrad, "backward: tensor does not require grad")
    let seed = gradient ?? Tensor(repeating: 1, shape: shape)
    precondition(
      seed.shape == shape || (seed.count == 1 && count == 1),
      "backward: gradient shape \(seed.shape) ≠ \(shape)")

    // Topological order by iterative depth-first search (deep ResNets would overflow recursion).
    var order: [Tensor] = []
    var visited = Set<ObjectIdentifier>()
    var stack: [(Tensor, Bool)] = [(self, false)]
    while let (t, expanded) = stack.popLast() {
      if expanded {
        order.append(t)
        continue
      }
      if !visited.insert(ObjectIdentifier(t)).inserted { continue }
      stack.append((t, true))
      for input in t.gradNode?.inputs ?? []
      where input.requiresGrad && !visited.contains(ObjectIdentifier(input)) {
        stack.append((input, false))
      }
    }

    var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): seed]
    GradMode.withNoGrad {
      for t in order.reversed() {
        guard let g = grads.removeValue(forKey: ObjectIdentifier(t)) else { continue }
        guard let node = t.gradNode else {
          if let existing = t.grad {
            addInPlace(existing, g)
          } else {
            t.grad = Tensor(shape: t.shape, storage: g.copy().storage)
          }
          continue
        }
        let inputGrads = node.backward(g)
        for (input, ig) in zip(node.inputs, inputGrads) {
          guard let ig, input.requiresGrad else { continue }
          let key = ObjectIdentifier(input)
          if let existing = grads[key] {
            // Sum into a new tensor: backward rules may hand the same tensor to several inputs.
            let sum = existing.copy()
            addInPlace(sum, ig)
            grads[key] = sum
          } else {
            grads[key] = ig
          }
        }
        t.gradNode = nil
      }
    }
  }
}

/// `a += b` elementwise (same element count), outside autograd.
func addInPlace(_ a: Tensor, _ b: Tensor) {
  precondition(a.count == b.count, "gradient shapes \(a.shape) and \(b.shape) differ")
  let (p, q) = (a.data, b.data)
  for i in 0..<a.count { p[i] += q[i] }
}
