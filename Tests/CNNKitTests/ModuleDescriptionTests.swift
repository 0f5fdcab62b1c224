import CNNKit
import XCTest

final class ModuleDescriptionTests: XCTestCase {
  /// The text PyTorch prints for the same torchvision AlexNet (ReLU/Dropout without `inplace`).
  func testAlexNetPrintsLikePyTorch() {
    let text = AlexNet().description.split(separator: "\n").map(String.init)
    XCTAssertEqual(text[0], "AlexNet(")
    XCTAssertEqual(text[1], "  (features): Sequential(")
    XCTAssertEqual(text[2], "    (0): Conv2d(3, 64, kernel_size=(11, 11), stride=(4, 4), padding=(2, 2))")
    XCTAssertEqual(
      text[4], "    (2): MaxPool2d(kernel_size=3, stride=2, padding=0, dilation=1, ceil_mode=False)")
    XCTAssertEqual(text[15], "  )")
    XCTAssertEqual(text[16], "  (avgpool): AdaptiveAvgPool2d(output_size=(6, 6))")
    XCTAssertEqual(text[18], "    (0): Dropout(p=0.5, inplace=False)")
    XCTAssertEqual(text[19], "    (1): Linear(in_features=9216, out_features=4096, bias=True)")
    XCTAssertEqual(text.last, ")")
  }
}
