import CNNKit
import XCTest

// Reference texts: torchsummary's AlexNet table is the published output quoted in
// /work/shared/reference.md; torchinfo's ResNet18 tables are torchinfo's own
// tests/test_output/resnet18_depth_consistency.out (reference.md quotes it with `└─Linear: 1-10`
// and `├─BasicBlock`, a tree torchinfo never draws: its depth-1 rows all start `├─` and deeper rows
// all `│    …└─`); the Keras table is the last `model.summary()` of the study note seed 004 (Keras
// 2.2, names numbered from _1). KerasSummaryTests compares the other Keras layouts.

/// The zoo's resnet18 (torchvision's layout) at the 64×64 input of torchinfo's reference tables.
private func resnet18() throws -> ResNet {
  try XCTUnwrap(Zoo.build("resnet18", input: [3, 64, 64]) as? ResNet)
}

/// The plain 2012 AlexNet of the study notes (96-256-384-384-256, no LRN, Flatten module).
private func plainAlexNet(classes: Int) -> Sequential {
  Sequential(
    Conv2d(3, 96, kernelSize: 11, stride: 4), ReLU(), MaxPool2d(kernelSize: 3, stride: 2),
    Conv2d(96, 256, kernelSize: 5, padding: 2), ReLU(), MaxPool2d(kernelSize: 3, stride: 2),
    Conv2d(256, 384, kernelSize: 3, padding: 1), ReLU(),
    Conv2d(384, 384, kernelSize: 3, padding: 1), ReLU(),
    Conv2d(384, 256, kernelSize: 3, padding: 1), ReLU(), MaxPool2d(kernelSize: 3, stride: 2),
    Flatten(),
    Linear(9216, 4096), ReLU(),
    Linear(4096, 4096), ReLU(),
    Linear(4096, classes))
}

/// Splits into lines and drops trailing spaces (Keras pads its rows to 65 columns).
private func trimmedLines(_ text: String) -> [String] {
  text.split(separator: "\n", omittingEmptySubsequences: false).map {
    var line = String($0)
    while line.hasSuffix(" ") { line.removeLast() }
    return line
  }
}

final class SummaryTests: XCTestCase {
  static let torchsummaryAlexNet = """
    ----------------------------------------------------------------
            Layer (type)               Output Shape         Param #
    ================================================================
                Conv2d-1           [-1, 64, 55, 55]          23,296
                  ReLU-2           [-1, 64, 55, 55]               0
             MaxPool2d-3           [-1, 64, 27, 27]               0
                Conv2d-4          [-1, 192, 27, 27]         307,392
                  ReLU-5          [-1, 192, 27, 27]               0
             MaxPool2d-6          [-1, 192, 13, 13]               0
                Conv2d-7          [-1, 384, 13, 13]         663,936
                  ReLU-8          [-1, 384, 13, 13]               0
                Conv2d-9          [-1, 256, 13, 13]         884,992
                 ReLU-10          [-1, 256, 13, 13]               0
               Conv2d-11          [-1, 256, 13, 13]         590,080
                 ReLU-12          [-1, 256, 13, 13]               0
            MaxPool2d-13            [-1, 256, 6, 6]               0
    AdaptiveAvgPool2d-14            [-1, 256, 6, 6]               0
              Dropout-15                 [-1, 9216]               0
               Linear-16                 [-1, 4096]      37,752,832
                 ReLU-17                 [-1, 4096]               0
              Dropout-18                 [-1, 4096]               0
               Linear-19                 [-1, 4096]      16,781,312
                 ReLU-20                 [-1, 4096]               0
               Linear-21                 [-1, 1000]       4,097,000
    ================================================================
    Total params: 61,100,840
    Trainable params: 61,100,840
    Non-trainable params: 0
    ----------------------------------------------------------------
    Input size (MB): 0.57
    Forward/backward pass size (MB): 8.38
    Params size (MB): 233.08
    Estimated Total Size (MB): 242.03
    ----------------------------------------------------------------

    """

