import CNNKit
import XCTest

/// Transforms against hand-worked values on tiny images and against Pillow/torchvision.
final class TransformTests: XCTestCase {
  /// A 1-channel image whose pixel i (row-major) is `3·i`, as the torchvision checks used.
  private func ramp(_ height: Int, _ width: Int) -> Image {
    Image(height: height, width: width, channels: 1, pixels: (0..<(height * width)).map { Float($0 * 3) })
  }

  private func apply(_ transform: any ImageTransform, _ image: Image, seed: UInt64 = 0) throws -> Image {
    var rng = RandomGenerator(seed: seed)
    return try transform.apply(image, using: &rng)
  }

  // MARK: Crops

  /// Offsets are round((H − h) / 2) with halves to even; values from torchvision's CenterCrop on PIL.
  func testCenterCropMatchesTorchvisionRounding() throws {
    XCTAssertEqual(try apply(CenterCrop(2), ramp(4, 4)).pixels, [15, 18, 27, 30])
    XCTAssertEqual(try apply(CenterCrop(2), ramp(5, 5)).pixels, [36, 39, 51, 54])  // round(1.5) = 2
    XCTAssertEqual(try apply(CenterCrop(2), ramp(7, 7)).pixels, [48, 51, 69, 72])  // round(2.5) = 2
    XCTAssertEqual(try apply(CenterCrop(height: 2, width: 3), ramp(5, 6)).pixels, [42, 45, 48, 60, 63, 66])
  }

  /// A crop larger than the image pads with zeros first, the odd pixel going right/bottom.
  func testCenterCropPadsSmallImages() throws {
    let out = try apply(CenterCrop(4), ramp(2, 3))
    XCTAssertEqual(out.height, 4)
    XCTAssertEqual(out.width, 4)
    XCTAssertEqual(out.pixels, [0, 0, 0, 0, 0, 3, 6, 0, 9, 12, 15, 0, 0, 0, 0, 0])
  }

  func testCroppedOutsideTheImageIsBlack() {
    let out = ramp(2, 2).cropped(top: -1, left: 1, height: 2, width: 2)
    XCTAssertEqual(out.pixels, [0, 0, 3, 0])
  }

  func testRandomCropIsDeterministicAndCoversEveryOffset() throws {
    let image = ramp(6, 6)
    let crop = RandomCrop(4)
    XCTAssertEqual(try apply(crop, image, seed: 9), try apply(crop, image, seed: 9))
    var counts = [Int](repeating: 0, count: 9)
    var rng = RandomGenerator(seed: 1)
    for _ in 0..<900 {
      let out = try crop.apply(image, using: &rng)
      XCTAssertEqual(out.height, 4)
      XCTAssertEqual(out.width, 4)
      // The top-left pixel 3·(6·top + left) identifies the window; the rest must follow from it.
      let start = Int(out.pixels[0]) / 3
      let (top, left) = (start / 6, start % 6)
      XCTAssertEqual(out, image.cropped(top: top, left: left, height: 4, width: 4))
      counts[top * 3 + left] += 1
    }
    // Uniform over the 3×3 offsets: 100 expected each; a 1-in-10⁶ band is about ±50.
    for count in counts { XCTAssertTrue((50...150).contains(count), "offset counts \(counts)") }
  }

  func testRandomCropPaddingAndPadIfNeeded() throws {
    // CIFAR-style: pad by 1 then crop back to the original size.
    let padded = try apply(RandomCrop(2, padding: Padding(1)), ramp(2, 2), seed: 3)
    XCTAssertEqual(padded.height, 2)
    XCTAssertEqual(padded.width, 2)
    // torchvision pads the short side by the whole shortfall on both ends: 2×3 → 6×3 for a 3×6 crop.
    let needed = try apply(RandomCrop(height: 3, width: 6, padIfNeeded: true), ramp(2, 3), seed: 3)
    XCTAssertEqual(needed.height, 3)
    XCTAssertEqual(needed.width, 6)
    XCTAssertThrowsError(try apply(RandomCrop(3), ramp(2, 2))) { error in
      XCTAssertTrue("\(error)".contains("padIfNeeded"), "\(error)")
    }
  }

