import CNNKit
import XCTest

final class TensorTests: XCTestCase {
  func testPlaceholder() {}
}