  static let kerasSeed004 = """
    _________________________________________________________________
    Layer (type)                 Output Shape              Param #
    =================================================================
    conv2d_1 (Conv2D)            (None, 55, 55, 96)        34944
    _________________________________________________________________
    max_pooling2d_1 (MaxPooling2 (None, 27, 27, 96)        0
    _________________________________________________________________
    conv2d_2 (Conv2D)            (None, 27, 27, 256)       614656
    _________________________________________________________________
    max_pooling2d_2 (MaxPooling2 (None, 13, 13, 256)       0
    _________________________________________________________________
    conv2d_3 (Conv2D)            (None, 13, 13, 384)       885120
    _________________________________________________________________
    conv2d_4 (Conv2D)            (None, 13, 13, 384)       1327488
    _________________________________________________________________
    conv2d_5 (Conv2D)            (None, 13, 13, 256)       884992
    _________________________________________________________________
    max_pooling2d_3 (MaxPooling2 (None, 6, 6, 256)         0
    _________________________________________________________________
    flatten_1 (Flatten)          (None, 9216)              0
    _________________________________________________________________
    dense_1 (Dense)              (None, 4096)              37752832
    _________________________________________________________________
    dense_2 (Dense)              (None, 4096)              16781312
    _________________________________________________________________
    dense_3 (Dense)              (None, 10)                40970
    =================================================================
    Total params: 58,322,314
    Trainable params: 58,322,314
    Non-trainable params: 0
    _________________________________________________________________

    """

  static let torchinfoResNet18Depth1 = """
    ===================================================================================================================
    Layer (type:depth-idx)                   Output Shape              Param #                   Param %
    ===================================================================================================================
    ResNet                                   [1, 1000]                 --                             --
    ├─Conv2d: 1-1                            [1, 64, 32, 32]           9,408                       0.08%
    ├─BatchNorm2d: 1-2                       [1, 64, 32, 32]           128                         0.00%
    ├─ReLU: 1-3                              [1, 64, 32, 32]           --                             --
    ├─MaxPool2d: 1-4                         [1, 64, 16, 16]           --                             --
    ├─Sequential: 1-5                        [1, 64, 16, 16]           147,968                     1.27%
    ├─Sequential: 1-6                        [1, 128, 8, 8]            525,568                     4.50%
    ├─Sequential: 1-7                        [1, 256, 4, 4]            2,099,712                  17.96%
    ├─Sequential: 1-8                        [1, 512, 2, 2]            8,393,728                  71.81%
    ├─AdaptiveAvgPool2d: 1-9                 [1, 512, 1, 1]            --                             --
    ├─Linear: 1-10                           [1, 1000]                 513,000                     4.39%
    ===================================================================================================================
    Total params: 11,689,512
    Trainable params: 11,689,512
    Non-trainable params: 0
    Total mult-adds (M): 148.57
    ===================================================================================================================
    Input size (MB): 0.05
    Forward/backward pass size (MB): 3.25
    Params size (MB): 46.76
    Estimated Total Size (MB): 50.06
    ===================================================================================================================

    """