  func testRandomResizedCropSizeDeterminismAndWindowStatistics() throws {
    let crop = RandomResizedCrop(8)
    let image = Image(
      height: 30, width: 40, channels: 3, pixels: (0..<3600).map { Float(($0 * 7) % 256) })
    let a = try apply(crop, image, seed: 5)
    XCTAssertEqual([a.height, a.width, a.channels], [8, 8, 3])
    XCTAssertEqual(a, try apply(crop, image, seed: 5))
    XCTAssertNotEqual(a, try apply(crop, image, seed: 6))

    var rng = RandomGenerator(seed: 11)
    var areaSum = 0.0
    let draws = 2000
    for _ in 0..<draws {
      let w = crop.cropWindow(imageHeight: 100, imageWidth: 100, using: &rng)
      XCTAssertTrue(w.top >= 0 && w.left >= 0 && w.top + w.height <= 100 && w.left + w.width <= 100)
      let fraction = Double(w.height * w.width) / 10_000
      // Rounding each side to whole pixels moves the area and ratio slightly past the ranges.
      XCTAssertTrue(fraction > 0.06 && fraction <= 1, "area fraction \(fraction)")
      let ratio = Double(w.width) / Double(w.height)
      XCTAssertTrue(ratio > 0.7 && ratio < 1.43, "ratio \(ratio)")
      areaSum += fraction
    }
    // Uniform on [0.08, 1] has mean 0.54; rejecting windows that do not fit lowers it a little.
    XCTAssertEqual(areaSum / Double(draws), 0.52, accuracy: 0.04)
  }

  /// No window of 8–100% of a 1×100 strip fits, so torchvision falls back to the centred crop
  /// clipped to the largest allowed ratio: h = 1, w = round(4/3) = 1, left = 99 / 2.
  func testRandomResizedCropFallback() {
    var rng = RandomGenerator(seed: 2)
    let w = RandomResizedCrop(4).cropWindow(imageHeight: 1, imageWidth: 100, using: &rng)
    XCTAssertEqual(w.top, 0)
    XCTAssertEqual(w.left, 49)
    XCTAssertEqual(w.height, 1)
    XCTAssertEqual(w.width, 1)
  }

  /// torchvision's TenCrop(2) on the 4×5 ramp: corners, centre, then the same of the mirror.
  func testTenCropExactCrops() throws {
    let crops = try TenCrop(2).crops(of: ramp(4, 5))
    let expected: [[Float]] = [
      [0, 3, 15, 18], [9, 12, 24, 27], [30, 33, 45, 48], [39, 42, 54, 57], [21, 24, 36, 39],
      [12, 9, 27, 24], [3, 0, 18, 15], [42, 39, 57, 54], [33, 30, 48, 45], [21, 18, 36, 33],
    ]
    XCTAssertEqual(crops.map(\.pixels), expected)
    let tensor = try TenCrop(2).tensor(from: ramp(4, 5), normalize: .mnist)
    XCTAssertEqual(tensor.shape, [10, 1, 2, 2])
    XCTAssertEqual(tensor.scalars[7], (27 / 255 - 0.1307) / 0.3081, accuracy: 1e-6)  // crop 1, last value
    XCTAssertThrowsError(try TenCrop(5).crops(of: ramp(4, 5)))
  }

  // MARK: Flips, padding, colour

  func testHorizontalFlip() throws {
    let image = Image(height: 1, width: 3, channels: 2, pixels: [1, 2, 3, 4, 5, 6])
    XCTAssertEqual(try apply(RandomHorizontalFlip(p: 1), image).pixels, [5, 6, 3, 4, 1, 2])
    XCTAssertEqual(try apply(RandomHorizontalFlip(p: 0), image), image)
    XCTAssertEqual(ramp(2, 2).flippedVertically().pixels, [6, 9, 0, 3])
    // One draw per image whatever the outcome.
    var a = RandomGenerator(seed: 4)
    var b = RandomGenerator(seed: 4)
    _ = try RandomHorizontalFlip(p: 0).apply(image, using: &a)
    _ = b.nextUniform()
    XCTAssertEqual(a, b)
  }

