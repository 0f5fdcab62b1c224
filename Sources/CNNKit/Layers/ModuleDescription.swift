extension Module: CustomStringConvertible {
  /// The module tree as PyTorch's `print(model)` shows it: one line per leaf, children indented
  /// under `(name): `.
  public var description: String {
    if namedChildren.isEmpty { return "\(typeName)(\(extraDescription))" }
    var lines = ["\(typeName)("]
    if !extraDescription.isEmpty { lines.append("  " + extraDescription) }
    for (name, child) in namedChildren {
      let body = child.description.split(separator: "\n", omittingEmptySubsequences: false)
      lines.append("  (\(name)): " + body[0])
      lines += body.dropFirst().map { "  " + $0 }
    }
    lines.append(")")
    return lines.joined(separator: "\n")
  }
}