  static let torchinfoResNet18Depth2 = """
    ===================================================================================================================
    Layer (type:depth-idx)                   Output Shape              Param #                   Param %
    ===================================================================================================================
    ResNet                                   [1, 1000]                 --                             --
    ├─Conv2d: 1-1                            [1, 64, 32, 32]           9,408                       0.08%
    ├─BatchNorm2d: 1-2                       [1, 64, 32, 32]           128                         0.00%
    ├─ReLU: 1-3                              [1, 64, 32, 32]           --                             --
    ├─MaxPool2d: 1-4                         [1, 64, 16, 16]           --                             --
    ├─Sequential: 1-5                        [1, 64, 16, 16]           --                             --
    │    └─BasicBlock: 2-1                   [1, 64, 16, 16]           73,984                      0.63%
    │    └─BasicBlock: 2-2                   [1, 64, 16, 16]           73,984                      0.63%
    ├─Sequential: 1-6                        [1, 128, 8, 8]            --                             --
    │    └─BasicBlock: 2-3                   [1, 128, 8, 8]            230,144                     1.97%
    │    └─BasicBlock: 2-4                   [1, 128, 8, 8]            295,424                     2.53%
    ├─Sequential: 1-7                        [1, 256, 4, 4]            --                             --
    │    └─BasicBlock: 2-5                   [1, 256, 4, 4]            919,040                     7.86%
    │    └─BasicBlock: 2-6                   [1, 256, 4, 4]            1,180,672                  10.10%
    ├─Sequential: 1-8                        [1, 512, 2, 2]            --                             --
    │    └─BasicBlock: 2-7                   [1, 512, 2, 2]            3,673,088                  31.42%
    │    └─BasicBlock: 2-8                   [1, 512, 2, 2]            4,720,640                  40.38%
    ├─AdaptiveAvgPool2d: 1-9                 [1, 512, 1, 1]            --                             --
    ├─Linear: 1-10                           [1, 1000]                 513,000                     4.39%
    ===================================================================================================================

    """

  func testTorchsummaryAlexNetMatchesReferenceByteForByte() throws {
    let trace = try ModelTrace(model: AlexNet(), inputShape: [2, 3, 224, 224])
    let report = TorchsummaryReport(trace: trace)
    XCTAssertEqual(report.text, Self.torchsummaryAlexNet)
    XCTAssertEqual(trace.summary(.torchsummary), Self.torchsummaryAlexNet)
    XCTAssertEqual(report.totalOutputElements, -1_098_216)
  }

  func testTorchsummaryRowsMatchStudyNoteSeeds() throws {
    // Seed 001: plain AlexNet at 227 with a Flatten module; rows up to Flatten-14 are printed there.
    let plain = TorchsummaryReport(
      trace: try ModelTrace(model: plainAlexNet(classes: 1000), inputShape: [1, 3, 227, 227]))
    let lines = trimmedLines(plain.text)
    XCTAssertEqual(lines[3], "            Conv2d-1           [-1, 96, 55, 55]          34,944")
    XCTAssertEqual(lines[6], "            Conv2d-4          [-1, 256, 27, 27]         614,656")
    XCTAssertEqual(lines[11], "            Conv2d-9          [-1, 384, 13, 13]       1,327,488")
    XCTAssertEqual(lines[15], "        MaxPool2d-13            [-1, 256, 6, 6]               0")
    XCTAssertTrue(lines[16].hasPrefix("          Flatten-14                 [-1, 9216]"))
    XCTAssertTrue(plain.text.contains("Total params: 62,378,344\n"))
    // Seed 000: blocks of Sequentials with BatchNorm; containers are skipped, BN counts 2·C.
    let blocks = Sequential(
      Sequential(
        Conv2d(3, 96, kernelSize: 11, stride: 4), ReLU(), MaxPool2d(kernelSize: 3, stride: 2), BatchNorm2d(96)
      ),
      Sequential(
        Conv2d(96, 256, kernelSize: 5, padding: 2), ReLU(), MaxPool2d(kernelSize: 3, stride: 2),
        BatchNorm2d(256)))
    let bn = trimmedLines(
      TorchsummaryReport(trace: try ModelTrace(model: blocks, inputShape: [1, 3, 227, 227])).text)
    XCTAssertEqual(bn[6], "       BatchNorm2d-4           [-1, 96, 27, 27]             192")
    XCTAssertEqual(bn[10], "       BatchNorm2d-8          [-1, 256, 13, 13]             512")
  }

