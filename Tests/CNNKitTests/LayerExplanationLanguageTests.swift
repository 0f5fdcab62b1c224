import CNNKit
import XCTest

/// `--explain` in Korean, the LRN α convention in both languages, and Keras names under a Keras table.
final class LayerExplanationLanguageTests: XCTestCase {
  func explanation(
    _ model: Module, input: [Int] = [1, 3, 227, 227], language: LayerExplanation.Language,
    kerasNaming: KerasReport.Naming? = nil
  ) throws -> LayerExplanation {
    LayerExplanation(
      trace: try ModelTrace(model: model, inputShape: input), language: language, kerasNaming: kerasNaming)
  }

  func lines(_ explanation: LayerExplanation, _ path: String) -> [String] {
    explanation.entries.first { $0.path == path }?.lines ?? []
  }

  func testKoreanConvRowOfThePaperAlexNet() throws {
    let ko = try explanation(try AlexNetPaper(), language: .ko)
    XCTAssertTrue(
      ko.text.hasPrefix(
        """
        입력 3 × 227 × 227 기준 층별 계산 (MAC은 샘플 1개당):
          출력 크기: I' = (I − F + 2P)/S + 1 (I: 입력 크기, F: 필터 크기, P: 패딩, S: 스트라이드)
          파라미터 수: Conv는 (F·F·C + 1)·필터 수 (C: 입력 채널 수, + 1: 필터마다 하나인 bias), \
        Linear는 (입력 노드 수 + 1)·출력 노드 수

        features.0: Conv2d(3, 96, kernel_size=(11, 11), stride=(4, 4))
          출력 크기 (높이, 너비): (227 − 11 + 2·0)/4 + 1 = 55
          출력: 96 × 55 × 55
          파라미터: (11·11·3 + 1)·96 = 34,944
          연산량(MAC): (11·11·3)·(96·55·55) = 105,415,200

        """), ko.text)
    // The arithmetic after each label is the English explanation's, character for character.
    let en = try explanation(try AlexNetPaper(), language: .en)
    XCTAssertEqual(
      lines(en, "features.0"),
      [
        "height, width: (227 − 11 + 2·0)/4 + 1 = 55", "output: 96 × 55 × 55",
        "parameters: (11·11·3 + 1)·96 = 34,944", "MACs: (11·11·3)·(96·55·55) = 105,415,200",
      ])
    for path in ["features.0", "features.4", "features.8", "classifier.1", "classifier.6"] {
      let arithmetic = { (lines: [String]) in lines.map { $0.split(separator: ":", maxSplits: 1).last ?? "" }
      }
      XCTAssertEqual(arithmetic(lines(ko, path)), arithmetic(lines(en, path)), path)
    }
    XCTAssertEqual(
      lines(ko, "features.4"),
      [
        "출력 크기 (높이, 너비): (27 − 5 + 2·2)/1 + 1 = 27", "출력: 256 × 27 × 27",
        "파라미터: (5·5·96/2 + 1)·256 = 307,456", "연산량(MAC): (5·5·96/2)·(256·27·27) = 223,948,800",
      ])
  }

  func testKoreanSaysWhyPoolingReLUFlattenAndDropoutHaveNoParameters() throws {
    let ko = try explanation(try AlexNetPaper(), language: .ko)
    XCTAssertEqual(
      lines(ko, "features.3"),
      [
        "출력 크기 (높이, 너비): (55 − 3)/2 + 1 = 27", "출력: 96 × 27 × 27",
        "파라미터 없음: 풀링은 3×3 창마다 최댓값을 고를 뿐이라 업데이트할 가중치가 존재하지 않는다",
      ])
    XCTAssertEqual(
      lines(ko, "features.1"),
      ["파라미터 없음: 활성화 함수 ReLU는 원소마다 max(0, x)를 취할 뿐이라 업데이트할 가중치가 존재하지 않는다 (출력 크기 96 × 55 × 55 그대로)"])
    XCTAssertEqual(
      lines(ko, "classifier.3"),
      ["파라미터 없음: 학습 중에는 각 값을 0.5의 확률로 0으로 만들고 나머지 값은 1/(1 − p)배로 키우며, 추론 때는 입력을 그대로 내보낸다"])
    // A forward() that flattens without a module says so on the next layer's row.
    XCTAssertEqual(lines(ko, "classifier.0").first, "forward()에서 입력을 1차원으로 펼침: 256·6·6 = 9,216")
    let bn = try explanation(try Zoo.build("alexnet-bn"), language: .ko)
    XCTAssertEqual(lines(bn, "fc1.0"), ["파라미터 없음: 256·6·6 = 9,216개 값을 1차원으로 펼칠 뿐이다"])
    XCTAssertEqual(
      lines(bn, "conv1.3"),
      [
        "출력: 96 × 27 × 27 (크기 변화 없음)",
        "파라미터: 2·C = 2·96 = 192 학습 대상 (γ, β) + 2·C = 192 running 통계 (평균, 분산: 학습하지 않는 buffer)",
        "PyTorch 도구는 192개로 세고, Keras는 384개로 세며 그중 192개는 학습하지 않는(non-trainable) 값이다",
      ])
  }