  /// torchvision's Pad((2, 1), fill=9, padding_mode=…) on the 1×3 image [1, 2, 3].
  func testPadModesMatchTorchvision() throws {
    let image = Image(height: 1, width: 3, channels: 1, pixels: [1, 2, 3])
    let rows: [PaddingMode: [Float]] = [
      .constant: [9, 9, 1, 2, 3, 9, 9], .edge: [1, 1, 1, 2, 3, 3, 3],
      .reflect: [3, 2, 1, 2, 3, 2, 1], .symmetric: [2, 1, 1, 2, 3, 3, 2],
    ]
    for (mode, row) in rows {
      let out = try apply(Pad(Padding(horizontal: 2, vertical: 1), fill: [9], mode: mode), image)
      XCTAssertEqual([out.height, out.width], [3, 7])
      // Vertically, the single row is repeated, except in constant mode.
      let border: [Float] = mode == .constant ? Array(repeating: 9, count: 7) : row
      XCTAssertEqual(out.pixels, border + row + border, "\(mode)")
    }
    // NumPy wraps reflection when the padding exceeds the image: np.pad([1, 2, 3], 5, "reflect").
    let wide = try image.padded(Padding(horizontal: 5, vertical: 0), mode: .reflect)
    XCTAssertEqual(wide.pixels, [2, 1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3, 2])
    // Per-channel fill.
    let rgb = try Image(height: 1, width: 1, channels: 2, pixels: [1, 2]).padded(
      Padding(left: 1, top: 0, right: 0, bottom: 0), fill: [7, 8])
    XCTAssertEqual(rgb.pixels, [7, 8, 1, 2])
  }

  /// The added colour is Σᵢ αᵢ λᵢ pᵢ · 255 with α drawn as N(0, 0.1) from the same generator.
  func testPCAColorAugmentationAddsEigenOffset() throws {
    let image = Image(height: 2, width: 2, channels: 3, pixels: (0..<12).map { Float($0 * 10) })
    var rng = RandomGenerator(seed: 42)
    let out = try PCAColorAugmentation().apply(image, using: &rng)
    var replay = RandomGenerator(seed: 42)
    let alphas = (0..<3).map { _ in replay.nextNormal(mean: 0, std: 0.1) }
    let lambdas: [Float] = [0.2175, 0.0188, 0.0045]
    let vectors: [[Float]] = [
      [-0.5675, -0.5808, -0.5836], [0.7192, -0.0045, -0.6948], [0.4009, -0.8140, 0.4203],
    ]
    var offset: [Float] = [0, 0, 0]
    for i in 0..<3 {
      for c in 0..<3 { offset[c] += alphas[i] * lambdas[i] * vectors[i][c] * 255 }
    }
    XCTAssertGreaterThan(abs(offset[0]), 0.01)
    for p in 0..<4 {
      for c in 0..<3 {
        XCTAssertEqual(out[p / 2, p % 2, c] - image[p / 2, p % 2, c], offset[c], accuracy: 1e-4)
      }
    }
    XCTAssertEqual(rng, replay)
    XCTAssertThrowsError(try apply(PCAColorAugmentation(), ramp(2, 2)))
  }

  func testGrayscale() throws {
    let pixel = Image(height: 1, width: 1, channels: 3, pixels: [100, 50, 200])
    XCTAssertEqual(try apply(Grayscale(), pixel).pixels[0], 82.05, accuracy: 1e-4)
    XCTAssertEqual(try apply(Grayscale(outputChannels: 3), pixel).pixels.count, 3)
    XCTAssertEqual(try apply(Grayscale(outputChannels: 3), ramp(1, 2)).pixels, [0, 0, 0, 3, 3, 3])
  }

  // MARK: Tensors

  func testToTensorLayoutAndNormalize() throws {
    // 1×2 RGB: pixel 0 = (0, 51, 102), pixel 1 = (153, 204, 255).
    let image = Image(height: 1, width: 2, channels: 3, pixels: [0, 51, 102, 153, 204, 255])
    let tensor = ToTensor()(image)
    XCTAssertEqual(tensor.shape, [3, 1, 2])
    // Channel-major: R of both pixels, then G, then B.
    for (a, b) in zip(tensor.scalars, [0, 0.6, 0.2, 0.8, 0.4, 1.0] as [Float]) {
      XCTAssertEqual(a, b, accuracy: 1e-7)
    }
    let normalized = try Normalize(mean: [0.5, 0.5, 0], std: [0.5, 0.25, 1])(tensor)
    let expected: [Float] = [-1, 0.2, -1.2, 1.2, 0.4, 1.0]
    for (a, b) in zip(normalized.scalars, expected) { XCTAssertEqual(a, b, accuracy: 1e-6) }
    XCTAssertThrowsError(try Normalize(mean: [0, 0], std: [1, 1])(tensor))
    XCTAssertEqual(try Normalize.mnist(tensor).shape, [3, 1, 2], "one mean/std applies to every channel")
    XCTAssertThrowsError(try Normalize(mean: [0], std: [0]))
    XCTAssertEqual(Normalize.imagenet.mean, [0.485, 0.456, 0.406])
    XCTAssertEqual(Normalize.cifar10.std, [0.2470, 0.2435, 0.2616])
  }