  func testTorchsummaryHooksBlocksAfterTheirChildrenAndCountsFrozenWeights() throws {
    let model = try resnet18()
    model.conv1.weight.requiresGrad = false
    let report = TorchsummaryReport(trace: try ModelTrace(model: model, inputShape: [1, 3, 64, 64]))
    let names = report.rows.map(\.name)
    // First block: conv1, bn1, relu, conv2, bn2, relu (the same ReLU, called again), then the block.
    XCTAssertEqual(
      Array(names[4...10]),
      ["Conv2d-5", "BatchNorm2d-6", "ReLU-7", "Conv2d-8", "BatchNorm2d-9", "ReLU-10", "BasicBlock-11"])
    XCTAssertEqual(report.rows[10].parameters, 0)
    XCTAssertEqual(report.totalParameters, 11_689_512)
    XCTAssertEqual(report.nonTrainableParameters, 9_408)
    XCTAssertTrue(report.text.contains("Non-trainable params: 9,408\n"))
    XCTAssertEqual(
      TorchsummaryReport(trace: try ModelTrace(model: model, inputShape: [4, 3, 64, 64]), batchSize: 4)
        .rows[0].outputShape, [4, 64, 32, 32])
  }

  func testTorchinfoAlexNetNumbersAndLayout() throws {
    let report = TorchinfoReport(trace: try ModelTrace(model: AlexNet(), inputShape: [1, 3, 224, 224]))
    let text = report.text
    for expected in [
      "Total params: 61,100,840", "Trainable params: 61,100,840", "Non-trainable params: 0",
      "Total mult-adds (M): 714.68", "Input size (MB): 0.60", "Forward/backward pass size (MB): 3.95",
      "Params size (MB): 244.40", "Estimated Total Size (MB): 248.96",
    ] {
      XCTAssertTrue(text.contains(expected + "\n"), expected)
    }
    XCTAssertEqual(report.totalMultAdds, 714_682_664)
    XCTAssertEqual(report.forwardBackwardBytes, 494_184 * 8)
    let lines = trimmedLines(text)
    XCTAssertEqual(lines[0], String(repeating: "=", count: 90))
    XCTAssertEqual(lines[1], "Layer (type:depth-idx)                   Output Shape              Param #")
    XCTAssertEqual(lines[3], "AlexNet                                  [1, 1000]                 --")
    XCTAssertEqual(lines[4], "├─Sequential: 1-1                        [1, 256, 6, 6]            --")
    XCTAssertEqual(lines[5], "│    └─Conv2d: 2-1                       [1, 64, 55, 55]           23,296")
    XCTAssertEqual(lines[17], "│    └─MaxPool2d: 2-13                   [1, 256, 6, 6]            --")
    XCTAssertEqual(lines[18], "├─AdaptiveAvgPool2d: 1-2                 [1, 256, 6, 6]            --")
    XCTAssertEqual(lines[19], "├─Sequential: 1-3                        [1, 1000]                 --")
    XCTAssertEqual(lines[26], "│    └─Linear: 2-20                      [1, 1000]                 4,097,000")
    // depth 1 folds each Sequential into one row with its whole parameter count.
    let shallow = trimmedLines(
      TorchinfoReport(trace: try ModelTrace(model: AlexNet(), inputShape: [1, 3, 224, 224]), depth: 1).text)
    XCTAssertEqual(shallow[4], "├─Sequential: 1-1                        [1, 256, 6, 6]            2,469,696")
    XCTAssertEqual(
      shallow[6], "├─Sequential: 1-3                        [1, 1000]                 58,631,144")
  }

  func testTorchinfoResNet18MatchesPublishedTables() throws {
    let trace = try ModelTrace(model: resnet18(), inputShape: [1, 3, 64, 64])
    let columns: [TorchinfoReport.Column] = [.outputSize, .numParams, .paramsPercent]
    XCTAssertEqual(
      TorchinfoReport(trace: trace, depth: 1, columns: columns).text, Self.torchinfoResNet18Depth1)
    let depth2 = TorchinfoReport(trace: trace, depth: 2, columns: columns).text
    XCTAssertTrue(depth2.hasPrefix(Self.torchinfoResNet18Depth2), depth2)
  }