  func testKoreanClosingLinesSayWhereParametersAndWorkConcentrate() throws {
    let ko = try explanation(try AlexNetPaper(), language: .ko)
    XCTAssertEqual(
      ko.concentration,
      [
        "파라미터가 몰린 곳 (전체 60,965,224개):",
        "  완전연결(FC) 층: 58,631,144 (96.2%)",
        "  합성곱(Conv) 층: 2,334,080 (3.8%)",
        "  가장 큰 층: classifier.1 Linear, 37,752,832개 (전체의 61.9%)",
        "연산이 몰린 곳 (샘플 1개당 MAC 724,406,816회): 합성곱(Conv) 층 91.9%, 완전연결(FC) 층 8.1%",
        "파라미터는 완전연결(FC) 층에 압도적으로 많지만 연산은 대부분 합성곱(Conv) 층에서 일어난다: "
          + "필터 하나의 가중치를 feature map의 모든 위치에서 공유하기 때문이다.",
      ])
    // Hangul takes two terminal columns: the counts line up after names of different widths.
    let bn = try explanation(try Zoo.build("alexnet-bn"), language: .ko)
    XCTAssertEqual(
      Array(bn.concentration[1...3]),
      [
        "  완전연결(FC) 층:        58,631,144 (94.0%)",
        "  합성곱(Conv) 층:        3,747,200 (6.0%)",
        "  배치 정규화(BatchNorm): 704 (0.0%)",
      ])
  }

  func testLRNConventionOfThePaperModelInBothLanguages() throws {
    // The zoo's paper AlexNet applies α = 1e-4 undivided, as the paper does.
    let en = try explanation(try AlexNetPaper(), language: .en)
    XCTAssertEqual(
      lines(en, "features.2"),
      [
        "no parameters: each value is normalised over 5 neighbouring channels with fixed k = 2, α = 0.0001, "
          + "β = 0.75; shape unchanged (96 × 55 × 55)",
        "α convention: α = 0.0001 is the 2012 paper's, not divided by n: b = a / (k + α·Σa²)^β",
        "PyTorch's nn.LocalResponseNorm divides α by n = 5 inside: b = a / (k + α/n·Σa²)^β",
        "so in PyTorch this layer is alpha=0.0005 (= 0.0001·5); copying the paper's alpha=0.0001 into PyTorch "
          + "gives the paper's α = 2e-05 (= 0.0001/5)",
      ])
    let ko = try explanation(try AlexNetPaper(), language: .ko)
    XCTAssertEqual(
      lines(ko, "features.6"),
      [
        "파라미터 없음: 각 값을 이웃한 채널 5개에 걸쳐 정규화할 뿐이고 k = 2, α = 0.0001, β = 0.75 모두 "
          + "학습하지 않는 고정값이다 (출력 크기 256 × 27 × 27 그대로)",
        "α 규약: 이 층의 α = 0.0001은 2012년 논문의 값이라 n으로 나누지 않는다: b = a / (k + α·Σa²)^β",
        "PyTorch의 nn.LocalResponseNorm은 내부에서 α를 n = 5로 나눈다: b = a / (k + α/n·Σa²)^β",
        "따라서 이 층을 PyTorch로 옮기려면 alpha=0.0005 (= 0.0001·5)로 써야 하고, 논문 값 alpha=0.0001을 "
          + "PyTorch에 그대로 넣으면 논문 기준으로는 α = 2e-05 (= 0.0001/5)가 된다",
      ])
  }