  func testImagePipelineComposesTransformsThenTensor() throws {
    let pipeline = ImagePipeline([Compose([Pad(1), CenterCrop(2)])], normalize: .mnist)
    var rng = RandomGenerator(seed: 0)
    let tensor = try pipeline.tensor(from: ramp(2, 2), using: &rng)
    XCTAssertEqual(tensor.shape, [1, 2, 2])
    for (a, b) in zip(tensor.scalars, [0, 3, 6, 9] as [Float]) {
      XCTAssertEqual(a, (b / 255 - 0.1307) / 0.3081, accuracy: 1e-6)
    }
  }

  // MARK: Resize

  func testResizeOutputSizesFollowTorchvision() throws {
    XCTAssertTrue(try Resize(3).outputSize(imageHeight: 5, imageWidth: 7) == (3, 4))  // int(3·7/5)
    XCTAssertTrue(try Resize(3).outputSize(imageHeight: 7, imageWidth: 5) == (4, 3))
    XCTAssertTrue(try Resize(4, maxSize: 6).outputSize(imageHeight: 5, imageWidth: 10) == (3, 6))
    XCTAssertTrue(try Resize(height: 2, width: 9).outputSize(imageHeight: 5, imageWidth: 7) == (2, 9))
    XCTAssertEqual(try apply(Resize(3), ramp(5, 7)).width, 4)
  }

  private var resizeSource: Image {
    var image = Image(height: 5, width: 7, channels: 3)
    for y in 0..<5 {
      for x in 0..<7 {
        for c in 0..<3 { image[y, x, c] = Float((y * 37 + x * 11 + c * 53 + (x * y) % 7 * 19) % 256) }
      }
    }
    return image
  }

  /// Float resampling equals Pillow's mode "F" to 1e-3 (the fixtures carry 4 decimals); Pillow's
  /// 8-bit path rounds after each pass, so there the difference is at most 1 level.
  func testResizeMatchesPillowBilinear() {
    let cases: [(Int, Int, [Float])] = [
      (3, 4, PillowResizeFixtures.pillowFloat3x4), (3, 10, PillowResizeFixtures.pillowFloat3x10),
      (8, 10, PillowResizeFixtures.pillowFloat8x10),
    ]
    for (h, w, expected) in cases {
      let out = resizeSource.resized(height: h, width: w)
      XCTAssertEqual(out.pixels.count, expected.count)
      let worst = zip(out.pixels, expected).map { abs($0 - $1) }.max()!
      XCTAssertLessThan(worst, 1e-3, "\(h)×\(w)")
    }
    for (h, w, expected) in [
      (3, 4, PillowResizeFixtures.pillowRGB3x4), (3, 10, PillowResizeFixtures.pillowRGB3x10),
    ] {
      let out = resizeSource.resized(height: h, width: w)
      let worst = zip(out.pixels, expected).map { abs($0 - $1) }.max()!
      XCTAssertLessThanOrEqual(worst, 1, "\(h)×\(w) against 8-bit Pillow")
    }
  }

  /// Without antialiasing the filter is PyTorch's plain bilinear (align_corners=False).
  func testResizeWithoutAntialiasMatchesTorchInterpolate() {
    let out = resizeSource.resized(height: 3, width: 10, antialias: false)
    let worst = zip(out.pixels, PillowResizeFixtures.torchBilinear3x10).map { abs($0 - $1) }.max()!
    XCTAssertLessThan(worst, 1e-3)
  }

  func testResizeKeepsConstantImagesConstant() {
    let flat = Image(height: 9, width: 13, channels: 1, pixels: Array(repeating: 77, count: 117))
    for (h, w) in [(2, 3), (20, 5), (9, 1)] {
      for value in flat.resized(height: h, width: w).pixels { XCTAssertEqual(value, 77, accuracy: 1e-4) }
    }
  }
}

