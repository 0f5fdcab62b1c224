// A small JSON reader for model-definition files. Foundation's `JSONSerialization` loses where a
// value sat in the file and silently keeps the last of two repeated keys; a model file's errors
// should name the line, and a repeated key is a mistake, so this reader keeps both.

/// One JSON value and the line (from 1) it starts on.
public struct JSONNode: Sendable {
  /// What a JSON value holds. Numbers keep their text so integers beyond `Double`'s exact range are
  /// still recognised as integers (or refused) exactly.
  public enum Value: Sendable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONNode])
    /// Members in file order.
    case object([(key: String, value: JSONNode)])
  }

  /// The value.
  public let value: Value
  /// Line of the value's first character, counting from 1.
  public let line: Int

  /// The integer a number holds, or nil for any other value, a fraction or one beyond `Int`.
  public var integer: Int? {
    guard case .number(let text) = value else { return nil }
    if let exact = Int(text) { return exact }
    // `2.0` and `1e3` are integers too, as Python's json reads them for an int-typed field.
    guard let double = Double(text), double.rounded() == double, abs(double) < 9.0e15 else { return nil }
    return Int(double)
  }

  /// The number a value holds, or nil.
  public var number: Double? {
    guard case .number(let text) = value, let double = Double(text), double.isFinite else { return nil }
    return double
  }

  /// The text of a string value, or nil.
  public var string: String? {
    guard case .string(let text) = value else { return nil }
    return text
  }

  /// The members of an object, or nil.
  public var members: [(key: String, value: JSONNode)]? {
    guard case .object(let members) = value else { return nil }
    return members
  }

  /// The elements of an array, or nil.
  public var elements: [JSONNode]? {
    guard case .array(let elements) = value else { return nil }
    return elements
  }

  /// The value of `true` / `false`, or nil.
  public var bool: Bool? {
    guard case .bool(let flag) = value else { return nil }
    return flag
  }
}

/// Where and why a text is not JSON.
public struct JSONSyntaxError: Error, Equatable, Sendable {
  /// Line of the offending character, from 1.
  public let line: Int
  /// Column (in bytes) of the offending character, from 1.
  public let column: Int
  /// What was wrong.
  public let reason: String
}

/// Parses JSON text (RFC 8259) into `JSONNode`s with line numbers. Objects may not repeat a key, and
/// nesting is limited so that hostile input cannot exhaust the stack.
public enum JSONDocument {
  /// Deepest nesting of arrays and objects accepted (a model file needs about ten).
  public static let maximumDepth = 64

  /// Parses one JSON value filling `bytes` (surrounding whitespace allowed).
  public static func parse(_ bytes: [UInt8]) throws -> JSONNode {
    var parser = Parser(bytes: bytes)
    parser.skipWhitespace()
    let node = try parser.value(depth: 0)
    parser.skipWhitespace()
    guard parser.index == bytes.count else { throw parser.error("unexpected text after the JSON value") }
    return node
  }

  private struct Parser {
    let bytes: [UInt8]
    var index = 0
    var line = 1
    var lineStart = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    func error(_ reason: String) -> JSONSyntaxError {
      JSONSyntaxError(line: line, column: index - lineStart + 1, reason: reason)
    }

    var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func skipWhitespace() {
      while let byte = current {
        switch byte {
        case UInt8(ascii: "\n"):
          line += 1
          lineStart = index + 1
        case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"): break
        default: return
        }
        index += 1
      }
    }

    mutating func expect(_ byte: UInt8, _ what: String) throws {
      guard current == byte else { throw error("expected \(what)") }
      index += 1
    }

    mutating func value(depth: Int) throws -> JSONNode {
      let startLine = line
      guard let byte = current else { throw error("unexpected end of the file") }
      switch byte {
      case UInt8(ascii: "{"): return JSONNode(value: try object(depth: depth + 1), line: startLine)
      case UInt8(ascii: "["): return JSONNode(value: try array(depth: depth + 1), line: startLine)
      case UInt8(ascii: "\""): return JSONNode(value: .string(try string()), line: startLine)
      case UInt8(ascii: "t"):
        try literal("true")
        return JSONNode(value: .bool(true), line: startLine)
      case UInt8(ascii: "f"):
        try literal("false")
        return JSONNode(value: .bool(false), line: startLine)
      case UInt8(ascii: "n"):
        try literal("null")
        return JSONNode(value: .null, line: startLine)
      case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
        return JSONNode(value: .number(try number()), line: startLine)
      default:
        throw error("unexpected character '\(printable(byte))'")
      }
    }

    func printable(_ byte: UInt8) -> String {
      (0x20..<0x7f).contains(byte) ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16)
    }

    mutating func literal(_ word: String) throws {
      for expected in word.utf8 {
        guard current == expected else { throw error("unexpected character; did you mean '\(word)'?") }
        index += 1
      }
    }

