/// The known name closest to `name` when it looks like a typo of it (case, `-` against `_`, or at
/// most a third of its letters off), for "did you mean" hints; nil when nothing is that close.
func closestName(to name: String, among names: [String]) -> String? {
  func canonical(_ s: String) -> [Character] { Array(s.lowercased().map { $0 == "_" ? "-" : $0 }) }
  let target = canonical(name)
  var best: (name: String, distance: Int)? = nil
  for candidate in names {
    let distance = editDistance(target, canonical(candidate))
    if distance < (best?.distance ?? Int.max) { best = (candidate, distance) }
  }
  guard let best, best.distance <= max(1, target.count / 3) else { return nil }
  return best.name
}

/// Levenshtein distance: insertions, deletions and substitutions each cost one.
func editDistance(_ a: [Character], _ b: [Character]) -> Int {
  var previous = Array(0...b.count)
  for (i, x) in a.enumerated() {
    var current = [i + 1] + Array(repeating: 0, count: b.count)
    for (j, y) in b.enumerated() {
      current[j + 1] = min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1))
    }
    previous = current
  }
  return previous[b.count]
}

/// The version `cnnkit --version` prints.
public enum CNNKitVersion {
  public static let string = "0.5.0"
}