/// Generated by Tests/Fixtures/generate_transform_fixtures.py (Pillow 13, torch 2.15).
private enum PillowResizeFixtures {
  // Pillow 3×4, mode "F" per channel.
  static let pillowFloat3x4: [Float] = [
    25.8844, 78.8844, 131.8844, 55.6743, 108.6743, 161.6743, 90.8971, 143.8971, 117.9029, 120.6871,
    116.2177, 116.9728, 99.6667, 149.9577, 171.8042, 167.6444, 151.24, 102.9778, 177.4133, 161.0089,
    117.2978, 210.7407, 126.9365, 67.5132, 169.8299, 154.9116, 153.9252, 178.4457, 145.1371,
    69.4057, 171.9257, 91.8057, 92.1429, 121.5646, 104.9048, 110.8844,
  ]
  // Pillow 3×10, mode "F" per channel.
  static let pillowFloat3x10: [Float] = [
    15.8571, 68.8571, 121.8571, 26.3857, 79.3857, 132.3857, 39.7857, 92.7857, 145.7857, 53.1857,
    106.1857, 159.1857, 66.5857, 119.5857, 172.5857, 79.9857, 132.9857, 147.5857, 93.3857, 146.3857,
    89.6714, 106.7857, 159.7857, 103.0714, 120.1857, 123.8143, 116.4714, 130.7143, 74, 127, 74, 127,
    180, 100.95, 153.95, 175.6611, 135.25, 174.0278, 148.8056, 169.55, 168.5056, 83.55, 184.6389,
    125.2833, 91.5278, 182.7333, 123.3778, 119.4889, 167.5278, 166.4833, 152.6389, 181.1389,
    219.9167, 66.6944, 208.05, 145.85, 58.05, 235, 32, 85, 132.1429, 185.1429, 238.1429, 175.5143,
    148.0571, 140.7143, 211.7143, 127.5714, 61.7143, 213.7143, 155.1714, 63.7143, 132.9786,
    147.5786, 78.0643, 141.6286, 105.0286, 86.7143, 232.35, 42.15, 89.6643, 145.25, 134.25,
    104.9643, 115.4286, 119.0571, 111.7143, 117, 60.2857, 113.2857,
  ]
  // Pillow 8×10, mode "F" per channel.
  static let pillowFloat8x10: [Float] = [
    0, 53, 106, 6.05, 59.05, 112.05, 13.75, 66.75, 119.75, 21.45, 74.45, 127.45, 29.15, 82.15,
    135.15, 36.85, 89.85, 142.85, 44.55, 97.55, 150.55, 52.25, 105.25, 158.25, 59.95, 112.95,
    165.95, 66, 119, 172, 16.1875, 69.1875, 122.1875, 26.8094, 79.8094, 132.8094, 40.3281, 93.3281,
    146.3281, 53.8469, 106.8469, 159.8469, 67.3656, 120.3656, 173.3656, 80.8844, 133.8844, 147.6844,
    94.4031, 147.4031, 88.4031, 107.9219, 160.9219, 101.9219, 121.4406, 124.0406, 115.4406,
    132.0625, 73.0625, 126.0625, 39.3125, 92.3125, 145.3125, 56.4656, 109.4656, 162.4656, 78.2969,
    131.2969, 180.2969, 100.1281, 153.1281, 190.9281, 121.9594, 164.5594, 211.9594, 140.8813,
    183.4812, 152.4812, 157.3094, 210.3094, 22.5094, 179.1406, 232.1406, 33.1406, 200.9719,
    138.7719, 50.9719, 218.125, 15.125, 68.125, 62.4375, 115.4375, 168.4375, 86.1219, 139.1219,
    192.1219, 116.2656, 169.2656, 178.2656, 146.4094, 199.4094, 85.2094, 176.5531, 115.1531,
    106.5531, 174.6938, 113.2937, 138.2937, 145.4031, 198.4031, 162.6031, 175.5469, 228.5469,
    69.5469, 205.6906, 143.4906, 55.6906, 229.375, 26.375, 79.375, 85.5625, 138.5625, 191.5625,
    115.7781, 168.7781, 177.7781, 154.2344, 187.2344, 136.2344, 192.6906, 169.6906, 51.4906,
    204.1313, 114.7312, 54.1312, 196.0375, 106.6375, 107.6375, 172.9812, 149.9812, 190.1812,
    182.3438, 215.3438, 76.3438, 210.4094, 148.2094, 60.4094, 240.625, 37.625, 90.625, 108.6875,
    161.6875, 214.6875, 145.4344, 198.4344, 119.4344, 192.2031, 185.2031, 54.2031, 238.9719,
    63.9719, 89.7719, 204.6938, 163.2937, 54.6937, 204.9125, 163.5125, 60.5125, 240.0437, 65.0437,
    105.2438, 199.5312, 192.5312, 53.5312, 215.1281, 152.9281, 65.1281, 251.875, 48.875, 101.875,
    131.8125, 184.8125, 237.8125, 175.0906, 148.8906, 140.2906, 211.4688, 128.4688, 61.4688,
    214.1813, 153.5813, 64.1813, 134.1, 147.9, 77.7, 142.6313, 106.0312, 86.2312, 232.575, 42.375,
    89.775, 146.125, 135.125, 104.125, 116.9938, 119.5938, 110.9938, 119.125, 60.125, 113.125, 148,
    201, 254, 195.85, 108.05, 161.05, 223.5, 84.5, 73.5, 191.3, 231.5, 41.3, 79.15, 132.15, 95.55,
    93.5, 56.9, 109.9, 221.55, 31.35, 84.35, 103.25, 92.25, 145.25, 40.3, 93.3, 146.3, 15, 68, 121,
  ]
  // Pillow 3×4 on the 8-bit RGB image (= torchvision Resize((3, 4)) on PIL).
  static let pillowRGB3x4: [Float] = [
    26, 79, 132, 56, 109, 162, 91, 144, 118, 120, 116, 117, 100, 150, 172, 168, 151, 103, 177, 161,
    117, 211, 127, 68, 170, 155, 154, 178, 145, 70, 172, 92, 92, 122, 105, 111,
  ]
  // Pillow 3×10 on the 8-bit RGB image (= torchvision Resize((3, 10)) on PIL).
  static let pillowRGB3x10: [Float] = [
    16, 69, 122, 26, 79, 132, 40, 93, 146, 53, 106, 159, 66, 119, 172, 80, 133, 148, 93, 146, 90,
    107, 160, 103, 121, 124, 117, 131, 74, 127, 74, 127, 180, 101, 154, 176, 135, 174, 149, 170,
    168, 84, 184, 125, 91, 183, 123, 119, 168, 167, 153, 181, 220, 67, 208, 146, 58, 235, 32, 85,
    132, 185, 238, 175, 148, 141, 212, 128, 62, 214, 155, 64, 133, 147, 78, 141, 105, 87, 233, 43,
    90, 145, 134, 105, 115, 119, 111, 117, 60, 113,
  ]
  // torch.nn.functional.interpolate(size=(3, 10), mode="bilinear", align_corners=False).
  static let torchBilinear3x10: [Float] = [
    12.3333, 65.3333, 118.3333, 21.8667, 74.8667, 127.8667, 34, 87, 140, 46.1333, 99.1333, 152.1333,
    58.2667, 111.2667, 164.2667, 70.4, 123.4, 146.5333, 82.5333, 135.5333, 103.2, 94.6667, 147.6667,
    115.3333, 106.8, 121.4, 127.4667, 116.3333, 84, 137, 74, 127, 180, 100.95, 153.95, 206.95,
    135.25, 188.25, 177.25, 169.55, 222.55, 32.35, 203.85, 90.45, 53.85, 191.6, 78.2, 131.2, 139.45,
    192.45, 232.6501, 173.75, 226.75, 87.75, 208.05, 145.85, 58.05, 235, 32, 85, 135.6667, 188.6667,
    241.6667, 180.0333, 139.1667, 145.2333, 214.3333, 118, 64.3333, 208.7333, 172.1333, 58.7333,
    121.0167, 144.15, 81.95, 130.9333, 94.3334, 91.8667, 229.95, 39.75, 88.4833, 135.9167, 124.9167,
    113.9166, 98.7334, 113.3334, 119.4, 94.3334, 62, 115,
  ]
}