  func testLRNConventionOfAPyTorchLayerInBothLanguages() throws {
    // nn.LocalResponseNorm(size=5, alpha=0.0001, beta=0.75, k=2), the paper's numbers typed into PyTorch.
    let copied = LocalResponseNorm(size: 5, alpha: 1e-4, beta: 0.75, k: 2)
    let en = try explanation(copied, input: [1, 96, 55, 55], language: .en)
    XCTAssertEqual(
      Array(en.entries[0].lines.dropFirst()),
      [
        "α convention: α = 0.0001 is PyTorch's, divided by n = 5 inside: b = a / (k + α/n·Σa²)^β",
        "the 2012 AlexNet paper writes b = a / (k + α·Σa²)^β, α not divided by n",
        "so this layer is the paper's α = 2e-05 (= 0.0001/5); the paper's α = 0.0001 would be "
          + "alpha=0.0005 (= 0.0001·5) here",
      ])
    let ko = try explanation(copied, input: [1, 96, 55, 55], language: .ko)
    XCTAssertEqual(
      Array(ko.entries[0].lines.dropFirst()),
      [
        "α 규약: 이 층의 α = 0.0001은 PyTorch 방식이라 내부에서 n = 5로 나뉜다: b = a / (k + α/n·Σa²)^β",
        "2012년 AlexNet 논문은 α를 n으로 나누지 않고 b = a / (k + α·Σa²)^β로 쓴다",
        "따라서 이 층은 논문 기준으로 α = 2e-05 (= 0.0001/5)에 해당하고, 논문의 α = 0.0001을 재현하려면 "
          + "alpha=0.0005 (= 0.0001·5)로 써야 한다",
      ])
    // Particles follow the numbers as read aloud: 3 (삼) takes 으로 and 을, 2 (이) takes 로 and 를.
    let odd = LocalResponseNorm(size: 3, alpha: 2e-4, beta: 0.75, k: 1)
    let koOdd = try explanation(odd, input: [1, 8, 4, 4], language: .ko)
    XCTAssertEqual(
      Array(koOdd.entries[0].lines.dropFirst()),
      [
        "α 규약: 이 층의 α = 0.0002는 PyTorch 방식이라 내부에서 n = 3으로 나뉜다: b = a / (k + α/n·Σa²)^β",
        "2012년 AlexNet 논문은 α를 n으로 나누지 않고 b = a / (k + α·Σa²)^β로 쓴다",
        "따라서 이 층은 논문 기준으로 α = 6.66667e-05 (= 0.0002/3)에 해당하고, 논문의 α = 0.0002를 재현하려면 "
          + "alpha=0.0006 (= 0.0002·3)으로 써야 한다",
      ])
  }