  func testTorchinfoMarksFrozenAndRecursiveLayers() throws {
    let conv = Conv2d(3, 8, kernelSize: 3, padding: 1)
    let frozen = Conv2d(8, 8, kernelSize: 3, padding: 1)
    frozen.weight.requiresGrad = false
    frozen.bias?.requiresGrad = false
    let model = Sequential(conv, frozen, frozen)
    let report = TorchinfoReport(trace: try ModelTrace(model: model, inputShape: [1, 3, 8, 8]))
    let lines = trimmedLines(report.text)
    XCTAssertEqual(lines[4], "├─Conv2d: 1-1                            [1, 8, 8, 8]              224")
    XCTAssertEqual(lines[5], "├─Conv2d: 1-2                            [1, 8, 8, 8]              (584)")
    XCTAssertEqual(lines[6], "├─Conv2d: 1-3                            [1, 8, 8, 8]              (recursive)")
    XCTAssertEqual(report.totalParameters, 808)
    XCTAssertEqual(report.nonTrainableParameters, 584)
    // Repeated calls still cost mult-adds: (224 + 584 + 584)·64.
    XCTAssertEqual(report.totalMultAdds, 1_392 * 64)
  }

  func testKerasMatchesSeed004PlainAlexNet() throws {
    let trace = try ModelTrace(model: plainAlexNet(classes: 10), inputShape: [1, 3, 227, 227])
    let legacy = KerasReport(trace: trace, naming: .legacy)
    XCTAssertEqual(legacy.totalParameters, 58_322_314)
    XCTAssertEqual(trimmedLines(legacy.text), trimmedLines(Self.kerasSeed004))
    // Rows are padded to Keras' 65 columns; the type is cut at column 29.
    let rows = legacy.text.split(separator: "\n").map(String.init)
    XCTAssertTrue(rows.contains("max_pooling2d_1 (MaxPooling2 (None, 27, 27, 96)        0         "))
    XCTAssertTrue(rows.contains("conv2d_1 (Conv2D)            (None, 55, 55, 96)        34944     "))
    // The same report in TF 2.9's layout: indented rows, a blank row after each layer.
    let tf2 = KerasReport(trace: trace, modelName: "sequential").text(layout: .tf2)
    XCTAssertTrue(tf2.hasPrefix("Model: \"sequential\"\n"))
    XCTAssertTrue(tf2.contains("\n conv2d (Conv2D)             (None, 55, 55, 96)        34944     \n"))
    XCTAssertTrue(tf2.contains("\n max_pooling2d (MaxPooling2D  (None, 27, 27, 96)       0         \n )  "))
    XCTAssertTrue(tf2.contains("\n dense_2 (Dense)             (None, 10)                40970     \n"))
    XCTAssertTrue(tf2.contains("\nTotal params: 58,322,314\n"))
  }

  func testKerasCountsBatchNormStatisticsAsNonTrainable() throws {
    let model = Sequential(Conv2d(3, 256, kernelSize: 3), BatchNorm2d(256), ReLU())
    let trace = try ModelTrace(model: model, inputShape: [1, 3, 32, 32])
    let keras = KerasReport(trace: trace)
    let lines = trimmedLines(keras.text)
    XCTAssertEqual(lines[4], " conv2d (Conv2D)             (None, 30, 30, 256)       7168")
    XCTAssertEqual(lines[6], " batch_normalization (BatchN  (None, 30, 30, 256)      1024")
    XCTAssertEqual(lines[7], " ormalization)")
    XCTAssertEqual(lines[9], " re_lu (ReLU)                (None, 30, 30, 256)       0")
    XCTAssertEqual(keras.totalParameters, 8_192)
    XCTAssertEqual(keras.nonTrainableParameters, 512)
    XCTAssertTrue(
      keras.text.contains("Total params: 8,192\nTrainable params: 7,680\nNon-trainable params: 512\n"))
    // PyTorch tools count BN's weight and bias only, all trainable.
    let torch = TorchsummaryReport(trace: trace)
    XCTAssertEqual(torch.rows[1].parameters, 512)
    XCTAssertEqual(torch.nonTrainableParameters, 0)
  }