    mutating func object(depth: Int) throws -> JSONNode.Value {
      guard depth <= JSONDocument.maximumDepth else {
        throw error("nested deeper than \(JSONDocument.maximumDepth)")
      }
      index += 1
      var members: [(key: String, value: JSONNode)] = []
      var seen = Set<String>()
      skipWhitespace()
      if current == UInt8(ascii: "}") {
        index += 1
        return .object(members)
      }
      while true {
        skipWhitespace()
        guard current == UInt8(ascii: "\"") else { throw error("expected a key in double quotes") }
        let keyLine = line
        let key = try string()
        guard seen.insert(key).inserted else {
          throw JSONSyntaxError(line: keyLine, column: 1, reason: "key '\(key)' appears twice in one object")
        }
        skipWhitespace()
        try expect(UInt8(ascii: ":"), "':' after key '\(key)'")
        skipWhitespace()
        members.append((key, try value(depth: depth)))
        skipWhitespace()
        if current == UInt8(ascii: ",") {
          index += 1
          continue
        }
        try expect(UInt8(ascii: "}"), "',' or '}' after the value of '\(key)'")
        return .object(members)
      }
    }

    mutating func array(depth: Int) throws -> JSONNode.Value {
      guard depth <= JSONDocument.maximumDepth else {
        throw error("nested deeper than \(JSONDocument.maximumDepth)")
      }
      index += 1
      var elements: [JSONNode] = []
      skipWhitespace()
      if current == UInt8(ascii: "]") {
        index += 1
        return .array(elements)
      }
      while true {
        skipWhitespace()
        elements.append(try value(depth: depth))
        skipWhitespace()
        if current == UInt8(ascii: ",") {
          index += 1
          continue
        }
        try expect(UInt8(ascii: "]"), "',' or ']' in a list")
        return .array(elements)
      }
    }

    mutating func number() throws -> String {
      let start = index
      func digits(_ parser: inout Parser) -> Int {
        let from = parser.index
        while let byte = parser.current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
          parser.index += 1
        }
        return parser.index - from
      }
      if current == UInt8(ascii: "-") { index += 1 }
      let leadingZero = current == UInt8(ascii: "0")
      let whole = digits(&self)
      guard whole > 0 else { throw error("a number needs digits") }
      guard !(leadingZero && whole > 1) else { throw error("a number may not start with 0") }
      if current == UInt8(ascii: ".") {
        index += 1
        guard digits(&self) > 0 else { throw error("a number needs digits after '.'") }
      }
      if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
        index += 1
        if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
        guard digits(&self) > 0 else { throw error("a number needs digits in its exponent") }
      }
      return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    mutating func string() throws -> String {
      index += 1
      var utf8: [UInt8] = []
      while true {
        guard let byte = current else { throw error("a string is not closed") }
        index += 1
        switch byte {
        case UInt8(ascii: "\""):
          guard let text = String(validating: utf8, as: UTF8.self) else {
            throw error("a string is not valid UTF-8")
          }
          return text
        case UInt8(ascii: "\\"):
          try escape(into: &utf8)
        case 0..<0x20:
          index -= 1
          throw error("a control character inside a string (write \\n, \\t, …)")
        default:
          utf8.append(byte)
        }
      }
    }

    mutating func escape(into utf8: inout [UInt8]) throws {
      guard let byte = current else { throw error("a string is not closed") }
      index += 1
      let simple: [UInt8: UInt8] = [
        UInt8(ascii: "\""): 0x22, UInt8(ascii: "\\"): 0x5c, UInt8(ascii: "/"): 0x2f, UInt8(ascii: "b"): 0x08,
        UInt8(ascii: "f"): 0x0c, UInt8(ascii: "n"): 0x0a, UInt8(ascii: "r"): 0x0d, UInt8(ascii: "t"): 0x09,
      ]
      if let replacement = simple[byte] {
        utf8.append(replacement)
        return
      }
      guard byte == UInt8(ascii: "u") else { throw error("unknown escape '\\\(printable(byte))'") }
      var scalar = try hex4()
      if (0xD800..<0xDC00).contains(scalar) {
        // A high surrogate must be followed by an escaped low one; together they name one scalar.
        guard current == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u")
        else {
          throw error("an unpaired surrogate in \\u escapes")
        }
        index += 2
        let low = try hex4()
        guard (0xDC00..<0xE000).contains(low) else { throw error("an unpaired surrogate in \\u escapes") }
        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
      }
      guard let unicode = Unicode.Scalar(scalar) else { throw error("an unpaired surrogate in \\u escapes") }
      utf8 += Array(String(Character(unicode)).utf8)
    }

    mutating func hex4() throws -> UInt32 {
      let isHex = { (byte: UInt8) in
        (0x30...0x39).contains(byte) || (0x41...0x46).contains(byte) || (0x61...0x66).contains(byte)
      }
      guard index + 4 <= bytes.count, bytes[index..<index + 4].allSatisfy(isHex),
        let value = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16)
      else { throw error("\\u needs four hexadecimal digits") }
      index += 4
      return value
    }
  }
}