  func testKerasFormatLabelsRowsWithKerasNames() throws {
    // Keras ≤ 2.2 numbering, as study note 004 prints it; the ReLU after a conv or dense is its activation.
    let legacy = try explanation(
      try Zoo.build("alexnet-plain", classes: 10), language: .en, kerasNaming: .legacy)
    XCTAssertEqual(
      legacy.entries.prefix(6).map(\.path),
      ["conv2d_1", "conv2d_1", "max_pooling2d_1", "conv2d_2", "conv2d_2", "max_pooling2d_2"])
    XCTAssertEqual(
      legacy.entries[1].lines,
      [
        "Keras folds it into conv2d_1 as activation='relu': no row of its own",
        "no parameters: max(0, x) elementwise, shape unchanged (96 × 55 × 55)",
      ])
    XCTAssertEqual(legacy.entries.last?.path, "dense_3")
    XCTAssertTrue(legacy.text.contains("\nconv2d_1: Conv2d(3, 96, kernel_size=(11, 11), stride=(4, 4))\n"))
    XCTAssertFalse(legacy.text.contains("features.0"))
    XCTAssertEqual(legacy.concentration[3], "  biggest layer: dense_1 (Dense) with 37,752,832 (64.7% of all)")
    let ko = try explanation(try Zoo.build("alexnet-plain", classes: 10), language: .ko, kerasNaming: .legacy)
    XCTAssertEqual(ko.entries[1].lines.first, "Keras에서는 conv2d_1의 activation='relu'로 합쳐져 별도의 행이 없다")

    // Today's numbering on note 000's model: every Keras row is explained, BatchNorm as Keras counts it.
    let model = try Zoo.build("alexnet-bn")
    let trace = try ModelTrace(model: model, inputShape: [1, 3, 227, 227])
    let report = KerasReport(trace: trace, naming: .modern)
    let modern = LayerExplanation(trace: trace, language: .en, kerasNaming: .modern)
    XCTAssertEqual(
      modern.entries.map(\.path).filter { !$0.hasPrefix("conv2d") && !$0.hasPrefix("dense") },
      [
        "max_pooling2d", "batch_normalization", "max_pooling2d_1", "batch_normalization_1", "max_pooling2d_2",
        "flatten", "dropout", "dropout_1",
      ])
    var labels: [String] = []
    for path in modern.entries.map(\.path) where labels.last != path { labels.append(path) }
    XCTAssertEqual(labels, report.rows.map(\.name))
    XCTAssertEqual(
      lines(modern, "batch_normalization_1").last,
      "Keras counts 4 per channel: 4·C = 4·256 = 1,024, its Param #; γ and β train, moving_mean and "
        + "moving_variance (2·C = 512) are non-trainable")
    XCTAssertEqual(report.totalParameters, 62_379_752)
    XCTAssertEqual(modern.concentration[0], "Where the parameters are (62,379,752 in all):")
    XCTAssertEqual(modern.concentration[3], "  batch norm:      1,408 (0.0%)")
    let koBN = try explanation(model, language: .ko, kerasNaming: .modern)
    XCTAssertEqual(
      lines(koBN, "batch_normalization").last,
      "Keras는 채널마다 4개씩 센다: 4·C = 4·96 = 384 (표의 Param #); γ, β는 학습 대상이고 "
        + "moving_mean, moving_variance(2·C = 192)는 학습하지 않는(non-trainable) 값이다")

    // A flatten done in forward() is Keras' flatten row.
    let torchvision = try explanation(
      AlexNet(), input: [1, 3, 224, 224], language: .en, kerasNaming: .modern)
    XCTAssertEqual(
      lines(torchvision, "dropout").first, "input flattened in forward() (Keras row flatten): 256·6·6 = 9,216"
    )
  }
}

extension CLITests {
  func testSummaryExplainInKorean() throws {
    let ko = try run(["summary", "alexnet-paper", "--explain", "--lang", "ko"])
    XCTAssertEqual(ko.status, 0, ko.stderr)
    XCTAssertTrue(ko.stdout.contains("Total params: 60,965,224\n"), ko.stdout)
    XCTAssertTrue(
      ko.stdout.contains(
        "\nfeatures.0: Conv2d(3, 96, kernel_size=(11, 11), stride=(4, 4))\n"
          + "  출력 크기 (높이, 너비): (227 − 11 + 2·0)/4 + 1 = 55\n  출력: 96 × 55 × 55\n"
          + "  파라미터: (11·11·3 + 1)·96 = 34,944\n"),
      ko.stdout)
    XCTAssertTrue(ko.stdout.contains("\n  PyTorch의 nn.LocalResponseNorm은 내부에서 α를 n = 5로 나눈다: "), ko.stdout)
    let en = try run(["summary", "alexnet-paper", "--explain"])
    let explicitEnglish = try run(["summary", "alexnet-paper", "--explain", "--lang", "en"])
    XCTAssertEqual(en.stdout, explicitEnglish.stdout)
    XCTAssertTrue(en.stdout.contains("\n  parameters: (11·11·3 + 1)·96 = 34,944\n"), en.stdout)
    // The table above the explanation does not change with the language.
    let table = try run(["summary", "alexnet-paper"])
    XCTAssertTrue(ko.stdout.hasPrefix(table.stdout))

    let keras = try run([
      "summary", "alexnet-plain", "--format", "keras", "--keras-layout", "legacy", "--explain", "--lang",
      "ko",
    ])
    XCTAssertEqual(keras.status, 0, keras.stderr)
    XCTAssertTrue(
      keras.stdout.contains(
        "\nconv2d_1: ReLU()\n  Keras에서는 conv2d_1의 activation='relu'로 합쳐져 별도의 행이 없다\n"),
      keras.stdout)

    let wrong = try run(["summary", "alexnet", "--explain", "--lang", "jp"])
    XCTAssertNotEqual(wrong.status, 0)
    XCTAssertTrue(wrong.stderr.contains("unknown --lang 'jp'; choose one of en, ko"), wrong.stderr)
    XCTAssertEqual(wrong.stdout, "")
  }
}