  func testKerasFoldsActivationsAndFunctionalFlatten() throws {
    let keras = KerasReport(trace: try ModelTrace(model: AlexNet(), inputShape: [1, 3, 224, 224]))
    XCTAssertFalse(keras.rows.contains { $0.className == "ReLU" })
    XCTAssertEqual(keras.rows.map(\.name).filter { $0.hasPrefix("flatten") }, ["flatten"])
    XCTAssertEqual(keras.rows.first { $0.name == "flatten" }?.outputShape, [9216])
    XCTAssertEqual(keras.totalParameters, 61_100_840)
    XCTAssertEqual(keras.modelName, "alex_net")
    // ResNet18: 4,800 BN channels add 2·4,800 moving statistics; ReLUs after BN or a sum stay rows.
    let resnet = KerasReport(trace: try ModelTrace(model: resnet18(), inputShape: [1, 3, 64, 64]))
    XCTAssertEqual(resnet.totalParameters, 11_689_512 + 9_600)
    XCTAssertEqual(resnet.nonTrainableParameters, 9_600)
    XCTAssertEqual(resnet.rows.filter { $0.className == "ReLU" }.count, 17)
    let explained = LayerExplanation(trace: try ModelTrace(model: resnet18(), inputShape: [1, 3, 64, 64]))
      .text
    XCTAssertTrue(
      explained.contains("\nlayer1.0: BasicBlock()\n  output: 64 × 16 × 16; a block whose layers follow"))
    XCTAssertTrue(explained.contains("\nlayer1.0.relu: ReLU()\n  called again (the same module)\n"))
  }

  func testExplanationWritesTheArithmeticOut() throws {
    let text = LayerExplanation(
      trace: try ModelTrace(model: plainAlexNet(classes: 10), inputShape: [1, 3, 227, 227])
    ).text
    for expected in [
      "height, width: (227 − 11 + 2·0)/4 + 1 = 55",
      "parameters: (11·11·3 + 1)·96 = 34,944",
      "MACs: (11·11·3)·(96·55·55) = 105,415,200",
      "height, width: (55 − 3)/2 + 1 = 27",
      "no parameters: pooling takes a max over each 3×3 window",
      "height, width: (27 − 5 + 2·2)/1 + 1 = 27",
      "parameters: (9216 + 1)·4096 = 37,752,832",
      "no parameters: 256·6·6 = 9,216 features",
      "biggest layer: 14 Linear with 37,752,832 (64.7% of all)",
      "fully connected: 54,575,114 (93.6%)",
    ] {
      XCTAssertTrue(text.contains(expected), expected)
    }
    let torchvision = LayerExplanation(trace: try ModelTrace(model: AlexNet(), inputShape: [1, 3, 224, 224]))
      .text
    XCTAssertTrue(torchvision.contains("(224 − 11 + 2·2)/4 + 1 = ⌊217/4⌋ + 1 = 55 (rounded down from 54.25)"))
    XCTAssertTrue(torchvision.contains("input flattened in forward(): 256·6·6 = 9,216"))
    let grouped = Sequential(Conv2d(96, 256, kernelSize: 5, padding: 2, groups: 2), BatchNorm2d(256))
    let groupedText = LayerExplanation(trace: try ModelTrace(model: grouped, inputShape: [1, 96, 27, 27]))
      .text
    XCTAssertTrue(groupedText.contains("parameters: (5·5·96/2 + 1)·256 = 307,456"))
    XCTAssertTrue(groupedText.contains("2·C = 2·256 = 512 trainable (γ, β) + 2·C = 512 running statistics"))
    let dilated = LayerExplanation(
      trace: try ModelTrace(model: Conv2d(1, 1, kernelSize: 3, dilation: 2), inputShape: [1, 1, 10, 10])
    ).text
    XCTAssertTrue(dilated.contains("(10 − (2·(3 − 1) + 1) + 2·0)/1 + 1 = 6"))
  }
}
