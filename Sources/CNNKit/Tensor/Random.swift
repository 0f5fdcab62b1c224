import Foundation

/// A seeded pseudo-random source (xoshiro256**), so initialisation, dropout and shuffling repeat
/// exactly for a given seed.
public struct RandomGenerator: RandomNumberGenerator, Sendable, Equatable {
  /// The 256-bit state; saved in checkpoints to resume a run exactly.
  public var state: (UInt64, UInt64, UInt64, UInt64)

  /// Seeds the state through SplitMix64, which spreads any seed (0 included) over all bits.
  public init(seed: UInt64) {
    var x = seed
    func splitMix() -> UInt64 {
      x &+= 0x9E37_79B9_7F4A_7C15
      var z = x
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    state = (splitMix(), splitMix(), splitMix(), splitMix())
  }

  public static func == (a: RandomGenerator, b: RandomGenerator) -> Bool {
    a.state.0 == b.state.0 && a.state.1 == b.state.1 && a.state.2 == b.state.2 && a.state.3 == b.state.3
  }

  public mutating func next() -> UInt64 {
    let result = ((state.1 &* 5) << 7 | (state.1 &* 5) >> 57) &* 9
    let t = state.1 << 17
    state.2 ^= state.0
    state.3 ^= state.1
    state.1 ^= state.2
    state.0 ^= state.3
    state.2 ^= t
    state.3 = state.3 << 45 | state.3 >> 19
    return result
  }

  /// Uniform in [0, 1) with 24 random bits.
  public mutating func nextUniform() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

  /// Uniform in [low, high).
  public mutating func nextUniform(_ low: Float, _ high: Float) -> Float {
    low + (high - low) * nextUniform()
  }

  /// Standard normal by Box–Muller (one value per call; simple and exact enough for initialisation).
  public mutating func nextNormal(mean: Float = 0, std: Float = 1) -> Float {
    var u1 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    if u1 < 1e-300 { u1 = 1e-300 }
    let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    return mean + std * Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
  }
}

/// SplitMix64's finaliser: nearby inputs give unrelated outputs (how seeds are derived from a run's
/// seed, an epoch, a step or a sample index).
func splitMixHash(_ x: UInt64) -> UInt64 {
  var z = x &+ 0x9E37_79B9_7F4A_7C15
  z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
  z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
  return z ^ (z >> 31)
}

/// The generator layers use when none is passed: seed it with `manualSeed` for repeatable runs.
/// Every access holds a lock (recursive, so `body` may reach the generator again), so threads that
/// draw at once never lose or repeat a draw.
public enum GlobalRandom {
  nonisolated(unsafe) private static var generator = RandomGenerator(seed: 0)
  private static let lock = NSRecursiveLock()

  /// The global generator itself, to save in a checkpoint and restore on resume.
  public static var current: RandomGenerator {
    get { with { $0 } }
    set { with { $0 = newValue } }
  }

  /// Reseeds the global generator (PyTorch's `torch.manual_seed`).
  public static func manualSeed(_ seed: UInt64) { current = RandomGenerator(seed: seed) }

  /// Runs `body` with exclusive access to the global generator.
  public static func with<T>(_ body: (inout RandomGenerator) throws -> T) rethrows -> T {
    lock.lock()
    defer { lock.unlock() }
    return try body(&generator)
  }
}

extension Tensor {
  /// Fills with samples from N(mean, std²), outside autograd.
  public func fillNormal(mean: Float = 0, std: Float, using rng: inout RandomGenerator) {
    // Both Box–Muller outputs are used: initialising VGG draws ~140M samples. One write access for
    // the whole fill, not one per element.
    let data = self.data
    var i = 0
    while i < count {
      var u1 = Double(rng.next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
      if u1 < 1e-300 { u1 = 1e-300 }
      let u2 = Double(rng.next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
      let radius = (-2 * log(u1)).squareRoot()
      let angle = 2 * Double.pi * u2
      data[i] = mean + std * Float(radius * cos(angle))
      if i + 1 < count { data[i + 1] = mean + std * Float(radius * sin(angle)) }
      i += 2
    }
  }

  /// Fills with samples from U(low, high), outside autograd.
  public func fillUniform(_ low: Float, _ high: Float, using rng: inout RandomGenerator) {
    let data = self.data
    for i in 0..<count { data[i] = rng.nextUniform(low, high) }
  }

  /// A tensor of N(0, 1) samples.
  public static func randn(_ shape: [Int], using rng: inout RandomGenerator) -> Tensor {
    let t = Tensor(zeros: shape)
    t.fillNormal(std: 1, using: &rng)
    return t
  }
}
