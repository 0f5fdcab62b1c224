import CNNKitKernels
import XCTest

final class GEMMTests: XCTestCase {
  func testPlaceholder() {}
}
